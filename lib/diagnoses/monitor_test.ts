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

Deno.test("DiagnosisMonitor stretches its interval at most twofold after one slow tick", async () => {
  // One tick of 150 ms, then fast ones: within the 5% budget the next wait would be 3 s.
  const { service, asked } = slowService([150, 0]);
  const monitor = new DiagnosisMonitor(service, { intervalMs: 100 });
  monitor.start();
  try {
    await waitFor("the slow tick", () => asked.length >= 1 && monitor.lastTookMs > 0, {
      timeoutMs: 10_000,
    });
    ok(monitor.lastTookMs / DIAGNOSIS_BUDGET > 2000, `${monitor.lastTookMs} ms`);
    strictEqual(monitor.intervalMs, 200);
    // The fast ticks that follow bring it back to the base interval.
    await waitFor("a fast tick", () => asked.length >= 3 && monitor.intervalMs === 100, {
      timeoutMs: 10_000,
    });
  } finally {
    monitor.stop();
  }
});
