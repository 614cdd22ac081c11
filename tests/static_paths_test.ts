/**
 * Paths the static file server cannot serve (NUL and other control
 * characters, encoded separators, dot segments, overlong names, directories)
 * answer 4xx JSON over real HTTP, sent as raw request lines, and never a 500
 * with a stack trace on stderr.
 */
import { match, ok, strictEqual } from "node:assert/strict";
import { connect, decoder, encoder, readToEnd, startService, writeAll } from "./_helpers.ts";

interface RawAnswer {
  status: number;
  type: string;
  body: string;
}

/** Sends `target` as the request line's target, byte for byte, and reads the whole answer. */
async function rawGet(port: number, target: string): Promise<RawAnswer> {
  const conn = await connect(port);
  try {
    await writeAll(
      conn,
      encoder.encode(
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const text = decoder.decode((await readToEnd(conn, { timeoutMs: 5000 })).bytes);
    const head = text.slice(0, text.indexOf("\r\n\r\n"));
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
    ok(status, `no status line in: ${head.slice(0, 200)}`);
    return {
      status: Number(status[1]),
      type: /^content-type: (.*)$/im.exec(head)?.[1] ?? "",
      body: text.slice(head.length + 4),
    };
  } finally {
    conn.close();
  }
}

Deno.test("the static server answers 4xx JSON for paths it cannot serve, with no stack trace", async () => {
  await using svc = startService({ kernel: undefined });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, svc.app.fetch);
  // Hono logs an uncaught error with console.error: collect what would reach stderr.
  const logged: unknown[][] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => void logged.push(args);
  try {
    const port = server.addr.port;
    const cases: [string, number, RegExp][] = [
      ["/%00", 400, /control character/],
      ["/styles.css%00.map", 400, /control character/],
      ["/%0d%0a", 400, /control character/],
      ["/build%2F_client.js", 400, /encoded separator/],
      ["/..%2f..%2fetc%2fpasswd", 400, /encoded separator/],
      ["/build%5c_client.js", 400, /encoded separator/],
      ["/%E0%A4%A", 400, /percent-encoded/],
      [`/${"a".repeat(300)}`, 400, /longer than 255/],
      [`/${"a/".repeat(600)}x`, 400, /longer than/],
      ["/build", 404, /No route/],
      ["/build/", 404, /No route/],
      ["/styles.css/inside", 404, /No route/],
      ["/.hidden", 404, /No route/],
      ["/%2e%2e/%2e%2e/etc/passwd", 404, /No route/],
    ];
    for (const [target, status, message] of cases) {
      const res = await rawGet(port, target);
      strictEqual(res.status, status, `${target.slice(0, 40)}: ${res.body.slice(0, 200)}`);
      match(res.type, /^application\/json/, target.slice(0, 40));
      match(JSON.parse(res.body).error, message, target.slice(0, 40));
    }
    // A real file still comes through.
    const css = await rawGet(port, "/styles.css");
    strictEqual(css.status, 200);
    match(css.type, /^text\/css/);
    strictEqual(logged.length, 0, `logged: ${String(logged[0]?.[0]).slice(0, 300)}`);
  } finally {
    console.error = consoleError;
    await server.shutdown();
  }
});
