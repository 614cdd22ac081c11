/**
 * `--log-format json`: main.ts writes one JSON line per connection open and
 * close and per error on stdout (the banner and the shutdown too), for log
 * shippers; UDP flows get open and close lines like TCP connections. Spawns
 * main.ts on port 0 and reads its stdout; a flow's idle expiry, which has no
 * flag, is driven on the UDP endpoint itself.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { CaptureRing } from "../lib/capture/capture_ring.ts";
import { type EventLine, EventLog } from "../lib/telemetry/event_log.ts";
import { composeTaps, PacketLog } from "../lib/capture/packet_log.ts";
import { BufferPool } from "../lib/net/buffer_pool.ts";
import { UdpEndpoint } from "../lib/net/endpoints/udp.ts";
import { clockMs } from "../lib/net/observed_conn.ts";
import { EndpointStats, Registry } from "../lib/net/registry.ts";
import { decoder, encoder, HOST, readExactly, writeAll } from "./_helpers.ts";
import { startMain } from "./_main_process.ts";
import { tshark } from "./_tshark.ts";

/** Sends each message from `sock` to `port` on loopback and waits (2 s at most) for its echo. */
async function echoEach(sock: Deno.DatagramConn, port: number, messages: string[]): Promise<void> {
  const buf = new Uint8Array(2048);
  for (const m of messages) {
    await sock.send(encoder.encode(m), { transport: "udp", hostname: HOST, port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`No echo of "${m}" within 2 s`)), 2000)
    );
    try {
      const [data] = await Promise.race([sock.receive(buf), late]);
      strictEqual(decoder.decode(data), m);
    } finally {
      clearTimeout(timer);
    }
  }
}

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

Deno.test("main.ts --log-format json writes a UDP flow's open line, and its close line at stop", async () => {
  await using main = startMain(["--log-format", "json"]);
  const start = JSON.parse((await main.line(20_000))!);
  const udp = Number(start.endpoints.udp.split(":")[1]);
  const next = async (): Promise<EventLine> => JSON.parse((await main.line())!);
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  try {
    await echoEach(sock, udp, ["one", "three"]);
    const open = await next();
    deepStrictEqual(
      [open.event, open.transport, open.endpoint, open.role, open.local, open.remote],
      ["open", "udp", "udp", "server", { hostname: HOST, port: udp }, {
        hostname: HOST,
        port: (sock.addr as Deno.NetAddr).port,
      }],
    );
    match(open.conn, /^u\d+$/);
    ok(!Number.isNaN(Date.parse(open.ts)));

    // One open line per flow, not per datagram: the next lines are the shutdown's.
    strictEqual(await main.stop(), 0);
    deepStrictEqual(JSON.parse((await main.line())!).event, "stop");
    const close = await next();
    deepStrictEqual(
      [close.event, close.conn, close.transport, close.reason, close.reset],
      ["close", open.conn, "udp", "service stopping", false],
    );
    deepStrictEqual([close.bytesIn, close.bytesOut], [8, 8]);
    ok(typeof close.durationMs === "number" && close.durationMs >= 0);
    strictEqual(await main.line(), null);
  } finally {
    sock.close();
  }
});

Deno.test("UdpEndpoint.sweepIdle() writes a close line for a quiet flow, and the capture stays UDP", async () => {
  for (const fast of [false, true]) {
    const lines: EventLine[] = [];
    const ring = new CaptureRing({ bytes: 1 << 16 });
    const log = new PacketLog();
    log.tap = composeTaps([ring, new EventLog((line) => lines.push(JSON.parse(line)))]);
    const stats = new EndpointStats("udp", "udp", "UDP echo");
    const ctx = { registry: new Registry(), log, pool: new BufferPool() };
    const udp = new UdpEndpoint(stats, ctx, { hostname: HOST, port: 0, flowIdleMs: 1000, fast });
    const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
    const file = await Deno.makeTempFile({ suffix: ".pcapng" });
    try {
      strictEqual(udp.fast, fast, udp.fastUnavailable ?? "");
      await echoEach(sock, udp.port, ["ab", "cde"]);
      deepStrictEqual(lines.map((l) => [l.event, l.transport, l.remote?.port]), [
        ["open", "udp", (sock.addr as Deno.NetAddr).port],
      ]);
      strictEqual(udp.sweepIdle(clockMs()), 0, `fast ${fast}: not quiet for 1 s yet`);
      strictEqual(lines.length, 1);

      strictEqual(udp.sweepIdle(clockMs() + 1001), 1);
      const close = lines[1];
      deepStrictEqual(
        [close.event, close.conn, close.transport, close.reason, close.reset],
        ["close", lines[0].conn, "udp", "idle", false],
      );
      deepStrictEqual([close.bytesIn, close.bytesOut], [5, 5]);
      ok(close.durationMs! >= 1000, `durationMs ${close.durationMs}`);

      // The capture holds the flow's open and close, but Wireshark sees only the datagrams.
      const kinds: string[] = [];
      ring.read(ring.cursor(), ring.endSeq, (rec) => kinds.push(rec.kind));
      deepStrictEqual(kinds, ["open", "in", "out", "in", "out", "close"]);
      await Deno.writeFile(file, ring.export());
      const protocols = await tshark(["-r", file, "-T", "fields", "-e", "frame.protocols"]);
      deepStrictEqual(protocols.trim().split("\n"), new Array(4).fill("raw:ip:udp:data"));
    } finally {
      sock.close();
      await udp.close();
      await Deno.remove(file);
    }
    // The flow ended once: closing the endpoint writes no second close line.
    strictEqual(lines.length, 2, `fast ${fast}`);
  }
});
