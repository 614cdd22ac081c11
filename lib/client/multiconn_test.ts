import assert from "node:assert/strict";
import { multiconn, type MulticonnProgress } from "./multiconn.ts";
import {
  closedPort,
  startEchoServer,
  startPythonEchoServer,
  startSilentServer,
} from "../../tests/_test_servers.ts";

Deno.test("multiconn() sends the tutorial's two messages on each connection by default", async () => {
  await using server = startEchoServer();
  const result = await multiconn({ port: server.port });
  assert.equal(result.ok, true);
  assert.equal(result.conns, 2);
  assert.equal(result.connected, 2);
  assert.equal(result.messages, 4);
  // "Message 1 from client." and "Message 2 from client." are 22 bytes each.
  assert.equal(result.bytes, 4 * 22);
  assert.equal(server.accepted, 2);
});

Deno.test("multiconn() verifies every byte and reports percentiles", async () => {
  await using server = startEchoServer();
  const result = await multiconn({ port: server.port, conns: 8, messages: 50, size: 3000 });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.messages, 400);
  assert.equal(result.bytes, 400 * 3000);
  assert.equal(result.mismatches, 0);
  const latency = result.latencyMs!;
  assert.equal(latency.count, 400);
  assert.ok(latency.min <= latency.p50 && latency.p50 <= latency.p90);
  assert.ok(latency.p90 <= latency.p99 && latency.p99 <= latency.max);
  assert.ok(result.messagesPerSecond > 0 && result.megabytesPerSecond > 0);
  assert.equal(result.connectMs!.count, 8);
});

Deno.test("multiconn() works against the tutorial's python echo server", async () => {
  await using server = await startPythonEchoServer();
  // 5000-byte messages come back in several 1024-byte recv()s.
  const result = await multiconn({ port: server.port, conns: 3, messages: 5, size: 5000 });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.messages, 15);
});

Deno.test("multiconn() fails on an echo that differs from what was sent", async () => {
  let chunks = 0;
  await using server = startEchoServer({
    // Corrupt the third chunk the server sees.
    alter: (chunk) => ++chunks === 3 ? chunk.map((b) => b ^ 1) : chunk,
  });
  const result = await multiconn({ port: server.port, conns: 1, messages: 5 });
  assert.equal(result.ok, false);
  assert.equal(result.mismatches, 1);
  assert.equal(result.messages, 2);
  assert.match(result.error!, /Connection 1: Echo of message 3 differs/);
});

Deno.test("multiconn() runs for a duration instead of a count", async () => {
  await using server = startEchoServer();
  const progress: MulticonnProgress[] = [];
  const result = await multiconn({
    port: server.port,
    conns: 2,
    size: 64,
    durationMs: 300,
    progressIntervalMs: 50,
    onProgress: (p) => progress.push(p),
  });
  assert.equal(result.ok, true, result.error);
  assert.ok(result.messages > 2, `only ${result.messages} messages`);
  assert.ok(result.seconds >= 0.3 && result.seconds < 5, `${result.seconds} s`);
  assert.ok(progress.length >= 2);
  assert.equal(progress.at(-1)!.messages, result.messages);
});

Deno.test("multiconn() fails a connection whose echo never comes", async () => {
  await using server = startSilentServer();
  const result = await multiconn({ port: server.port, conns: 2, timeoutMs: 100 });
  assert.equal(result.ok, false);
  assert.equal(result.failedConns, 2);
  assert.match(result.error!, /no echo within 100 ms/);
});

Deno.test("multiconn() reports refused connections", async () => {
  const result = await multiconn({ port: closedPort(), conns: 3 });
  assert.equal(result.ok, false);
  assert.equal(result.connected, 0);
  assert.equal(result.failedConns, 3);
  assert.match(result.error!, /Connection refused/);
  assert.equal(result.latencyMs, null);
});

Deno.test("multiconn() stops with the signal's reason when aborted", async () => {
  await using server = startEchoServer();
  const controller = new AbortController();
  const pending = multiconn({
    port: server.port,
    durationMs: 60_000,
    signal: controller.signal,
    progressIntervalMs: 10,
    onProgress: (p) => {
      if (p.messages > 0) controller.abort(new Error("enough"));
    },
  });
  await assert.rejects(pending, { message: "enough" });
});

Deno.test("multiconn() checks its options before connecting", async () => {
  await assert.rejects(multiconn({ conns: 0 }), { name: "RangeError", message: /"0"/ });
  await assert.rejects(multiconn({ size: 1.5 }), { name: "TypeError", message: /"1.5"/ });
});
