import assert from "node:assert/strict";
import { encodeErrorFrame, encodeJsonMessage } from "../protocol/app_codec.ts";
import { app } from "./app.ts";
import { closedPort, startAppServer, startSilentServer } from "../../tests/_test_servers.ts";
import type { StreamConn } from "./types.ts";

Deno.test("app() searches and gets the tutorial's answer", async () => {
  await using server = startAppServer();
  const result = await app("search", "morpheus", { port: server.port });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.response!.contentType, "text/json");
  assert.equal(result.response!.result, "Follow the white rabbit. 🐰");
  assert.deepEqual(result.response!.json, { result: "Follow the white rabbit. 🐰" });
  assert.equal(result.requests, 1);
});

Deno.test("app() answers a search with no match as a success", async () => {
  await using server = startAppServer();
  const result = await app("search", "needle", { port: server.port });
  assert.equal(result.ok, true);
  assert.equal(result.response!.result, 'No match for "needle".');
});

Deno.test("app() sends other actions as binary and gets the first 10 bytes back", async () => {
  await using server = startAppServer();
  const result = await app("binary", "😃", { port: server.port });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.response!.contentType, "binary/custom-server-binary-type");
  assert.equal(result.response!.text, "First 10 bytes of request: binary😃");
  assert.equal(result.response!.json, null);
});

Deno.test("app() repeats requests on one connection and times each", async () => {
  await using server = startAppServer();
  const result = await app("search", "ring", { port: server.port, repeat: 20 });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.requests, 20);
  assert.equal(result.mismatches, 0);
  assert.equal(result.latencyMs!.count, 20);
  assert.equal(server.accepted, 1);
});

Deno.test("app() fails when the server answers with an error frame", async () => {
  await using server = serveOnce(
    encodeErrorFrame('Cannot parse header: "content-length" is not an integer'),
  );
  const result = await app("search", "x", { port: server.port });
  assert.equal(result.ok, false);
  assert.match(result.error!, /^Server answered with an error: "Cannot parse header/);
});

Deno.test("app() fails when responses to the same request differ", async () => {
  await using server = serveOnce(
    encodeJsonMessage({ result: "a" }),
    encodeJsonMessage({ result: "b" }),
  );
  const result = await app("search", "x", { port: server.port, repeat: 2 });
  assert.equal(result.ok, false);
  assert.equal(result.mismatches, 1);
  assert.match(result.error!, /1 of 2 responses differ/);
});

Deno.test("app() fails on a response it cannot decode", async () => {
  await using server = serveOnce(new Uint8Array([0, 0]));
  const result = await app("search", "x", { port: server.port });
  assert.equal(result.ok, false);
  assert.match(result.error!, /^Cannot decode response: .*header length is 0/);
});

Deno.test("app() fails when the server closes before answering", async () => {
  await using server = serveOnce();
  const result = await app("search", "x", { port: server.port });
  assert.equal(result.ok, false);
  assert.equal(result.error, "Connection closed before a response");
});

Deno.test("app() rejects with TimedOut when no response comes", async () => {
  await using server = startSilentServer();
  await assert.rejects(
    app("search", "x", { port: server.port, timeoutMs: 100 }),
    (err: Error) => err instanceof Deno.errors.TimedOut && /within 100 ms/.test(err.message),
  );
});

Deno.test("app() rejects with ConnectionRefused on a closed port", async () => {
  await assert.rejects(
    app("search", "x", { port: closedPort() }),
    (err: Error) => err instanceof Deno.errors.ConnectionRefused,
  );
});

Deno.test("app() runs over an injected dial", async () => {
  await using server = startAppServer();
  let reads = 0;
  const result = await app("search", "🐶", {
    port: server.port,
    dial: async (address): Promise<StreamConn> => {
      const conn = await Deno.connect(address);
      return {
        read: (p) => (reads++, conn.read(p)),
        write: (p) => conn.write(p),
        close: () => conn.close(),
      };
    },
  });
  assert.equal(result.response!.result, "🐾 Playing ball! 🏐");
  assert.ok(reads > 0);
});

/**
 * A server that, for one connection, reads the request, writes `frames` (one
 * per request read), then closes.
 */
function serveOnce(...frames: Uint8Array[]): AsyncDisposable & { port: number } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    try {
      const buf = new Uint8Array(4096);
      for (const frame of frames.length > 0 ? frames : [null]) {
        if (await conn.read(buf) === null) break;
        if (frame) await conn.write(frame);
      }
    } finally {
      conn.close();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await served;
    },
  };
}
