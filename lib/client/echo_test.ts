import assert from "node:assert/strict";
import { echo } from "./echo.ts";
import {
  closedPort,
  startEchoServer,
  startPythonEchoServer,
  startSilentServer,
} from "../../tests/_test_servers.ts";
import type { StreamConn } from "./types.ts";

Deno.test("echo() sends a message and reads the same bytes back", async () => {
  await using server = startEchoServer();
  const result = await echo("Hello, world", { port: server.port });
  assert.equal(result.ok, true);
  assert.equal(result.text, "Hello, world");
  assert.equal(result.sent, 12);
  assert.equal(result.received, 12);
  assert.deepEqual(result.address, { hostname: "127.0.0.1", port: server.port });
  assert.ok(result.rttMs >= 0 && result.connectMs >= 0);
});

Deno.test("echo() works against the tutorial's python echo server", async () => {
  await using server = await startPythonEchoServer();
  // Longer than the tutorial's recv(1024), so the echo arrives in several reads.
  const message = "🐍".repeat(1000);
  const result = await echo(message, { port: server.port });
  assert.equal(result.ok, true);
  assert.equal(result.text, message);
});

Deno.test("echo() reports a mismatched echo as a failure", async () => {
  await using server = startEchoServer({ alter: (chunk) => chunk.map((b) => b ^ 0x20) });
  const result = await echo("hello", { port: server.port });
  assert.equal(result.ok, false);
  assert.equal(result.text, "HELLO");
  assert.match(result.error!, /differs from what was sent: "HELLO"/);
});

Deno.test("echo() rejects with TimedOut when nothing comes back", async () => {
  await using server = startSilentServer();
  await assert.rejects(
    echo("anyone?", { port: server.port, timeoutMs: 100 }),
    (err: Error) => err instanceof Deno.errors.TimedOut && /within 100 ms/.test(err.message),
  );
});

Deno.test("echo() rejects with ConnectionRefused naming the address", async () => {
  const port = closedPort();
  await assert.rejects(
    echo("x", { port }),
    (err: Error) =>
      err instanceof Deno.errors.ConnectionRefused &&
      err.message.includes(`"127.0.0.1:${port}"`),
  );
});

Deno.test("echo() stops with the signal's reason when aborted", async () => {
  await using server = startSilentServer();
  const controller = new AbortController();
  const pending = echo("x", { port: server.port, signal: controller.signal });
  setTimeout(() => controller.abort(new Error("stop")), 20);
  await assert.rejects(pending, { message: "stop" });
});

Deno.test("echo() runs over an injected dial", async () => {
  await using server = startEchoServer();
  const dialed: number[] = [];
  const result = await echo("via dial", {
    port: server.port,
    dial: async (address): Promise<StreamConn> => {
      dialed.push(address.port);
      return await Deno.connect(address);
    },
  });
  assert.equal(result.text, "via dial");
  assert.deepEqual(dialed, [server.port]);
});

Deno.test("echo() checks its options before connecting", async () => {
  await assert.rejects(echo("x", { port: 70000 }), { name: "RangeError", message: /"70000"/ });
  await assert.rejects(echo("", { port: 1 }), { name: "RangeError", message: /empty/ });
});
