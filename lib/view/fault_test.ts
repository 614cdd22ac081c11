import assert from "node:assert/strict";
import { describeFault, FAULT_MODES, parseFault } from "./fault.ts";

Deno.test("parseFault() accepts every mode with its parameters", () => {
  assert.deepEqual(parseFault({ mode: "none" }), { mode: "none" });
  assert.deepEqual(parseFault({ mode: "delay", ms: 200 }), { mode: "delay", ms: 200 });
  assert.deepEqual(parseFault({ mode: "drip", bytes: 1, interval: 100 }), {
    mode: "drip",
    bytes: 1,
    interval: 100,
  });
  assert.deepEqual(parseFault({ mode: "half-close", bytes: 0 }), { mode: "half-close", bytes: 0 });
  for (const mode of ["close-unread", "stall", "pause-accept"]) {
    assert.deepEqual(parseFault({ mode }), { mode });
  }
  assert.deepEqual(FAULT_MODES, [
    "none",
    "delay",
    "drip",
    "half-close",
    "close-unread",
    "stall",
    "pause-accept",
    "bandwidth",
    "slice",
    "reset",
  ]);
  assert.deepEqual(parseFault({ mode: "delay", ms: 200, jitter: 50, probability: 0.5 }), {
    mode: "delay",
    ms: 200,
    jitter: 50,
    probability: 0.5,
  });
  assert.deepEqual(
    parseFault({ mode: "slice", minBytes: 1, maxBytes: 8, direction: "both" }),
    { mode: "slice", minBytes: 1, maxBytes: 8, direction: "both" },
  );
  assert.deepEqual(parseFault({ mode: "reset", direction: "in" }), {
    mode: "reset",
    direction: "in",
  });
  assert.deepEqual(parseFault({ mode: "reorder", window: 4 }, "udp"), {
    mode: "reorder",
    window: 4,
  });
  assert.deepEqual(parseFault({ mode: "delay", ms: 5 }, "udp"), { mode: "delay", ms: 5 });
});

Deno.test("parseFault() names what is wrong, with the value", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      {},
      'Cannot parse fault: "mode" must be one of none, delay, drip, half-close, close-unread, ' +
      "stall, pause-accept, bandwidth, slice, reset: missing",
    ],
    [{ mode: "slow" }, 'stall, pause-accept, bandwidth, slice, reset: "slow"'],
    [{ mode: "delay" }, 'Cannot parse fault: mode "delay" needs "ms", an integer in 0..60000'],
    [
      { mode: "delay", ms: 60001 },
      'Cannot parse fault: "ms" must be an integer in 0..60000: 60001',
    ],
    [{ mode: "delay", ms: 1.5 }, '"ms" must be an integer in 0..60000: 1.5'],
    [{ mode: "delay", ms: "200" }, '"ms" must be an integer in 0..60000: "200"'],
    [{ mode: "drip", bytes: 0, interval: 10 }, '"bytes" must be an integer in 1..65536: 0'],
    [{ mode: "drip", bytes: 1, interval: 10001 }, '"interval" must be an integer in 1..10000'],
    [{ mode: "drip", bytes: 8 }, 'mode "drip" needs "interval", an integer in 1..10000'],
    [{ mode: "half-close", bytes: 65537 }, '"bytes" must be an integer in 0..65536: 65537'],
    [
      { mode: "stall", ms: 5 },
      'Cannot parse fault: "ms" does not apply to mode "stall" (it takes probability, direction)',
    ],
    [
      { mode: "delay", ms: 5, bytes: 1 },
      '"bytes" does not apply to mode "delay" (it takes ms, jitter, probability, direction)',
    ],
    [{ mode: "none", probability: 1 }, '"probability" does not apply to mode "none"'],
    [{ mode: "reset", probability: 1.5 }, '"probability" must be a number in 0..1: 1.5'],
    [{ mode: "reset", direction: "up" }, '"direction" must be one of in, out, both: "up"'],
    [{ mode: "bandwidth", bytesPerSecond: 0 }, '"bytesPerSecond" must be an integer in 1..'],
    [{ mode: "slice", minBytes: 9, maxBytes: 8 }, '"minBytes" must not exceed "maxBytes": 9 > 8'],
    [
      { mode: "stall", udp: true },
      "one of none, loss, duplicate, reorder, delay on a UDP endpoint",
    ],
    [{ mode: "loss", percent: 101, udp: true }, '"percent" must be an integer in 0..100: 101'],
    [{ mode: "reorder", window: 1, udp: true }, '"window" must be an integer in 2..1024: 1'],
    [
      { mode: "delay", ms: 5, direction: "in", udp: true },
      '"direction" does not apply to mode "delay"',
    ],
  ];
  for (const [body, message] of cases) {
    const udp = body.udp === true;
    delete body.udp;
    assert.throws(() => parseFault(body, udp ? "udp" : "tcp"), (err: Error) => {
      assert.ok(err instanceof TypeError || err instanceof RangeError, String(err));
      assert.ok(err.message.includes(message), `${JSON.stringify(body)}: ${err.message}`);
      return true;
    });
  }
});

Deno.test("describeFault() says what a fault does in a few words", () => {
  assert.equal(describeFault({ mode: "drip", bytes: 1, interval: 10 }), "drip 1 B every 10 ms");
  assert.equal(describeFault({ mode: "none" }), "no fault");
  assert.equal(
    describeFault({ mode: "delay", ms: 100, jitter: 20, direction: "both", probability: 0.5 }),
    "delay 100 ± 20 ms before each write (reads and writes, 50% of connections)",
  );
  assert.equal(
    describeFault({ mode: "reset", direction: "in" }),
    "reset (RST without FIN) at the next read",
  );
  assert.equal(describeFault({ mode: "reorder", window: 4 }), "reorder replies in windows of 4");
});
