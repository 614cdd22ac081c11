import { ok, strictEqual } from "node:assert/strict";
import { waitFor } from "../../tests/_helpers.ts";
import type { SocketRecord } from "../net/types.ts";
import { type DiagnosedService, DIAGNOSIS_BUDGET, DiagnosisMonitor } from "./monitor.ts";

/** A service whose sockets() takes `delays[i]` ms on its i-th call (the last one after). */
function slowService(delays: number[]) {
  const asked: { kernelMaxAgeMs?: number; owners?: boolean }[] = [];
  const service: DiagnosedService = {
    async sockets(options) {
      const ms = delays[Math.min(asked.length, delays.length - 1)];
      asked.push(options);
      await new Promise((resolve) => setTimeout(resolve, ms));
      return [] as SocketRecord[];
    },
    registry: { closed: () => [] },
    kernelStatus: { available: true },
  };
  return { service, asked };
}

Deno.test("DiagnosisMonitor asks for the rows without their owners", async () => {
  const { service, asked } = slowService([0]);
  const monitor = new DiagnosisMonitor(service, { intervalMs: 0 });
  await monitor.tick();
  strictEqual(asked[0].owners, false);
});

Deno.test("DiagnosisMonitor: one slow tick leaves the interval; slow ticks grow it twofold a tick", async () => {
  // Fast, one of 300 ms (within the 5% budget that alone would ask for 6 s), fast again, then
  // slow for good. A base of 400 ms: a "fast" tick stays under its 20 ms share even when a busy
  // core delays its timer (at 100 ms, 5.1 ms of timer latency made it 102).
  const { service, asked } = slowService([0, 0, 0, 300, 0, 0, 0, 300]);
  const monitor = new DiagnosisMonitor(service, { intervalMs: 400 });
  const seen: number[] = [];
  monitor.start();
  try {
    await waitFor("the ticks", () => {
      if (seen.at(-1) !== monitor.intervalMs) seen.push(monitor.intervalMs);
      return asked.length >= 12;
    }, { timeoutMs: 40_000, intervalMs: 5 });
    ok(monitor.lastTookMs / DIAGNOSIS_BUDGET > 2000, `${monitor.lastTookMs} ms`);
    // 400 until three slow ticks in a row; then 800, 1600: never a jump to 6 s.
    strictEqual(seen[0], 400);
    for (let i = 1; i < seen.length; i++) strictEqual(seen[i], 2 * seen[i - 1], seen.join(" "));
    ok(seen.length >= 2, seen.join(" "));
  } finally {
    monitor.stop();
  }
});
