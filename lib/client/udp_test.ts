import assert from "node:assert/strict";
import { udp, type UdpReply } from "./udp.ts";
import { startUdpEcho } from "../../tests/_test_servers.ts";

Deno.test("udp() sends a datagram and gets the echo back", async () => {
  await using server = startUdpEcho();
  const result = await udp("hello", { port: server.port });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.text, "hello");
  assert.equal(result.sent, 1);
  assert.equal(result.received, 1);
  assert.equal(result.lossPercent, 0);
  assert.equal(result.local.hostname, "127.0.0.1");
  assert.equal(result.rttMs!.count, 1);
});

Deno.test("udp() with a count works like ping", async () => {
  await using server = startUdpEcho();
  const replies: UdpReply[] = [];
  const result = await udp("🏓", {
    port: server.port,
    count: 5,
    intervalMs: 5,
    onReply: (r) => replies.push(r),
  });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.received, 5);
  assert.deepEqual(replies.map((r) => [r.seq, r.outcome, r.bytes]), [
    [1, "echo", 4],
    [2, "echo", 4],
    [3, "echo", 4],
    [4, "echo", 4],
    [5, "echo", 4],
  ]);
  assert.equal(result.rttMs!.count, 5);
});

Deno.test("udp() counts datagrams as lost when nothing answers", async () => {
  await using server = startUdpEcho({ silent: true });
  const result = await udp("anyone?", {
    port: server.port,
    count: 2,
    intervalMs: 0,
    timeoutMs: 50,
  });
  assert.equal(result.ok, false);
  assert.equal(result.lost, 2);
  assert.equal(result.lossPercent, 100);
  assert.equal(result.text, "");
  assert.equal(result.rttMs, null);
  assert.match(result.error!, /2 of 2 datagrams lost/);
});

Deno.test("udp() keeps going after a port-unreachable error", async () => {
  const closed = startUdpEcho({ silent: true });
  const port = closed.port;
  await closed[Symbol.asyncDispose]();
  const result = await udp("x", { port, count: 2, intervalMs: 0, timeoutMs: 50 });
  assert.equal(result.ok, false);
  assert.equal(result.lost, 2);
  assert.match(result.error!, /no echo within 50 ms/);
});

Deno.test("udp() stops with the signal's reason when aborted", async () => {
  await using server = startUdpEcho({ silent: true });
  const controller = new AbortController();
  const pending = udp("x", { port: server.port, timeoutMs: 5000, signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop")), 20);
  await assert.rejects(pending, { message: "stop" });
});

Deno.test("udp() checks its options and message", async () => {
  await assert.rejects(udp("x", { count: 0 }), { name: "RangeError", message: /"0"/ });
  await assert.rejects(udp(new Uint8Array(70_000)), { name: "RangeError", message: /"70000"/ });
});
