import assert from "node:assert/strict";
import { probe, type ProbeAttempt } from "./probe.ts";
import { closedPort, startEchoServer } from "../../tests/_test_servers.ts";
import type { StreamConn } from "./types.ts";

Deno.test("probe() times repeated connects to an open port", async () => {
  await using server = startEchoServer();
  const attempts: ProbeAttempt[] = [];
  const result = await probe({
    port: server.port,
    count: 3,
    intervalMs: 0,
    onAttempt: (a) => attempts.push(a),
  });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.connected, 3);
  assert.equal(result.lossPercent, 0);
  assert.deepEqual(attempts.map((a) => [a.seq, a.outcome]), [
    [1, "connected"],
    [2, "connected"],
    [3, "connected"],
  ]);
  const ms = result.connectMs!;
  assert.ok(ms.min <= ms.avg && ms.avg <= ms.max && ms.mdev >= 0);
  assert.equal(server.accepted, 3);
});

Deno.test("probe() counts refused connects on a closed port", async () => {
  const result = await probe({ port: closedPort(), count: 2, intervalMs: 0 });
  assert.equal(result.ok, false);
  assert.equal(result.refused, 2);
  assert.equal(result.connected, 0);
  assert.equal(result.lossPercent, 100);
  assert.equal(result.connectMs, null);
  assert.match(result.error!, /Connection refused/);
});

Deno.test("probe() counts a connect that takes too long as a timeout", async () => {
  // A dial that never completes, like a SYN to a host that drops it.
  const hang = (_: unknown, options?: { signal?: AbortSignal }) =>
    new Promise<StreamConn>((_, reject) => {
      options?.signal?.addEventListener("abort", () => reject(options.signal!.reason), {
        once: true,
      });
    });
  const result = await probe({ port: 9, count: 2, intervalMs: 0, timeoutMs: 30, dial: hang });
  assert.equal(result.timeouts, 2);
  assert.equal(result.ok, false);
  assert.match(result.probes[0].error!, /no answer within 30 ms/);
});

Deno.test("probe() spaces attempts by the interval", async () => {
  await using server = startEchoServer();
  const started = performance.now();
  await probe({ port: server.port, count: 3, intervalMs: 50 });
  assert.ok(performance.now() - started >= 100);
});
