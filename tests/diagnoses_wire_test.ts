/**
 * The diagnoses with the wire view on: the evidence the rules take from the captured segments
 * (the peer's zero window, the RST, Nagle's held segments) carries real figures with `source: "wire"`, not "not
 * available"; with the wire view off they still say which evidence they lack.
 */
import { ok, strictEqual } from "node:assert/strict";
import type { Diagnosis, DiagnosisKind, Evidence } from "../lib/diagnoses/types.ts";
import type { ScenarioRun } from "../lib/diagnoses/scenarios.ts";
import { startService, type TestService, waitFor } from "./_helpers.ts";

async function reproduce(svc: TestService, kind: DiagnosisKind): Promise<void> {
  const res = await svc.api<ScenarioRun>("/api/diagnoses/reproduce", {
    method: "POST",
    body: JSON.stringify({ kind }),
  });
  strictEqual(res.status, 202, JSON.stringify(res.body));
}

/** The first diagnosis of `kind` (active or held) whose evidence satisfies `accept`. */
async function withEvidence(
  svc: TestService,
  kind: DiagnosisKind,
  accept: (wire: Evidence[]) => boolean,
): Promise<Diagnosis> {
  let last: Diagnosis | undefined;
  return await waitFor(`a "${kind}" diagnosis with wire evidence`, async () => {
    const res = await svc.api<{ diagnoses: Diagnosis[] }>("/api/diagnoses?active=1");
    last = res.body.diagnoses.find((d) => d.kind === kind) ?? last;
    return res.body.diagnoses.find((d) =>
      d.kind === kind && accept(d.evidence.filter((e) => e.source === "wire"))
    );
  }, { timeoutMs: 10_000, intervalMs: 100 }).catch((error) => {
    throw new Error(`${error.message}; last seen: ${JSON.stringify(last?.evidence)}`);
  });
}

Deno.test("diagnoses with the wire: peer-not-reading shows the peer's zero window", async () => {
  await using svc = startService({ wire: true, scenarios: { holdMs: 6000 } });
  if (!svc.service.wire.available) {
    throw new Error(`the wire view is off here: ${svc.service.wire.reason}`);
  }
  await reproduce(svc, "peer-not-reading");
  const d = await withEvidence(
    svc,
    "peer-not-reading",
    (wire) => wire.some((e) => /zero-window/.test(e.what) && Number(e.value) > 0),
  );
  ok(!d.evidence.some((e) => String(e.value).startsWith("not available")), "nothing lacking");
  await svc.service.scenarios.close();
});

Deno.test("diagnoses with the wire: nagle-delayed-ack shows the small segments that waited", async () => {
  await using svc = startService({ wire: true, scenarios: { holdMs: 6000 } });
  await reproduce(svc, "nagle-delayed-ack");
  // Each request's second write waits ~40 ms for the delayed ACK of the first: seen on the wire.
  const d = await withEvidence(
    svc,
    "nagle-delayed-ack",
    (wire) => wire.some((e) => /held until our ACK/.test(e.what) && /^[1-9]/.test(String(e.value))),
  );
  const held = d.evidence.find((e) => /held until our ACK/.test(e.what))!;
  const gap = Number(/each (\d+) ms/.exec(String(held.value))?.[1]);
  ok(gap >= 30 && gap <= 250, JSON.stringify(held));
  await svc.service.scenarios.close();
});

Deno.test("diagnoses with the wire: reset-with-unread-data shows the RST", async () => {
  await using svc = startService({ wire: true, scenarios: { holdMs: 2000 } });
  await reproduce(svc, "reset-with-unread-data");
  const d = await withEvidence(
    svc,
    "reset-with-unread-data",
    (wire) => wire.some((e) => /RST seen/.test(e.what)),
  );
  const bytes = d.evidence.find((e) => e.what === "data bytes before the RST");
  ok(Number(bytes?.value) > 0, JSON.stringify(d.evidence));
  await svc.service.scenarios.close();
});

Deno.test("diagnoses with the wire: seed 004's send-then-close client is a reset the wire saw", async () => {
  await using svc = startService({ wire: true });
  // The seed's client: send, close at once. The echo meets a closed socket and its kernel
  // answers RST; the app itself only reads end of stream, so only the wire can tell.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.port("echo") });
  await conn.write(new TextEncoder().encode("Hello"));
  conn.close();
  const d = await withEvidence(
    svc,
    "reset-with-unread-data",
    (wire) => wire.some((e) => /RST seen/.test(e.what)),
  );
  ok(d.evidence.some((e) => e.what === "close reason" && /RST on the wire/.test(String(e.value))));
});

Deno.test("diagnoses with the wire off: the evidence says what it lacks", async () => {
  await using svc = startService({ scenarios: { holdMs: 4000 } });
  await reproduce(svc, "peer-not-reading");
  const d = await withEvidence(
    svc,
    "peer-not-reading",
    (wire) => wire.some((e) => /not available \(the peer's zero window/.test(String(e.value))),
  );
  ok(d.evidence.length > 0);
  await svc.service.scenarios.close();
});
