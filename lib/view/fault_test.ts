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
  ]);
});

Deno.test("parseFault() names what is wrong, with the value", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      {},
      'Cannot parse fault: "mode" must be one of none, delay, drip, half-close, close-unread, ' +
      "stall, pause-accept: missing",
    ],
    [{ mode: "slow" }, 'close-unread, stall, pause-accept: "slow"'],
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
      'Cannot parse fault: "ms" does not apply to mode "stall" (it takes no parameters)',
    ],
    [{ mode: "delay", ms: 5, bytes: 1 }, '"bytes" does not apply to mode "delay" (it takes ms)'],
  ];
  for (const [body, message] of cases) {
    assert.throws(() => parseFault(body), (err: Error) => {
      assert.ok(err instanceof TypeError || err instanceof RangeError, String(err));
      assert.ok(err.message.includes(message), `${JSON.stringify(body)}: ${err.message}`);
      return true;
    });
  }
});

Deno.test("describeFault() says what a fault does in a few words", () => {
  assert.equal(describeFault({ mode: "drip", bytes: 1, interval: 10 }), "drip 1 B every 10 ms");
  assert.equal(describeFault({ mode: "none" }), "no fault");
});
