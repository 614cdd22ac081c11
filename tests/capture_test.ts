/**
 * Full-payload capture against real sockets: traffic through a Service on
 * port 0, exported as pcapng through the API, read back with Debian's tshark.
 * "Follow TCP stream" must show exactly the bytes that crossed, both ways.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { concat } from "../lib/bytes.ts";
import {
  AppReader,
  appRequest,
  connect,
  encoder,
  HOST,
  readExactly,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { download, followTcp, hex, pattern, tshark } from "./_tshark.ts";

/** The server side of the echo/app connection whose client is `conn`. */
function serverConn(svc: TestService, endpoint: string, conn: Deno.Conn) {
  const port = (conn.localAddr as Deno.NetAddr).port;
  return waitFor(
    `the ${endpoint} connection from port ${port}`,
    () => [...svc.service.tcp.get(endpoint)!.conns].find((c) => c.remote.port === port),
  );
}

/** Waits until the server has closed connection `id`. */
function closedOnServer(svc: TestService, id: string) {
  return waitFor(`${id} closed on the server`, () => svc.service.registry.live(id) === undefined);
}

Deno.test("GET /api/capture.pcapng?conn= follows an echo stream exactly, large transfer included", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("echo"));
  const hello = encoder.encode("hello, capture\n");
  const big = pattern(600_000, 7);
  let id: string;
  try {
    await writeAll(conn, hello);
    await readExactly(conn, hello.length);
    id = (await serverConn(svc, "echo", conn)).id;
    // The echo answers while we write: read concurrently so neither side's buffers fill.
    const [, echoed] = await Promise.all([
      writeAll(conn, big, 10_000),
      readExactly(conn, big.length, 10_000),
    ]);
    deepStrictEqual(echoed, big);
  } finally {
    conn.close();
  }
  await closedOnServer(svc, id);
  // Large reads were kept in their read buffers rather than copied: the follow below checks them.
  ok(svc.service.pool.largeInCapture > 0, "no read buffer was lent to the capture");
  const { file, res } = await download(svc.app, `/api/capture.pcapng?conn=${id}`);
  try {
    strictEqual(res.headers.get("content-type"), "application/x-pcapng");
    match(
      res.headers.get("content-disposition")!,
      new RegExp(`^attachment; filename="sockscope-${id}-.*\\.pcapng"$`),
    );
    const f = await followTcp(file, 0);
    const port = (conn.localAddr as Deno.NetAddr).port;
    // Node 0 is the side that sent the SYN: the client.
    strictEqual(f.node0, `${HOST}:${port}`);
    strictEqual(f.node1, `${HOST}:${svc.port("echo")}`);
    const sent = hex(concat([hello, big]));
    strictEqual(f.from0.length, sent.length);
    ok(f.from0 === sent, "client→server bytes differ from what was sent");
    ok(f.from1 === sent, "server→client bytes differ from what was echoed");
    // One stream only, opened by a handshake and closed by a FIN exchange, every checksum good.
    const rows = (await tshark([
      "-r",
      file,
      "-o",
      "tcp.check_checksum:TRUE",
      "-o",
      "ip.check_checksum:TRUE",
      "-T",
      "fields",
      "-e",
      "tcp.stream",
      "-e",
      "tcp.flags.str",
      "-e",
      "tcp.checksum.status",
      "-e",
      "ip.checksum.status",
    ])).trim().split("\n").map((l) => l.split("\t"));
    deepStrictEqual([...new Set(rows.map((r) => r[0]))], ["0"]);
    match(rows[0][1], /S/);
    ok(rows.some((r) => r[1].includes("F")), "no FIN");
    ok(rows.every((r) => r[2] === "1" && r[3] === "1"), "a checksum is not good");
    // Nothing Wireshark's TCP analysis would flag (lost segments, retransmissions, …).
    const flagged = await tshark([
      "-r",
      file,
      "-Y",
      "tcp.analysis.flags && !tcp.analysis.window_update",
    ]);
    strictEqual(flagged.trim(), "");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng follows app requests and answers on one connection", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("app"));
  const requests = [appRequest("search", "morpheus"), appRequest("binary", "😃")];
  let id: string;
  try {
    const reader = new AppReader(conn);
    for (const req of requests) {
      await writeAll(conn, req);
      await reader.next();
    }
    id = (await serverConn(svc, "app", conn)).id;
  } finally {
    conn.close();
  }
  await closedOnServer(svc, id);
  const server = svc.service.registry.get(id)!;
  const { file } = await download(svc.app, `/api/capture.pcapng?conn=${id}`);
  try {
    const f = await followTcp(file, 0);
    strictEqual(f.from0, hex(concat(requests)));
    strictEqual(f.from1.length / 2, server.bytesOut);
    match(new TextDecoder().decode(Uint8Array.fromHex(f.from1)), /Follow the white rabbit/);
    match(new TextDecoder().decode(Uint8Array.fromHex(f.from1)), /First 10 bytes of request/);
  } finally {
    await Deno.remove(file);
  }
});

/** A client that sends `text`, reads the echo, then resets (SO_LINGER 0): Deno cannot. */
async function resettingClient(port: number, text: string): Promise<number> {
  const script = [
    "import socket, struct, sys",
    `s = socket.create_connection(("${HOST}", ${port}))`,
    "print(s.getsockname()[1], flush=True)",
    `s.sendall(${JSON.stringify(text)}.encode())`,
    `n = len(${JSON.stringify(text)}); got = b""`,
    "while len(got) < n: got += s.recv(n - len(got))",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))",
    "s.close()",
  ].join("\n");
  const out = await new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  if (out.code !== 0) {
    throw new Error(`python3 exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("GET /api/capture.pcapng shows a peer's reset as an RST from the peer", async () => {
  await using svc = startService({ kernel: undefined });
  const text = "reset after this";
  const port = await resettingClient(svc.port("echo"), text);
  const server = await waitFor(
    "the reset connection",
    () => svc.service.registry.closed().find((r) => r.remote?.port === port),
  );
  strictEqual(server.closeReason, "error: reset");
  const { file } = await download(svc.app, `/api/capture.pcapng?conn=${server.id}`);
  try {
    const rows =
      (await tshark(["-r", file, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags.str"]))
        .trim().split("\n").map((l) => l.split("\t"));
    const last = rows[rows.length - 1];
    // The client reset: the last segment is an RST from its port, and no FIN precedes it.
    deepStrictEqual([last[0], /R/.test(last[1])], [String(port), true]);
    ok(!rows.some((r) => r[1].includes("F")), "a FIN before the RST");
    const f = await followTcp(file, 0);
    deepStrictEqual([f.from0, f.from1], [hex(encoder.encode(text)), hex(encoder.encode(text))]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng shows the close-unread fault as an RST from the server", async () => {
  await using svc = startService({ kernel: undefined });
  const fault = await svc.api("/api/endpoints/echo/fault", {
    method: "POST",
    body: '{"mode":"close-unread"}',
  });
  strictEqual(fault.status, 200);
  const conn = await connect(svc.port("echo"));
  const server = await serverConn(svc, "echo", conn);
  try {
    await writeAll(conn, encoder.encode("more than one byte"));
    await closedOnServer(svc, server.id);
  } finally {
    conn.close();
  }
  const { file } = await download(svc.app, `/api/capture.pcapng?conn=${server.id}`);
  try {
    const rows =
      (await tshark(["-r", file, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags.str"]))
        .trim().split("\n").map((l) => l.split("\t"));
    const last = rows[rows.length - 1];
    deepStrictEqual([last[0], /R/.test(last[1])], [String(svc.port("echo")), true]);
    // The server read what it counted, and nothing else crossed in the capture.
    const f = await followTcp(file, 0);
    strictEqual(f.from0.length / 2, svc.service.registry.get(server.id)!.bytesIn);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng?endpoint=udp shows each datagram both ways", async () => {
  await using svc = startService({ kernel: undefined });
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const payloads = [encoder.encode("first datagram"), encoder.encode("second")];
  try {
    for (const p of payloads) {
      await sock.send(p, { transport: "udp", hostname: HOST, port: svc.port("udp") });
      const [echo] = await sock.receive();
      deepStrictEqual(echo, p);
    }
  } finally {
    sock.close();
  }
  const { file } = await download(svc.app, "/api/capture.pcapng?endpoint=udp");
  try {
    const rows = (await tshark([
      "-r",
      file,
      "-o",
      "udp.check_checksum:TRUE",
      "-T",
      "fields",
      "-e",
      "udp.srcport",
      "-e",
      "udp.dstport",
      "-e",
      "data.data",
      "-e",
      "udp.checksum.status",
    ])).trim().split("\n").map((l) => l.split("\t"));
    const me = String((sock.addr as Deno.NetAddr).port);
    const udp = String(svc.port("udp"));
    deepStrictEqual(rows, [
      [me, udp, hex(payloads[0]), "1"],
      [udp, me, hex(payloads[0]), "1"],
      [me, udp, hex(payloads[1]), "1"],
      [udp, me, hex(payloads[1]), "1"],
    ]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng?conn= keeps only that connection; bad filters are 400/404", async () => {
  await using svc = startService({ kernel: undefined });
  const a = await connect(svc.port("echo"));
  const b = await connect(svc.port("echo"));
  try {
    for (const [c, text] of [[a, "from a"], [b, "from b"]] as const) {
      await writeAll(c, encoder.encode(text));
      await readExactly(c, text.length);
    }
    const idA = (await serverConn(svc, "echo", a)).id;
    const all = await download(svc.app, "/api/capture.pcapng");
    const one = await download(svc.app, `/api/capture.pcapng?conn=${idA}`);
    try {
      const streams = async (
        file: string,
      ) => [
        ...new Set(
          (await tshark(["-r", file, "-T", "fields", "-e", "tcp.stream"])).trim().split("\n"),
        ),
      ];
      deepStrictEqual(await streams(all.file), ["0", "1"]);
      deepStrictEqual(await streams(one.file), ["0"]);
      const f = await followTcp(one.file, 0);
      strictEqual(f.from0, hex(encoder.encode("from a")));
      // A connection still open has its handshake and data, and no FIN yet.
      const flags = await tshark(["-r", one.file, "-T", "fields", "-e", "tcp.flags.str"]);
      ok(!flags.includes("F"), "a FIN on an open connection");
    } finally {
      await Deno.remove(all.file);
      await Deno.remove(one.file);
    }
  } finally {
    a.close();
    b.close();
  }
  const get = async (path: string) => {
    const res = await svc.app.fetch(new Request(`http://x${path}`));
    return [res.status, (await res.json()).error];
  };
  deepStrictEqual(await get("/api/capture.pcapng?conn=c999999"), [
    404,
    'No socket "c999999" in the capture',
  ]);
  strictEqual((await get("/api/capture.pcapng?conn=a%2Fb"))[0], 400);
  strictEqual((await get("/api/capture.pcapng?endpoint=nope"))[0], 400);
});

Deno.test("a tiny capture ring drops the middle, counts it, and still exports a followable stream", async () => {
  await using svc = startService({ kernel: undefined, captureBytes: 65536 });
  const conn = await connect(svc.port("echo"));
  const data = pattern(300_000, 3);
  let id: string;
  try {
    await writeAll(conn, data.subarray(0, 10));
    await readExactly(conn, 10);
    id = (await serverConn(svc, "echo", conn)).id;
    await Promise.all([writeAll(conn, data.subarray(10)), readExactly(conn, data.length - 10)]);
  } finally {
    conn.close();
  }
  await closedOnServer(svc, id);
  const stats = svc.service.capture!.stats();
  ok(stats.droppedPackets > 0 && stats.droppedBytes > 0, "nothing dropped");
  ok(stats.usedBytes <= 65536);
  const metrics = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
  match(metrics, new RegExp(`^sockscope_capture_dropped_bytes_total ${stats.droppedBytes}$`, "m"));
  const { file } = await download(svc.app, `/api/capture.pcapng?conn=${id}`);
  try {
    const f = await followTcp(file, 0);
    // What is left is the first bytes of each direction (a 64 KiB capture keeps 128 of each
    // per connection) and the latest ones, the middle marked missing. The latest reads were
    // evicted by the connection's own echoes while it was open: it pays for its own volume.
    const sent = hex(data);
    const missing = hex(encoder.encode("bytes missing in capture file"));
    for (const [from, what] of [[f.from0, "client→server"], [f.from1, "server→client"]]) {
      ok(from.includes(missing), `${what}: no bytes marked missing`);
      ok(from.length < sent.length, `${what}: ${from.length / 2} bytes`);
      ok(from.startsWith(sent.slice(0, 128)), `${what} does not start with the first bytes`);
    }
    ok(f.from1.endsWith(sent.slice(-256)), "server→client does not end with the latest bytes");
    // The real handshake is kept with the first bytes; the missing middle is marked, not renumbered.
    const comments = await tshark(["-r", file, "-T", "fields", "-e", "frame.comment"]);
    ok(!/handshake synthesized/.test(comments), comments);
    const flagged = await tshark(["-r", file, "-Y", "tcp.analysis.lost_segment"]);
    match(flagged, /\S/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("--capture-bytes 0 turns the capture off: the route says so", async () => {
  await using svc = startService({ kernel: undefined, captureBytes: 0 });
  strictEqual(svc.service.capture, null);
  const res = await svc.api<{ error: string }>("/api/capture.pcapng");
  deepStrictEqual([res.status, res.body.error], [
    404,
    "Capture is off: started with --capture-bytes 0",
  ]);
});

Deno.test("the connection and packet-log pages link the pcapng download for what they show", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("page"));
    await readExactly(conn, 4);
    const id = (await serverConn(svc, "echo", conn)).id;
    const page = async (path: string) => {
      const res = await svc.app.fetch(new Request(`http://x${path}`));
      strictEqual(res.status, 200);
      return await res.text();
    };
    const detail = await page(`/sockets/${id}`);
    ok(
      detail.includes(`href="/api/capture.pcapng?conn=${id}"`),
      "no download on the connection page",
    );
    const packets = await page(`/packets?endpoint=echo&conn=${id}&dir=in`);
    ok(
      packets.includes(`href="/api/capture.pcapng?endpoint=echo&amp;conn=${id}"`),
      "no filtered download on the packet log",
    );
    match(packets, /--capture-dir DIR/);
  } finally {
    conn.close();
  }
});
