/**
 * The limits that protect the machine, over real sockets: a connection cap
 * per endpoint and an idle timeout, each closing what it must, sparing the
 * rest, and counted where /api/endpoints and /metrics show it.
 */
import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import type { SocketRecord } from "../lib/net/types.ts";
import { parseFlags } from "../lib/startup/server_flags.ts";
import {
  appFrame,
  AppReader,
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  readToEnd,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

async function roundTrip(conn: Deno.Conn, text: string): Promise<string> {
  await writeAll(conn, encoder.encode(text));
  return decoder.decode(await readExactly(conn, encoder.encode(text).length));
}

Deno.test("maxConns closes the connection over the limit at once and counts it", async () => {
  await using svc = startService({ maxConns: 3 });
  const port = svc.port("echo");
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await connect(port);
      conns.push(conn);
      // A round trip proves the server accepted and serves it before the next one arrives.
      strictEqual(await roundTrip(conn, `conn ${i}`), `conn ${i}`);
    }
    const fourth = await connect(port);
    conns.push(fourth);
    const end = await readToEnd(fourth);
    deepStrictEqual([end.end, end.bytes.length], ["eof", 0], "the 4th is closed without a word");

    const echo = (await svc.endpoints()).echo;
    deepStrictEqual(
      [echo.connections, echo.accepted, echo.refused, echo.limitHits],
      [3, 3, 1, { "max-conns": 1 }],
    );
    for (let i = 0; i < 3; i++) strictEqual(await roundTrip(conns[i], `again ${i}`), `again ${i}`);
    const metrics = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
    match(metrics, /^sockscope_connections_refused_total\{endpoint="echo"\} 1$/m);
    match(metrics, /^sockscope_limit_hits_total\{endpoint="echo",kind="max-conns"\} 1$/m);

    // The limit is per endpoint: another endpoint still takes connections.
    using other = await connect(svc.port("multiconn"));
    strictEqual(await roundTrip(other, "elsewhere"), "elsewhere");

    // Once one leaves, a new connection fits again.
    conns[0].close();
    await waitFor("a slot to free up", async () => (await svc.endpoints()).echo.connections === 2);
    const fifth = await connect(port);
    conns.push(fifth);
    strictEqual(await roundTrip(fifth, "room again"), "room again");
    strictEqual((await svc.endpoints()).echo.refused, 1);
  } finally {
    conns.forEach(closeQuietly);
  }
});

Deno.test("idleTimeoutMs closes an idle connection and counts it; a busy one stays", async () => {
  await using svc = startService({ idleTimeoutMs: 300 });
  const port = svc.port("echo");
  const idle = await connect(port);
  const busy = await connect(port);
  try {
    strictEqual(await roundTrip(idle, "then silence"), "then silence");
    // The sweeper runs every second: the idle connection goes within about 1.3 s.
    const started = performance.now();
    let idleGone = false;
    const keepBusy = (async () => {
      for (let i = 0; i < 40 && !idleGone && performance.now() - started < 3000; i++) {
        strictEqual(await roundTrip(busy, `tick ${i}`), `tick ${i}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const end = await readToEnd(idle, { timeoutMs: 3000 }).finally(() => idleGone = true);
    deepStrictEqual([end.end, end.bytes.length], ["eof", 0]);
    await keepBusy;

    const echo = (await svc.endpoints()).echo;
    deepStrictEqual([echo.connections, echo.limitHits], [1, { "idle-timeout": 1 }]);
    const [closedId] = (await svc.api<{ packets: { conn: string }[] }>(
      `/api/packets?endpoint=echo&limit=1&after=0`,
    )).body.packets.map((p) => p.conn);
    const closed = (await svc.api<{ socket: SocketRecord }>(`/api/sockets/${closedId}`)).body;
    strictEqual(closed.socket.closeReason, "idle timeout");
    strictEqual(await roundTrip(busy, "still here"), "still here");
  } finally {
    closeQuietly(idle);
    closeQuietly(busy);
  }
});

Deno.test("appMaxContent answers a larger content-length with an error frame and counts it", async () => {
  await using svc = startService({ appMaxContent: 16 });
  const port = svc.port("app");
  const header = { byteorder: "little", "content-type": "binary/x", "content-encoding": "binary" };
  using fits = await connect(port);
  await writeAll(
    fits,
    appFrame({ ...header, "content-length": 16 }, encoder.encode("sixteen bytes!!!")),
  );
  strictEqual(
    decoder.decode((await new AppReader(fits).next()).content),
    "First 10 bytes of request: sixteen by",
  );
  using big = await connect(port);
  await writeAll(
    big,
    appFrame({ ...header, "content-length": 17 }, encoder.encode("seventeen bytes!!")),
  );
  const reader = new AppReader(big);
  deepStrictEqual((await reader.next()).json, {
    error: 'Cannot read content: "content-length" of "17" exceeds the limit of 16',
  });
  strictEqual((await reader.rest()).end, "eof");
  const app = (await svc.endpoints()).app;
  deepStrictEqual([app.limitHits, app.errors], [{ "app-content-length": 1 }, { protocol: 1 }]);
});

Deno.test("maxFlows echoes datagrams of peers over the limit without tracking them", async () => {
  await using svc = startService({ maxFlows: 1 });
  const target = { transport: "udp" as const, hostname: HOST, port: svc.port("udp") };
  const peers = [0, 1].map(() =>
    Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 })
  );
  try {
    for (const [i, peer] of peers.entries()) {
      await peer.send(encoder.encode(`peer ${i}`), target);
      // Loopback does not drop datagrams, but a lost echo must fail the test, not hang it.
      const timer = setTimeout(() => closeQuietly(peer), 3000);
      try {
        strictEqual(decoder.decode((await peer.receive())[0]), `peer ${i}`);
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    peers.forEach(closeQuietly);
  }
  const flows = (await svc.sockets("?endpoint=udp")).filter((r) => r.kind === "flow");
  deepStrictEqual(flows.map((f) => f.remote!.port), [(peers[0].addr as Deno.NetAddr).port]);
  const udp = (await svc.endpoints()).udp;
  deepStrictEqual([udp.bytesIn, udp.bytesOut, udp.limitHits], [12, 12, { "max-flows": 1 }]);
});

Deno.test("parseFlags() reads the labs' limits and the UDP flow timeout, with their defaults", () => {
  const service = (args: string[]) => {
    const parsed = parseFlags(args);
    if (typeof parsed === "string") throw new Error(parsed);
    const s = parsed.service;
    return [s.flowIdleMs, s.chat, s.clientList, s.frameMaxMessage];
  };
  deepStrictEqual(service([]), [
    60_000,
    { maxMessage: 65_536, history: 200, maxBacklog: 1_048_576 },
    { maxNames: 1000 },
    65_536,
  ]);
  deepStrictEqual(
    service([
      ...["--flow-idle", "5", "--chat-max-message", "100", "--chat-history", "0"],
      ...["--chat-max-backlog", "4096", "--clients-max-names", "3", "--frame-max-message", "9"],
    ]),
    [5000, { maxMessage: 100, history: 0, maxBacklog: 4096 }, { maxNames: 3 }, 9],
  );
  strictEqual(
    parseFlags(["--clients-max-names", "0"]),
    'Invalid --clients-max-names: "0" is not an integer in 1..1000000',
  );
  strictEqual(
    parseFlags(["--flow-idle", "1m"]),
    'Invalid --flow-idle: "1m" is not an integer in 1..86400',
  );
});

Deno.test("parseFlags() reads the framing lab's sizes and bytes, seed 002's by default", () => {
  const framing = (args: string[]) => {
    const parsed = parseFlags(args);
    if (typeof parsed === "string") throw new Error(parsed);
    return parsed.service.framing;
  };
  deepStrictEqual(framing([]), { recordSize: 30, pad: undefined, delimiter: undefined });
  deepStrictEqual(
    framing([
      "--frame-fixed-size",
      "32",
      "--frame-fixed-pad",
      "\\x20",
      "--frame-delimiter",
      "\\r\\n",
    ]),
    { recordSize: 32, pad: 0x20, delimiter: new Uint8Array([0x0d, 0x0a]) },
  );
  deepStrictEqual(framing(["--frame-fixed-pad", "*", "--frame-delimiter", "END"]), {
    recordSize: 30,
    pad: 0x2a,
    delimiter: new TextEncoder().encode("END"),
  });
  strictEqual(
    parseFlags(["--frame-fixed-pad", "ab"]),
    'Invalid --frame-fixed-pad: "ab" is 2 bytes, not 1 byte',
  );
  strictEqual(
    parseFlags(["--frame-delimiter", ""]),
    'Invalid --frame-delimiter: "" is 0 bytes, not 1 to 64 bytes',
  );
  strictEqual(
    parseFlags(["--frame-delimiter", "\\q"]),
    'Invalid --frame-delimiter: Cannot parse framing bytes: "\\\\q" has an unknown escape at 0',
  );
  strictEqual(
    parseFlags(["--frame-fixed-size", "0"]),
    'Invalid --frame-fixed-size: "0" is not an integer in 1..1048576',
  );
});
