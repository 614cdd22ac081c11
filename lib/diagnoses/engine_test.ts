import { deepStrictEqual as assertEquals, ok as assert, strictEqual } from "node:assert/strict";
import type { KernelSocketInfo, SocketRecord } from "../net/types.ts";
import { socketRecord } from "../view/_socket_test_util.ts";
import { DiagnosisEngine } from "./engine.ts";
import { nextIntervalMs } from "./monitor.ts";
import { type DiagnosisSample, evaluate, RuleMemory } from "./rules.ts";
import type { NetCounters, WireCounts, WireEvidence } from "./types.ts";

function conn(
  id: string,
  over: Partial<SocketRecord> = {},
  info: KernelSocketInfo = {},
): SocketRecord {
  return socketRecord(id, {
    role: "server",
    app: { rxBuffered: 0, txBuffered: 0, paused: false },
    kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info: { bytesAcked: 0, ...info } },
    openedAt: 0,
    lastActivity: 0,
    ...over,
  });
}

const NET: NetCounters = { listenOverflows: 0, listenDrops: 0, delayedAcks: 0, udpRcvbufErrors: 0 };

function sample(
  now: number,
  sockets: SocketRecord[],
  over: Partial<DiagnosisSample> = {},
): DiagnosisSample {
  return {
    now,
    sockets,
    closed: [],
    netstat: NET,
    portRange: [32768, 60999],
    wire: null,
    kernel: true,
    ...over,
  };
}

Deno.test("peer-not-reading appears after the stall holds for appearMs and clears after clearMs", () => {
  const engine = new DiagnosisEngine({ appearMs: 1000, clearMs: 3000 });
  const stuck = () =>
    conn("c1", {
      kernel: {
        state: "ESTABLISHED",
        recvQ: 0,
        sendQ: 400000,
        info: { bytesAcked: 5, timer: "persist", sndWnd: 0 },
      },
    });
  assertEquals(engine.update(sample(0, [stuck()])), []); // first look: no previous figures
  assertEquals(engine.update(sample(1000, [stuck()])), []); // holds, but not for 1 s yet
  const changes = engine.update(sample(2000, [stuck()]));
  assertEquals(changes.map((c) => [c.change, c.diagnosis.kind]), [["appear", "peer-not-reading"]]);
  const d = changes[0].diagnosis;
  assertEquals(d.socket, "c1");
  assertEquals(d.since, 1000);
  assert(d.evidence.length > 0);
  assert(d.evidence.some((e) => e.source === "wire" && String(e.value).includes("not available")));
  assertEquals(engine.kindsBySocket().get("c1"), ["peer-not-reading"]);
  // The peer reads again: acked bytes move, the queue drains.
  const ok = (acked: number) =>
    conn("c1", {
      kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info: { bytesAcked: acked } },
    });
  assertEquals(engine.update(sample(3000, [ok(900000)])), []);
  assertEquals(engine.update(sample(4500, [ok(900001)])), []);
  const cleared = engine.update(sample(5000, [ok(900002)]));
  assertEquals(cleared.map((c) => c.change), ["clear"]);
  assertEquals(cleared[0].diagnosis.until, 5000);
  assertEquals(engine.active(), []);
  assertEquals(engine.all().length, 1);
  assertEquals(engine.totals["peer-not-reading"], 1);
});

Deno.test("a send queue that keeps draining is not peer-not-reading", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  for (let i = 0; i < 5; i++) {
    const r = conn("c", {
      kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 1 << 20, info: { bytesAcked: i * 100000 } },
    });
    assertEquals(engine.update(sample(i * 1000, [r])), []);
  }
});

Deno.test("service-not-reading: Recv-Q full and the app reads nothing; not when our writes are blocked", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const full = conn("s", {
    bytesIn: 10,
    kernel: { state: "ESTABLISHED", recvQ: 200000, sendQ: 0, info: { bytesAcked: 1 } },
  });
  engine.update(sample(0, [full]));
  const kinds = engine.update(sample(1000, [full])).map((c) => c.diagnosis.kind);
  assertEquals(kinds, ["service-not-reading"]);
  assertEquals(engine.active()[0].severity, "problem");
  // An echo blocked on a peer that does not read: peer-not-reading only.
  const other = new DiagnosisEngine({ appearMs: 0 });
  const blocked = conn("e", {
    bytesIn: 10,
    kernel: { state: "ESTABLISHED", recvQ: 200000, sendQ: 300000, info: { bytesAcked: 1 } },
  });
  other.update(sample(0, [blocked]));
  assertEquals(other.update(sample(1000, [blocked])).map((c) => c.diagnosis.kind), [
    "peer-not-reading",
  ]);
});

Deno.test("peer-vanished on backoff; retransmissions on a rising total_retrans", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const gone = conn("v", {
    kernel: {
      state: "ESTABLISHED",
      recvQ: 0,
      sendQ: 5000,
      info: { bytesAcked: 1, backoff: 4, timer: "on" },
    },
  });
  const lossy = (n: number) =>
    conn("l", {
      kernel: {
        state: "ESTABLISHED",
        recvQ: 0,
        sendQ: 0,
        info: { bytesAcked: n, totalRetrans: n },
      },
    });
  engine.update(sample(0, [gone, lossy(0)]));
  const kinds = engine.update(sample(1000, [gone, lossy(10)])).map((c) => c.diagnosis.kind).sort();
  assertEquals(kinds, ["peer-vanished", "retransmissions"]);
});

Deno.test("wire counts join the evidence when the wire view has them", () => {
  const counts: WireCounts = {
    zeroWindowIn: 7,
    zeroWindowOut: 0,
    retransmissions: 0,
    keepAlivesUnanswered: 0,
    rst: null,
    bytesBeforeRst: 0,
    nagleWaits: 0,
    nagleGapMs: 0,
  };
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const r = conn("w", {
    kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 1 << 20, info: { bytesAcked: 1 } },
  });
  const wire = { counts: (id: string) => id === "w" ? counts : null };
  engine.update(sample(0, [r], { wire }));
  const d = engine.update(sample(1000, [r], { wire }))[0].diagnosis;
  assert(d.evidence.some((e) => e.source === "wire" && e.value === 7));
});

Deno.test("accept-queue-overflow on a full accept queue or rising ListenOverflows; appears at once", () => {
  const engine = new DiagnosisEngine();
  const listener = (recvQ: number) =>
    conn("l", {
      kind: "listener",
      state: "LISTEN",
      remote: null,
      app: null,
      kernel: { state: "LISTEN", recvQ, sendQ: 8 },
    });
  assertEquals(engine.update(sample(0, [listener(3)])), []);
  const changes = engine.update(sample(1000, [listener(9)]));
  assertEquals(changes.map((c) => c.diagnosis.kind), ["accept-queue-overflow"]);
  const e2 = new DiagnosisEngine();
  e2.update(sample(0, [listener(2)]));
  const more = { ...NET, listenOverflows: 5, listenDrops: 5 };
  assertEquals(e2.update(sample(1000, [listener(2)], { netstat: more })).length, 1);
});

Deno.test("reset-with-unread-data from a close by reset, not from closes before the engine started", () => {
  const engine = new DiagnosisEngine({ clearMs: 1000, eventHoldMs: 2000 });
  const old = conn("old", { state: "CLOSED", closedAt: 50, closeReason: "error: reset" });
  assertEquals(engine.update(sample(100, [], { closed: [old] })), []);
  const fresh = conn("new", {
    state: "CLOSED",
    closedAt: 500,
    closeReason: "error: reset",
    bytesIn: 20,
  });
  const changes = engine.update(sample(1000, [], { closed: [old, fresh] }));
  assertEquals(changes.map((c) => [c.diagnosis.kind, c.diagnosis.socket]), [[
    "reset-with-unread-data",
    "new",
  ]]);
  assertEquals(engine.update(sample(2500, [], { closed: [old, fresh] })), []);
  // Held until 3000, then clears 1 s after it was last reported (2500).
  assertEquals(engine.update(sample(3200, [], { closed: [old, fresh] })), []);
  assertEquals(engine.update(sample(3600, [], { closed: [old, fresh] })).map((c) => c.change), [
    "clear",
  ]);
});

Deno.test("time-wait-pileup counts TIME_WAIT rows per endpoint against the port range", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const rows = Array.from(
    { length: 600 },
    (_, i) =>
      conn(`p${i}`, {
        kind: "peer",
        ours: false,
        state: "TIME_WAIT",
        app: null,
        kernel: { state: "TIME_WAIT", recvQ: 0, sendQ: 0 },
      }),
  );
  const d = engine.update(sample(0, rows, { portRange: [50000, 50999] }));
  assertEquals(d.map((c) => c.diagnosis.kind), ["time-wait-pileup"]);
  assertEquals(d[0].diagnosis.severity, "problem"); // 600 of 1000 ports
  assertEquals(new DiagnosisEngine({ appearMs: 0 }).update(sample(0, rows.slice(0, 400))), []);
});

Deno.test("udp-receive-drops on a rising SK_MEMINFO_DROPS; nagle on split requests", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const udp = (drops: number) =>
    conn("u", {
      transport: "udp",
      kind: "udp",
      state: "UNCONN",
      remote: null,
      kernel: { state: "UNCONN", recvQ: 0, sendQ: 0, info: { drops } },
    });
  const app = (splitWaits: number) =>
    conn("a", { endpoint: "app", app: { rxBuffered: 0, txBuffered: 0, splitWaits } });
  engine.update(sample(0, [udp(0), app(0)]));
  const kinds = engine.update(sample(1000, [udp(40), app(5)])).map((c) => c.diagnosis.kind).sort();
  assertEquals(kinds, ["nagle-delayed-ack", "udp-receive-drops"]);
});

Deno.test("healthy rows give no findings", () => {
  const engine = new DiagnosisEngine({ appearMs: 0 });
  for (let i = 0; i < 4; i++) {
    const rows = [
      conn("a", {
        bytesIn: i * 10,
        kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info: { bytesAcked: i * 10 } },
      }),
      conn("b", {
        bytesIn: i * 10,
        kernel: { state: "ESTABLISHED", recvQ: 100, sendQ: 100, info: { bytesAcked: i * 10 } },
      }),
    ];
    assertEquals(engine.update(sample(i * 1000, rows)), []);
  }
});

Deno.test("per-sample cost at 10,000 connections", () => {
  const rows = Array.from(
    { length: 10000 },
    (_, i) =>
      conn(`c${i}`, {
        bytesIn: 0,
        kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info: { bytesAcked: 0 } },
      }),
  );
  const engine = new DiagnosisEngine();
  engine.update(sample(0, rows)); // the first sample fills the memory
  const runs = 20;
  const t0 = performance.now();
  for (let i = 1; i <= runs; i++) {
    for (const r of rows) {
      r.bytesIn += 10;
      r.kernel!.info!.bytesAcked! += 10;
    }
    engine.update(sample(i * 1000, rows));
  }
  const ms = (performance.now() - t0) / runs;
  console.log(`diagnosis engine: ${ms.toFixed(2)} ms per sample at 10,000 connections`);
  assert(ms < 50, `${ms} ms per sample`);
});

Deno.test("a zero window probed by the persist timer is peer-not-reading, not peer-vanished", () => {
  // As measured on loopback: the persist timer backs off while the peer answers each probe.
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const r = conn("z", {
    kernel: {
      state: "ESTABLISHED",
      recvQ: 0,
      sendQ: 3822886,
      info: { timer: "persist", backoff: 3, probes: 0, sndWnd: 0, bytesAcked: 128588 },
    },
  });
  engine.update(sample(0, [r]));
  assertEquals(engine.update(sample(1000, [r])).map((c) => c.diagnosis.kind), [
    "peer-not-reading",
  ]);
});

Deno.test("a reset after startedAt but before the first sample is news", () => {
  const engine = new DiagnosisEngine({ startedAt: 10 });
  const c = conn("r", { state: "CLOSED", closedAt: 50, closeReason: "error: reset" });
  assertEquals(engine.update(sample(1000, [], { closed: [c] })).map((x) => x.diagnosis.kind), [
    "reset-with-unread-data",
  ]);
});

Deno.test("retransmissions ignores a few among many segments and D-SACKed ones", () => {
  // As measured on loopback under a throughput load: ~10 a second, all spurious or probes.
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const r = (n: number, retrans: number, dsack: number) =>
    conn("t", {
      kernel: {
        state: "ESTABLISHED",
        recvQ: 0,
        sendQ: 0,
        info: { bytesAcked: n, totalRetrans: retrans, dsackDups: dsack, dataSegsOut: n },
      },
    });
  engine.update(sample(0, [r(0, 0, 0)]));
  assertEquals(engine.update(sample(1000, [r(100000, 10, 0)])), []); // 0.01% of segments
  assertEquals(engine.update(sample(2000, [r(100100, 30, 20)])), []); // all D-SACKed
  assertEquals(engine.update(sample(3000, [r(100200, 50, 20)])).length, 1); // 20 of 100 lost
});

Deno.test("the rules read the wire's counts only for a socket with a finding", () => {
  const asked: string[] = [];
  const wire: WireEvidence = {
    counts(id) {
      asked.push(id);
      return null;
    },
  };
  const engine = new DiagnosisEngine({ appearMs: 0 });
  const rows = (i: number) => [
    ...Array.from({ length: 50 }, (_, n) =>
      conn(`h${n}`, {
        bytesIn: i * 10,
        kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info: { bytesAcked: i * 10 } },
      })),
    conn("stuck", {
      kernel: {
        state: "ESTABLISHED",
        recvQ: 0,
        sendQ: 400000,
        info: { bytesAcked: 5, timer: "persist", sndWnd: 0 },
      },
    }),
  ];
  for (let i = 0; i < 3; i++) engine.update(sample(i * 1000, rows(i), { wire }));
  // Each look decodes the connection's kept segments: 50 healthy sockets cost none.
  assertEquals(new Set(asked), new Set(["stuck"]));
});

Deno.test("the rules forget sockets that went, though the rows hold their peers' ends", () => {
  const memory = new RuleMemory();
  const ends = (n: number) =>
    Array.from({ length: n }, (_, i) => [
      conn(`s${i}`),
      conn(`k${i}`, { ours: false, kernelOnly: true }),
    ]).flat();
  evaluate(sample(0, ends(100)), memory);
  strictEqual(memory.sockets.size, 100);
  // 40 connections closed: 120 rows remain, more than the 100 sockets remembered.
  evaluate(sample(1000, ends(60)), memory);
  strictEqual(memory.sockets.size, 60);
});

Deno.test("nextIntervalMs(): one slow tick does not stretch the interval; steady cost does", () => {
  assertEquals(nextIntervalMs(1000, []), 1000);
  assertEquals(nextIntervalMs(1000, [15, 639, 16]), 1000);
  assertEquals(nextIntervalMs(1000, [639]), 1000, "the first ticks say little");
  assertEquals(nextIntervalMs(1000, [639, 700]), 1000);
  // 10,000 connections: every tick costs ~120 ms, so ticks run every 2.4 s (5% of a core).
  assertEquals(nextIntervalMs(1000, [120, 130, 125]), 2400);
  assertEquals(nextIntervalMs(1000, [120, 130, 20]), 1000);
  // Growing, at most twice the previous interval a tick.
  assertEquals(nextIntervalMs(1000, [332, 330, 340], 1000), 2000);
});
