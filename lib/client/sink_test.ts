import assert from "node:assert/strict";
import { sink, type SinkProgress } from "./sink.ts";
import { closedPort, startEchoServer, startSilentServer } from "../../tests/_test_servers.ts";

Deno.test("sink() stops when a peer that never reads stops accepting and reports the bytes", async () => {
  await using server = startSilentServer();
  const result = await sink({ port: server.port, stallMs: 200 });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.stalled, true);
  assert.ok(result.bytes > 0);
  assert.ok(result.writes > 0);
  assert.equal(result.heldSeconds, 0);
});

Deno.test("sink() holds the stalled connection open when asked", async () => {
  await using server = startSilentServer();
  const phases = new Set<SinkProgress["phase"]>();
  const result = await sink({
    port: server.port,
    stallMs: 100,
    holdMs: 150,
    progressIntervalMs: 20,
    onProgress: (p) => phases.add(p.phase),
  });
  assert.equal(result.stalled, true);
  assert.ok(result.heldSeconds >= 0.15, `${result.heldSeconds} s`);
  assert.deepEqual([...phases].sort(), ["filling", "holding"]);
});

Deno.test("sink() fails without a stall when the peer takes everything", async () => {
  await using server = startEchoServer({ alter: () => new Uint8Array(0) });
  const result = await sink({ port: server.port, maxBytes: 1_000_000, chunkSize: 10_000 });
  assert.equal(result.ok, false);
  assert.equal(result.stalled, false);
  assert.equal(result.bytes, 1_000_000);
  assert.match(result.error!, /never stalled: the peer took all 1000000 bytes/);
});

Deno.test("sink() rejects with ConnectionRefused on a closed port", async () => {
  await assert.rejects(
    sink({ port: closedPort() }),
    (err: Error) => err instanceof Deno.errors.ConnectionRefused,
  );
});

Deno.test("sink() stops with the signal's reason when aborted while holding", async () => {
  await using server = startSilentServer();
  const controller = new AbortController();
  const pending = sink({
    port: server.port,
    stallMs: 100,
    holdMs: 60_000,
    signal: controller.signal,
    progressIntervalMs: 10,
    onProgress: (p) => {
      if (p.phase === "holding") controller.abort(new Error("stop"));
    },
  });
  await assert.rejects(pending, { message: "stop" });
});
