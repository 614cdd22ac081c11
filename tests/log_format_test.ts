/**
 * `--log-format json`: main.ts writes one JSON line per connection open and
 * close and per error on stdout (the banner and the shutdown too), for log
 * shippers. Spawns main.ts on port 0 and reads its stdout.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import type { EventLine } from "../lib/capture/event_log.ts";
import { encoder, HOST, readExactly, writeAll } from "./_helpers.ts";
import { startMain } from "./_main_process.ts";

Deno.test("main.ts --log-format json writes a JSON line per open, close and error", async () => {
  await using main = startMain(["--log-format", "json"]);
  const start = JSON.parse((await main.line(20_000))!);
  strictEqual(start.event, "start");
  match(start.dashboard, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  const [host, port] = start.endpoints.echo.split(":");
  strictEqual(host, HOST);
  const next = async (): Promise<EventLine> => JSON.parse((await main.line())!);

  const conn = await Deno.connect({ hostname: HOST, port: Number(port) });
  const me = (conn.localAddr as Deno.NetAddr).port;
  await writeAll(conn, encoder.encode("log me"));
  await readExactly(conn, 6);
  const open = await next();
  deepStrictEqual(
    [open.event, open.endpoint, open.transport, open.role, open.remote?.port],
    ["open", "echo", "tcp", "server", me],
  );
  ok(!Number.isNaN(Date.parse(open.ts)));
  conn.close();
  const close = await next();
  deepStrictEqual(
    [close.event, close.conn, close.reason, close.reset, close.bytesIn, close.bytesOut],
    ["close", open.conn, "closed by peer", false, 6, 6],
  );
  ok(typeof close.durationMs === "number" && close.durationMs >= 0);

  // A malformed app frame: a protocol error, then the server closes.
  const app = await Deno.connect({
    hostname: HOST,
    port: Number(start.endpoints.app.split(":")[1]),
  });
  await writeAll(app, Uint8Array.of(0, 3, ...encoder.encode("{x}")));
  const lines = [await next(), await next(), await next()];
  app.close();
  deepStrictEqual(lines.map((l) => l.event), ["open", "error", "close"]);
  deepStrictEqual([lines[1].kind, lines[1].conn], ["protocol", lines[0].conn]);
  match(lines[2].reason!, /^protocol error/);

  strictEqual(await main.stop(), 0);
  const stop = JSON.parse((await main.line())!);
  deepStrictEqual([stop.event, stop.signal], ["stop", "SIGTERM"]);
});

Deno.test("main.ts rejects a bad --log-format and --capture-dir without a capture", async () => {
  for (
    const args of [["--log-format", "xml"], ["--capture-bytes", "0", "--capture-dir", "/tmp/x"]]
  ) {
    await using main = startMain(args);
    strictEqual(await main.exit(), 2);
    match(await main.stderr(), /^sockscope: Invalid --(log-format|capture-dir)/);
  }
});
