/**
 * The echo, multiconn, UDP and sink endpoints over real sockets: exact
 * echoes, counters that return to zero however a client leaves, per-peer UDP
 * flows, and the sink's queues filling and draining as `ss` would show them.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { SocketRecord } from "../lib/net/types.ts";
import { concat } from "../lib/bytes.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  readToEnd,
  runTutorial,
  startService,
  type TestService,
  waitFor,
  writeAll,
  writeUntilFull,
} from "./_helpers.ts";

/** Waits until an endpoint has no live connection, in its totals and in the socket table. */
async function waitForNoConns(svc: TestService, endpoint: string) {
  return await waitFor(`${endpoint} connections back to 0`, async () => {
    const stats = (await svc.endpoints())[endpoint];
    const rows = await svc.sockets(`?endpoint=${endpoint}`);
    return stats.connections === 0 && !rows.some((r) => r.kind === "conn") && stats;
  });
}

/** 1 MiB that is not all one byte, so a reordered or dropped chunk shows. */
function pattern(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 0x12345678;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

Deno.test("echo endpoint returns exactly what was sent, including 1 MiB in bulk", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("Hello, world"));
    strictEqual(decoder.decode(await readExactly(conn, 12)), "Hello, world");

    const bulk = pattern(1 << 20);
    // Write and read at once: the echo writes back as it reads, so neither side may wait.
    const [, echoed] = await Promise.all([
      writeAll(conn, bulk),
      readExactly(conn, bulk.length, 10_000),
    ]);
    ok(echoed.every((b, i) => b === bulk[i]), "echoed bytes differ from the bytes sent");

    const row = (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "conn")!;
    strictEqual(row.bytesIn, bulk.length + 12);
    strictEqual(row.bytesOut, bulk.length + 12);
    strictEqual(row.remote!.port, conn.localAddr.port);
    strictEqual(row.state, "ESTABLISHED");
  } finally {
    conn.close();
  }
  const echo = await waitForNoConns(svc, "echo");
  strictEqual(echo.closed, 1);
  strictEqual(echo.bytesIn, (1 << 20) + 12);
  strictEqual(echo.bytesOut, (1 << 20) + 12);
  deepStrictEqual(echo.errors, {});
});

Deno.test("echo endpoint holds what a client does not read, then catches up", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("echo"));
  // Write without reading: the echo's writes stall, so the process holds unsent bytes.
  const chunk = pattern(64 * 1024);
  const server = (rows: SocketRecord[]) => rows.find((r) => r.kind === "conn")!;
  const client = (rows: SocketRecord[]) =>
    rows.find((r) => r.kind === "peer" && r.local.port === conn.localAddr.port)!;
  const backedUp = (rows: SocketRecord[]) =>
    (server(rows)?.app?.txBuffered ?? 0) > 0 && (server(rows)?.kernel?.sendQ ?? 0) > 0 &&
    (client(rows)?.kernel?.recvQ ?? 0) > 0;
  // A write may take part of the chunk; what it took is what the echo owes.
  const { taken: sent, pending: stuck } = await writeUntilFull(
    conn,
    chunk,
    async () => backedUp(await svc.sockets("?endpoint=echo")),
  );
  const rows = await svc.sockets("?endpoint=echo");
  ok(server(rows).app!.txBuffered > 0, `app.txBuffered ${server(rows).app!.txBuffered}`);
  ok(server(rows).kernel!.sendQ > 0, `echo Send-Q ${server(rows).kernel!.sendQ}`);
  ok(client(rows).kernel!.recvQ > 0, `client Recv-Q ${client(rows).kernel!.recvQ}`);
  ok(server(rows).bytesOut < server(rows).bytesIn, "the echo is behind");

  // Reading lets everything through, in order: nothing is lost or held.
  const expected = concat(sent);
  const first = await readExactly(conn, expected.length, 10_000);
  const last = await stuck;
  const rest = await readExactly(conn, last);
  ok(first.every((b, i) => b === expected[i]), "echoed bytes differ from the bytes sent");
  ok(rest.every((b, i) => b === chunk[i]), "echoed bytes differ from the bytes sent");
  const settled = await waitFor("the echo to catch up", async () => {
    const row = (await svc.sockets("?endpoint=echo")).find((r) => r.kind === "conn");
    return row?.app?.txBuffered === 0 && row.kernel?.sendQ === 0 && row;
  });
  strictEqual(settled.bytesOut, expected.length + last);
  strictEqual(settled.bytesIn, expected.length + last);
});

Deno.test("echo endpoint counts return to zero after many clients leave", async () => {
  await using svc = startService();
  const conns = await Promise.all(Array.from({ length: 8 }, () => connect(svc.port("echo"))));
  try {
    await Promise.all(conns.map(async (c, i) => {
      await writeAll(c, encoder.encode(`client ${i}`));
      strictEqual(decoder.decode(await readExactly(c, `client ${i}`.length)), `client ${i}`);
    }));
    strictEqual((await svc.endpoints()).echo.connections, 8);
    strictEqual((await svc.sockets("?endpoint=echo")).filter((r) => r.kind === "conn").length, 8);
  } finally {
    conns.forEach(closeQuietly);
  }
  const echo = await waitForNoConns(svc, "echo");
  strictEqual(echo.accepted, 8);
  strictEqual(echo.closed, 8);
});

Deno.test("echo endpoint counts return to zero after a client resets", async () => {
  await using svc = startService();
  const out = await runTutorial("reset_client.py", [HOST, String(svc.port("echo"))]);
  strictEqual(out.code, 0, out.stderr);
  const [portLine, echoLine, resetLine] = out.stdout.trimEnd().split("\n");
  strictEqual(echoLine, "echoed b'ping'");
  strictEqual(resetLine, "reset");
  const clientPort = Number(portLine.replace("local port ", ""));

  const echo = await waitForNoConns(svc, "echo");
  deepStrictEqual(echo.errors, { reset: 1 });
  // The connection left the table but is still readable, with why it closed.
  const [first] = (await svc.api<{ packets: { conn: string }[] }>("/api/packets?endpoint=echo"))
    .body.packets;
  const closed = await svc.api<{ socket: SocketRecord }>(`/api/sockets/${first.conn}`);
  strictEqual(closed.status, 200);
  strictEqual(closed.body.socket.remote!.port, clientPort);
  strictEqual(closed.body.socket.closeReason, "error: reset");
  strictEqual(closed.body.socket.bytesIn, 4);
  strictEqual(closed.body.socket.bytesOut, 4);
});

Deno.test("echo endpoint finishes echoing after a half-close, then closes", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("echo"));
  await writeAll(conn, encoder.encode("last words"));
  await conn.closeWrite();
  const rest = await readToEnd(conn);
  strictEqual(decoder.decode(rest.bytes), "last words");
  strictEqual(rest.end, "eof");
  const echo = await waitForNoConns(svc, "echo");
  deepStrictEqual(echo.errors, {});
  strictEqual(echo.bytesOut, 10);
});

Deno.test("multiconn endpoint echoes each connection's messages on its own", async () => {
  await using svc = startService();
  const port = svc.port("multiconn");
  const conns = await Promise.all([connect(port), connect(port), connect(port)]);
  try {
    await Promise.all(conns.map(async (c, i) => {
      for (const n of [1, 2]) await writeAll(c, encoder.encode(`Message ${n} from client ${i}.`));
      strictEqual(
        decoder.decode(await readExactly(c, 48)),
        `Message 1 from client ${i}.Message 2 from client ${i}.`,
      );
    }));
    const rows = (await svc.sockets("?endpoint=multiconn")).filter((r) => r.kind === "conn");
    strictEqual(rows.length, 3);
    for (const row of rows) {
      strictEqual(row.bytesIn, 48);
      strictEqual(row.bytesOut, 48);
    }
  } finally {
    conns.forEach(closeQuietly);
  }
  strictEqual((await waitForNoConns(svc, "multiconn")).closed, 3);
});

Deno.test("udp endpoint echoes each datagram and keeps one flow per peer", async () => {
  await using svc = startService();
  const target = { transport: "udp" as const, hostname: HOST, port: svc.port("udp") };
  const a = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const b = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const exchange = async (sock: Deno.DatagramConn, text: string) => {
    await sock.send(encoder.encode(text), target);
    // Loopback does not drop datagrams, but a lost echo must fail the test, not hang it.
    const timer = setTimeout(() => closeQuietly(sock), 3000);
    try {
      const [data, from] = await sock.receive();
      strictEqual(decoder.decode(data), text);
      strictEqual((from as Deno.NetAddr).port, target.port);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    await exchange(a, "one");
    await exchange(a, "three");
    await exchange(b, "two!");
  } finally {
    closeQuietly(a);
    closeQuietly(b);
  }

  const rows = await svc.sockets("?endpoint=udp");
  const flows = rows.filter((r) => r.kind === "flow");
  strictEqual(flows.length, 2);
  const flowOf = (sock: Deno.DatagramConn) =>
    flows.find((f) => f.remote!.port === (sock.addr as Deno.NetAddr).port)!;
  const fa = flowOf(a);
  const fb = flowOf(b);
  deepStrictEqual(
    [fa.messagesIn, fa.messagesOut, fa.bytesIn, fa.bytesOut, fa.state],
    [2, 2, 8, 8, "FLOW"],
  );
  deepStrictEqual(
    [fb.messagesIn, fb.messagesOut, fb.bytesIn, fb.bytesOut, fb.state],
    [1, 1, 4, 4, "FLOW"],
  );
  strictEqual(fa.local.port, target.port);
  const socket = rows.find((r) => r.kind === "udp")!;
  deepStrictEqual([socket.state, socket.bytesIn, socket.messagesIn], ["UNCONN", 12, 3]);
  const udp = (await svc.endpoints()).udp;
  deepStrictEqual([udp.accepted, udp.connections], [2, 2]);
});

Deno.test("sink endpoint fills its Recv-Q and the writer's Send-Q until drained", async () => {
  await using svc = startService();
  const sinkPort = svc.port("sink");
  using writer = await connect(sinkPort);
  const writerPort = writer.localAddr.port;

  // Write until the kernel stops taking bytes: the sink never reads, so both queues fill.
  const chunk = new Uint8Array(64 * 1024).fill(0x73);
  const server = (rows: SocketRecord[]) =>
    rows.find((r) => r.kind === "conn" && r.remote?.port === writerPort);
  const peer = (rows: SocketRecord[]) =>
    rows.find((r) => r.kind === "peer" && r.local.port === writerPort);
  const filled = await writeUntilFull(writer, chunk, async () => {
    const rows = await svc.sockets("?endpoint=sink");
    return (server(rows)?.kernel?.recvQ ?? 0) > 0 && (peer(rows)?.kernel?.sendQ ?? 0) > 0;
  });
  let written = concat(filled.taken).length;
  const stuck = filled.pending;
  const full = await svc.sockets("?endpoint=sink");
  const sinkRow = server(full)!;
  const peerRow = peer(full)!;
  ok(sinkRow.kernel!.recvQ > 0, `sink Recv-Q ${sinkRow.kernel!.recvQ}`);
  strictEqual(sinkRow.bytesIn, 0, "the sink has not read a byte");
  strictEqual(sinkRow.app!.paused, true);
  strictEqual(peerRow.ours, false);
  strictEqual(peerRow.remote!.port, sinkPort);
  strictEqual(peerRow.state, "ESTABLISHED");
  ok(peerRow.kernel!.sendQ > 0, `writer Send-Q ${peerRow.kernel!.sendQ}`);
  // Everything written is in one of the two queues (the stuck write may have put in a little more).
  ok(sinkRow.kernel!.recvQ + peerRow.kernel!.sendQ >= written);

  const drain = await svc.api("/api/sink/drain", {
    method: "POST",
    body: JSON.stringify({ drain: true }),
  });
  deepStrictEqual([drain.status, drain.body], [200, { draining: true, connections: 1 }]);
  written += await stuck;
  const drained = await waitFor("the sink's Recv-Q and the writer's Send-Q to empty", async () => {
    const rows = await svc.sockets("?endpoint=sink");
    const s = server(rows);
    const p = peer(rows);
    return s?.kernel?.recvQ === 0 && p?.kernel?.sendQ === 0 && s.bytesIn === written && s;
  });
  strictEqual(drained.app!.paused, false);
  strictEqual((await svc.endpoints()).sink.bytesIn, written);
});
