import assert from "node:assert/strict";
import {
  activeOf,
  applyDiagnosesEvent,
  bySocket,
  diagnosisHref,
  evidenceValue,
  forSocket,
  KIND_INFO,
  kindRows,
  KINDS,
  rowBadge,
  runProgress,
  worstSeverity,
} from "./diagnoses.ts";
import { DIAGNOSIS_KINDS } from "../diagnoses/types.ts";
import type { Diagnosis, ScenarioRun } from "./api_types.ts";

function diag(id: string, fields: Partial<Diagnosis> = {}): Diagnosis {
  return {
    id,
    kind: "peer-not-reading",
    severity: "warning",
    socket: "c1",
    endpoint: "chargen",
    summary: `summary of ${id}`,
    evidence: [{ what: "Send-Q", value: 4_194_304, source: "kernel" }],
    advice: "read",
    since: 1000,
    until: null,
    ...fields,
  };
}

function ids(list: readonly Diagnosis[]): string[] {
  return list.map((d) => d.id);
}

Deno.test("KIND_INFO explains every kind, in the engine's order", () => {
  assert.deepEqual(KINDS, DIAGNOSIS_KINDS);
  for (const k of DIAGNOSIS_KINDS) {
    assert.ok(KIND_INFO[k].title.length > 0 && KIND_INFO[k].explanation.length > 40, k);
  }
});

Deno.test("applyDiagnosesEvent() adds on appear, replaces on clear, keeps the order by since", () => {
  let list: readonly Diagnosis[] = [];
  list = applyDiagnosesEvent(list, { change: "appear", diagnoses: [diag("b", { since: 2000 })] });
  list = applyDiagnosesEvent(list, { change: "appear", diagnoses: [diag("a", { since: 1000 })] });
  assert.deepEqual(ids(list), ["a", "b"]);
  list = applyDiagnosesEvent(list, {
    change: "clear",
    diagnoses: [diag("a", { since: 1000, until: 5000 })],
  });
  assert.deepEqual(ids(list), ["a", "b"]);
  assert.equal(list[0].until, 5000);
  assert.deepEqual(ids(activeOf(list)), ["b"]);
  const same = applyDiagnosesEvent(list, { change: "appear", diagnoses: [] });
  assert.equal(same, list, "an empty change is no change");
});

Deno.test("applyDiagnosesEvent() snapshot drops the active ones it lacks, keeps the cleared", () => {
  const list = [diag("old", { until: 3000 }), diag("gone"), diag("still", { since: 4000 })];
  const next = applyDiagnosesEvent(list, {
    change: "snapshot",
    diagnoses: [diag("still", { since: 4000 }), diag("new", { since: 5000 })],
  });
  assert.deepEqual(ids(next), ["old", "still", "new"]);
});

Deno.test("applyDiagnosesEvent() keeps the newest keepCleared cleared ones and every active", () => {
  const list = [1, 2, 3, 4].map((i) => diag(`x${i}`, { since: i, until: 10 + i }));
  const next = applyDiagnosesEvent(list, { change: "appear", diagnoses: [diag("live")] }, 2);
  assert.deepEqual(ids(next), ["x3", "x4", "live"]);
});

Deno.test("activeOf() sorts the worst first, then the newest; bySocket() groups them", () => {
  const list = [
    diag("w1", { since: 1 }),
    diag("p", { severity: "problem", since: 0, socket: "c2", kind: "service-not-reading" }),
    diag("w2", { since: 2 }),
    diag("ep", { socket: null, kind: "time-wait-pileup" }),
    diag("done", { until: 9 }),
  ];
  assert.deepEqual(ids(activeOf(list)), ["p", "ep", "w2", "w1"]);
  const groups = bySocket(list);
  assert.deepEqual([...groups.keys()].sort(), ["c1", "c2"]);
  assert.deepEqual(ids(groups.get("c1")!), ["w2", "w1"]);
});

Deno.test("forSocket() lists a socket's active ones, then its cleared ones newest first", () => {
  const list = [
    diag("a", { until: 10 }),
    diag("b", { until: 20 }),
    diag("c"),
    diag("other", { socket: "c9" }),
  ];
  assert.deepEqual(ids(forSocket(list, "c1")), ["c", "b", "a"]);
  assert.deepEqual(ids(forSocket(list, "c1", 1)), ["c", "b"]);
  assert.deepEqual(forSocket(list, "nope"), []);
});

Deno.test("rowBadge() names the kinds, the worst severity, and each summary in the title", () => {
  assert.equal(rowBadge({}, undefined), null);
  const one = rowBadge({ diagnoses: ["peer-not-reading"] }, [diag("a")])!;
  assert.equal(one.label, "peer-not-reading");
  assert.equal(one.severity, "warning");
  assert.match(one.title, /peer-not-reading \(warning\): summary of a/);
  // Kinds only the row carries (before the stream told) take the kind's usual severity.
  const two = rowBadge({ diagnoses: ["peer-not-reading", "udp-receive-drops"] }, [diag("a")])!;
  assert.deepEqual(two.kinds, ["peer-not-reading", "udp-receive-drops"]);
  assert.equal(two.label, "peer-not-reading +1");
  assert.equal(two.severity, "problem");
  assert.match(two.title, /udp-receive-drops: UDP datagrams dropped/);
});

Deno.test("worstSeverity() and evidenceValue()", () => {
  assert.equal(worstSeverity([]), "info");
  assert.equal(worstSeverity(["warning", "info", "problem", "warning"]), "problem");
  assert.equal(evidenceValue(4194304), "4 194 304");
  assert.equal(evidenceValue(0.12345), "0.12");
  assert.equal(evidenceValue("wire view: not available"), "wire view: not available");
});

Deno.test("kindRows() gives each kind its active count, history and scenario", () => {
  const run: ScenarioRun = {
    kind: "peer-vanished",
    description: "d",
    state: "unavailable",
    startedAt: null,
    endedAt: null,
    note: "needs loss",
  };
  const list = [
    diag("a"),
    diag("b", { until: 50 }),
    diag("c", { until: 70 }),
    diag("u", { kind: "udp-receive-drops", severity: "problem", until: 80 }),
  ];
  const rows = kindRows(DIAGNOSIS_KINDS, list, [run], 1);
  assert.equal(rows.length, DIAGNOSIS_KINDS.length);
  const pnr = rows.find((r) => r.kind === "peer-not-reading")!;
  assert.deepEqual(ids(pnr.active), ["a"]);
  assert.deepEqual(ids(pnr.history), ["c"]);
  assert.equal(pnr.scenario, null);
  const pv = rows.find((r) => r.kind === "peer-vanished")!;
  assert.equal(pv.scenario?.note, "needs loss");
  assert.equal(pv.active.length, 0);
  assert.equal(rows.find((r) => r.kind === "udp-receive-drops")!.severity, "problem");
});

Deno.test("diagnosisHref() links the socket, else the endpoint's rows, escaped", () => {
  assert.equal(diagnosisHref({ socket: "c 1/x", endpoint: "echo" }), "/sockets/c%201%2Fx");
  assert.equal(diagnosisHref({ socket: null, endpoint: "echo" }), "/sockets?endpoint=echo");
  assert.equal(diagnosisHref({ socket: null, endpoint: null }), null);
});

Deno.test("runProgress() tells waiting, appeared and cleared apart", () => {
  const run: ScenarioRun = {
    kind: "peer-not-reading",
    description: "d",
    state: "running",
    startedAt: 10_000,
    endedAt: null,
    note: null,
  };
  assert.equal(runProgress({ ...run, startedAt: null }, []), null);
  assert.match(runProgress(run, [])!.text, /waiting/);
  // Another kind's and an old cleared one do not count.
  const old = diag("old", { since: 1000, until: 2000 });
  const other = diag("o", { kind: "udp-receive-drops", since: 11_000 });
  assert.match(runProgress(run, [old, other])!.text, /waiting/);
  const live = diag("a", { since: 12_500 });
  const p = runProgress(run, [old, live])!;
  assert.equal(p.appearedAfterMs, 2500);
  assert.equal(p.clearedAfterMs, null);
  assert.match(p.text, /appeared 2\.5 s after the start; active while the scenario runs/);
  const done = runProgress({ ...run, state: "done", endedAt: 18_000 }, [
    diag("a", { since: 12_500, until: 21_000 }),
  ])!;
  assert.equal(done.clearedAfterMs, 11_000);
  assert.match(done.text, /cleared 11\.0 s after it/);
  assert.match(
    runProgress({ ...run, state: "failed", note: "no endpoint" }, [])!.text,
    /failed: no endpoint/,
  );
});
