/**
 * serveHttp() over real sockets on 127.0.0.1: the header timeout closes a
 * slowloris client and an idle keep-alive connection but never a response in
 * flight, the cap answers 503 and lets connections in again once others
 * leave, abort stops everything, closeConnection() ends one connection.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  readToEnd,
  settlesWithin,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { closeConnection, type HttpServerOptions, serveHttp } from "../lib/web/http_server.ts";

const HEADER_TIMEOUT_MS = 1000;

/** A stream that sends a line every 100 ms until cancelled. */
function ticking(): Response {
  let timer: ReturnType<typeof setInterval> | undefined;
  return new Response(
    new ReadableStream<Uint8Array>({
      start(c) {
        timer = setInterval(() => c.enqueue(encoder.encode("tick\n")), 100);
      },
      cancel() {
        clearInterval(timer);
      },
    }),
  );
}

function start(options: HttpServerOptions = {}) {
  const ac = new AbortController();
  const server = serveHttp((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/stream") return ticking();
    if (path === "/close-me") {
      // A stream whose client stopped reading ends only this way (SSE drops it so).
      setTimeout(() => closeConnection(req), 300);
      return ticking();
    }
    return Response.json({ path });
  }, { headerTimeoutMs: HEADER_TIMEOUT_MS, signal: ac.signal, ...options });
  strictEqual(server.guarded, true, "Deno 2.9 has the per-connection server");
  return {
    server,
    port: server.addr.port,
    url: (path: string) => `http://127.0.0.1:${server.addr.port}${path}`,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await server.finished;
    },
  };
}

/** Reads from `conn` until `text` has arrived, within `timeoutMs`; returns all read. */
async function readUntil(conn: Deno.Conn, text: string, timeoutMs = 3000): Promise<string> {
  let got = "";
  const buf = new Uint8Array(4096);
  const deadline = performance.now() + timeoutMs;
  while (!got.includes(text)) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`No "${text}" within ${timeoutMs} ms: ${got}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), left));
    const n = await Promise.race([conn.read(buf), late]).finally(() => clearTimeout(timer));
    if (n === "late") continue;
    if (n === null) throw new Error(`End of stream before "${text}": ${got}`);
    got += decoder.decode(buf.subarray(0, n));
  }
  return got;
}

Deno.test("serveHttp() closes a client that trickles its request head after the header timeout; others are served", async () => {
  await using s = start();
  using slow = await connect(s.port);
  const started = performance.now();
  const end = readToEnd(slow, { timeoutMs: HEADER_TIMEOUT_MS + 4000 });
  const head = encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + "a".repeat(40));
  // One byte every 200 ms: never a whole head, and no byte resets the clock.
  for (let i = 0; i < head.length; i++) {
    const wrote = writeAll(slow, head.subarray(i, i + 1)).then(() => true, () => false);
    if (!(await wrote)) break;
    if (await settlesWithin(end, 200)) break;
    if (i === 2) {
      const res = await fetch(s.url("/meanwhile"));
      deepStrictEqual(await res.json(), { path: "/meanwhile" });
    }
  }
  const { end: how, bytes } = await end;
  const took = performance.now() - started;
  ok(how === "eof" || how === "reset", how);
  strictEqual(bytes.length, 0, "closed without an answer");
  ok(took >= HEADER_TIMEOUT_MS - 50, `closed after ${took.toFixed(0)} ms`);
  ok(took < HEADER_TIMEOUT_MS + 2500, `closed after ${took.toFixed(0)} ms`);
  strictEqual(s.server.stats.timeouts.header, 1);
});

Deno.test("serveHttp() closes an idle keep-alive connection but never a response in flight", async () => {
  await using s = start();
  using idle = await connect(s.port);
  using streaming = await connect(s.port);
  await writeAll(idle, encoder.encode("GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  await readUntil(idle, '{"path":"/a"}');
  await writeAll(streaming, encoder.encode("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  await readUntil(streaming, "tick");
  const idleSince = performance.now();
  const { end: how } = await readToEnd(idle, { timeoutMs: HEADER_TIMEOUT_MS + 4000 });
  ok(how === "eof" || how === "reset", how);
  const took = performance.now() - idleSince;
  ok(took < HEADER_TIMEOUT_MS + 2500, `idle connection closed after ${took.toFixed(0)} ms`);
  // The stream outlives two header timeouts and still ticks.
  const until = performance.now() + 2 * HEADER_TIMEOUT_MS;
  for (let i = 0; i < 100 && performance.now() < until; i++) await readUntil(streaming, "tick");
  await readUntil(streaming, "tick");
  deepStrictEqual(s.server.stats.timeouts, { header: 0, idle: 1 });
  strictEqual(s.server.stats.live, 1);
});

Deno.test("serveHttp() answers 503 JSON over maxConns when every connection has a request in flight, and serves again once they leave", async () => {
  await using s = start({ maxConns: 3, headerTimeoutMs: 30_000 });
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connect(s.port);
      held.push(conn);
      // A stream in flight, so the connection is busy; its first line means it is counted.
      await writeAll(conn, encoder.encode("GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
      await readUntil(conn, "tick");
    }
    const res = await fetch(s.url("/over"));
    strictEqual(res.status, 503);
    strictEqual(res.headers.get("content-type"), "application/json; charset=utf-8");
    match(
      (await res.json()).error,
      /^Too many connections: the dashboard serves at most 3 at once$/,
    );
    deepStrictEqual([s.server.stats.live, s.server.stats.refused, s.server.stats.evicted], [
      3,
      1,
      0,
    ]);
  } finally {
    held.forEach(closeQuietly);
  }
  const again = await waitFor("a connection fits again", async () => {
    const res = await fetch(s.url("/again"));
    return res.status === 200 ? await res.json() : (await res.body?.cancel(), false);
  }, { timeoutMs: 5000 });
  deepStrictEqual(again, { path: "/again" });
});

Deno.test("serveHttp() at maxConns closes the connection waiting longest without a request to make room", async () => {
  await using s = start({ maxConns: 3, headerTimeoutMs: 30_000 });
  // Three connections that ask for nothing (slowloris), in order.
  const waiting: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      waiting.push(await connect(s.port));
      await waitFor(`connection ${i} served`, () => s.server.stats.live === i + 1);
    }
    // A client with a request gets its answer: the connection that waited longest made room.
    const res = await fetch(s.url("/new"));
    deepStrictEqual(await res.json(), { path: "/new" });
    const { bytes } = await readToEnd(waiting[0]);
    strictEqual(bytes.length, 0);
    deepStrictEqual([s.server.stats.evicted, s.server.stats.refused], [1, 0]);
    // The others are still served.
    await writeAll(waiting[1], encoder.encode("GET /1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    await readUntil(waiting[1], '{"path":"/1"}');
  } finally {
    waiting.forEach(closeQuietly);
  }
});

Deno.test("serveHttp() stops at once on abort, closing idle connections and streams in flight", async () => {
  const ac = new AbortController();
  const server = serveHttp(() => ticking(), { signal: ac.signal });
  using idle = await connect(server.addr.port);
  using streaming = await connect(server.addr.port);
  await writeAll(streaming, encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  await readUntil(streaming, "tick");
  const started = performance.now();
  ac.abort();
  ok(await settlesWithin(server.finished, 1000), "finished within 1 s");
  ok(performance.now() - started < 1000);
  strictEqual((await readToEnd(idle)).bytes.length, 0);
  await readToEnd(streaming);
  strictEqual(server.stats.live, 0);
  let refused = false;
  try {
    closeQuietly(await connect(server.addr.port));
  } catch (err) {
    refused = err instanceof Deno.errors.ConnectionRefused;
  }
  ok(refused, "the listener is closed");
});

Deno.test("closeConnection() ends the connection a request came on, response in flight", async () => {
  await using s = start();
  using conn = await connect(s.port);
  await writeAll(conn, encoder.encode("GET /close-me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  const { bytes, end } = await readToEnd(conn);
  ok(end === "eof" || end === "reset", end);
  match(decoder.decode(bytes), /^HTTP\/1\.1 200 OK\r\n[^]*tick\n/);
  await waitFor("the connection is gone", () => s.server.stats.live === 0);
  strictEqual(closeConnection(new Request("http://x/")), false, "not one of ours");
});

Deno.test("serveHttp() falls back to Deno.serve, and says it is unguarded, when Deno lacks the per-connection server", async () => {
  const internal = Reflect.get(Deno, Reflect.get(Deno, "internal")) as object;
  const saved = Object.getOwnPropertyDescriptor(internal, "serveHttpOnConnection")!;
  // Writable: loading Deno's HTTP module (Deno.serve does, the first time) assigns it.
  Object.defineProperty(internal, "serveHttpOnConnection", {
    value: undefined,
    writable: true,
    configurable: true,
  });
  const ac = new AbortController();
  let server;
  try {
    server = serveHttp((req) => Response.json({ path: new URL(req.url).pathname }), {
      signal: ac.signal,
    });
  } finally {
    Object.defineProperty(internal, "serveHttpOnConnection", saved);
  }
  try {
    strictEqual(server.guarded, false);
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/still`);
    deepStrictEqual(await res.json(), { path: "/still" });
  } finally {
    ac.abort();
    await server.finished;
  }
});
