/**
 * The kernel's view joined with ours, as `ss` would show it: LISTEN queues,
 * the peer's own socket next to ours, TIME_WAIT leftovers after we close,
 * and a clear reason (with the app's numbers intact) when the kernel can't be read.
 */
import { deepStrictEqual, match, ok, strictEqual, throws } from "node:assert/strict";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import type { SocketRecord } from "../lib/net/types.ts";
import {
  AppReader,
  closeQuietly,
  connect,
  decoder,
  encoder,
  readExactly,
  readToEnd,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

interface SocketsBody {
  kernel: { available: boolean; source: string | null; reason: string | null };
  count: number;
  sockets: SocketRecord[];
}

const somaxconn = Number(await Deno.readTextFile("/proc/sys/net/core/somaxconn"));

Deno.test("GET /api/sockets shows each listener's accept queue and backlog", async () => {
  await using svc = startService();
  const res = await svc.api<SocketsBody>("/api/sockets?state=LISTEN");
  strictEqual(res.body.kernel.available, true);
  const listeners = res.body.sockets;
  deepStrictEqual(listeners.map((s) => s.endpoint).sort(), [...svc.service.tcp.keys()].sort());
  ok(["app", "echo", "multiconn", "sink"].every((name) => svc.service.tcp.has(name)));
  for (const row of listeners) {
    strictEqual(row.kind, "listener");
    strictEqual(row.remote, null);
    strictEqual(row.kernel!.state, "LISTEN");
    strictEqual(row.kernel!.recvQ, 0, "nobody waits in the accept queue");
    // TLS (Deno.listenTls takes no SO_REUSEPORT) and Unix endpoints listen once.
    if (row.endpoint === "tls-echo" || row.endpoint === "unix-echo") {
      strictEqual(svc.service.tcp.get(row.endpoint)!.listenerCount, 1);
      ok(row.kernel!.sendQ > 0, "a backlog");
      continue;
    }
    // Four sockets share each endpoint's port by default; the row adds up their backlogs.
    strictEqual(svc.service.tcp.get(row.endpoint)!.listenerCount, 4);
    strictEqual(row.kernel!.sendQ, 4 * Math.min(4096, somaxconn), "the default backlogs");
  }
});

Deno.test("GET /api/sockets shows the backlog option as the listener's Send-Q", async () => {
  await using svc = startService({ backlog: 128, listeners: 1 });
  const row = (await svc.sockets("?endpoint=echo&state=LISTEN"))[0];
  strictEqual(row.kernel!.sendQ, Math.min(128, somaxconn));
});

Deno.test("--listeners binds that many sockets to each TCP port, and a taken port still fails", async () => {
  await using svc = startService({ backlog: 128, listeners: 3 });
  const port = svc.port("echo");
  const row = (await svc.sockets("?endpoint=echo&state=LISTEN"))[0];
  strictEqual(row.kernel!.sendQ, 3 * Math.min(128, somaxconn), "three backlogs");
  const out = await new Deno.Command("ss", { args: ["-Hltn", `sport = :${port}`] }).output()
    .catch(() => null);
  if (out !== null && out.success) {
    strictEqual(new TextDecoder().decode(out.stdout).trim().split("\n").length, 3, "ss -lt");
  }
  // A second service binds plainly first, so it fails instead of joining the SO_REUSEPORT group.
  throws(
    () => Deno.listen({ hostname: "127.0.0.1", port }),
    (e: unknown) => e instanceof Deno.errors.AddrInUse,
  );
  // Every listener accepts: a burst of connects all get served.
  const conns = await Promise.all(
    Array.from({ length: 24 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  try {
    for (const c of conns) await c.write(encoder.encode("x"));
    for (const c of conns) strictEqual(await c.read(new Uint8Array(1)), 1);
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("GET /api/sockets shows a peer's socket as not ours, from the peer's side", async () => {
  await using svc = startService();
  const echoPort = svc.port("echo");
  using client = await connect(echoPort);
  await writeAll(client, encoder.encode("ping"));
  await readExactly(client, 4);
  const clientPort = client.localAddr.port;

  const rows = await svc.sockets("?endpoint=echo");
  const ours = rows.find((r) => r.kind === "conn")!;
  // Only ESTABLISHED: a TIME_WAIT left by an earlier user of this port number may be listed too.
  const peers = rows.filter((r) => r.kind === "peer" && r.state === "ESTABLISHED");
  strictEqual(peers.length, 1);
  const theirs = peers[0];
  // Our row: local is the endpoint, remote the client, as ss prints it on the server.
  deepStrictEqual([ours.ours, ours.kernelOnly, ours.state], [true, false, "ESTABLISHED"]);
  deepStrictEqual([ours.local.port, ours.remote!.port], [echoPort, clientPort]);
  strictEqual(ours.kernel!.state, "ESTABLISHED");
  // Their row: local is the client's port, remote the endpoint.
  deepStrictEqual([theirs.ours, theirs.kernelOnly, theirs.state], [false, false, "ESTABLISHED"]);
  deepStrictEqual(theirs.local, { hostname: "127.0.0.1", port: clientPort });
  deepStrictEqual(theirs.remote, { hostname: "127.0.0.1", port: echoPort });
  strictEqual(theirs.app, null, "the app holds no buffers for a socket it does not own");
  deepStrictEqual([theirs.kernel!.recvQ, theirs.kernel!.sendQ], [0, 0]);
});

/** tcp_info's byte counters as `ss -tni` prints them for the client socket `conn`. */
async function ssBytes(
  conn: Deno.TcpConn,
): Promise<{ state: string; acked: number; received: number }> {
  // Both ports: an earlier connection from the same client port may linger in TIME_WAIT.
  const filter = `sport = :${conn.localAddr.port} and dport = :${conn.remoteAddr.port}`;
  const out = await new Deno.Command("ss", { args: ["-Htni", "state", "all", filter] }).output();
  strictEqual(out.success, true, "ss -tni runs");
  const text = decoder.decode(out.stdout);
  const state = text.trim().split(/\s+/)[0];
  // ss leaves a counter out while it is 0.
  const acked = Number(/bytes_acked:(\d+)/.exec(text)?.[1] ?? 0);
  const received = Number(/bytes_received:(\d+)/.exec(text)?.[1] ?? 0);
  return { state, acked, received };
}

/** The peer row of the client on `clientPort`, once `done` holds for it. */
function peerRow(
  svc: TestService,
  endpoint: string,
  clientPort: number,
  done: (row: SocketRecord) => boolean,
): Promise<SocketRecord> {
  return waitFor(`the peer row of ${clientPort}`, async () => {
    const rows = await svc.sockets(`?endpoint=${endpoint}`);
    const row = rows.find((r) => r.kind === "peer" && r.local.port === clientPort);
    return row !== undefined && done(row) && row;
  });
}

Deno.test("a peer row counts data bytes where ss -tni counts the SYN and FINs too", async () => {
  await using svc = startService();
  // 18 bytes echoed: the client's bytes_acked counts its SYN, 19.
  using small = await connect(svc.port("echo"));
  await writeAll(small, encoder.encode("eighteen bytes ok\n"));
  await readExactly(small, 18);
  const row = await peerRow(svc, "echo", small.localAddr.port, (r) => r.bytesIn === 18);
  deepStrictEqual([row.state, row.bytesOut, row.bytesIn], ["ESTABLISHED", 18, 18]);
  deepStrictEqual(await ssBytes(small), {
    state: "ESTAB",
    acked: 19,
    received: 18,
  });

  // A larger write to discard, of a size no buffer rounds to.
  const n = (1 << 20) + 7;
  using big = await connect(svc.port("discard"));
  await writeAll(big, new Uint8Array(n).fill(0x62), 10_000);
  const bigRow = await peerRow(svc, "discard", big.localAddr.port, (r) => r.bytesOut === n);
  strictEqual(bigRow.bytesIn, 0);
  const ss = await ssBytes(big);
  deepStrictEqual([ss.acked, ss.received], [n + 1, 0]);
});

Deno.test("a closing peer row leaves out the FIN ss -tni counts", async () => {
  await using svc = startService();
  // The echo endpoint stops reading, so it does not close when the client sends FIN: the
  // client waits in FIN_WAIT2 with its FIN acknowledged, bytes_acked 18 + SYN + FIN.
  const res = await svc.api("/api/endpoints/echo/fault", {
    method: "POST",
    body: JSON.stringify({ mode: "stall" }),
  });
  strictEqual(res.status, 200);
  using writer = await connect(svc.port("echo"));
  await writeAll(writer, encoder.encode("eighteen bytes ok\n"));
  await writer.closeWrite();
  const finWait = await peerRow(svc, "echo", writer.localAddr.port, (r) => r.state === "FIN_WAIT2");
  deepStrictEqual([finWait.bytesOut, finWait.bytesIn], [18, 0]);
  deepStrictEqual(await ssBytes(writer), {
    state: "FIN-WAIT-2",
    acked: 20,
    received: 0,
  });

  // The endpoint sends FIN after 5 bytes: the client in CLOSE_WAIT has bytes_received 5 + FIN.
  const half = await svc.api("/api/endpoints/echo/fault", {
    method: "POST",
    body: JSON.stringify({ mode: "half-close", bytes: 5 }),
  });
  strictEqual(half.status, 200);
  using reader = await connect(svc.port("echo"));
  await writeAll(reader, encoder.encode("eighteen bytes ok\n"));
  const end = await readToEnd(reader);
  deepStrictEqual([end.bytes.length, end.end], [5, "eof"]);
  const closeWait = await peerRow(
    svc,
    "echo",
    reader.localAddr.port,
    (r) => r.state === "CLOSE_WAIT",
  );
  deepStrictEqual([closeWait.bytesOut, closeWait.bytesIn], [18, 5]);
  deepStrictEqual(await ssBytes(reader), {
    state: "CLOSE-WAIT",
    acked: 19,
    received: 6,
  });
});

/** Waits for the kernel-only row our closed connection left behind. */
function timeWait(svc: TestService, endpoint: string, clientPort: number) {
  return waitFor(`a TIME_WAIT row for ${endpoint} <- ${clientPort}`, async () => {
    const rows = await svc.sockets(`?endpoint=${endpoint}&state=TIME_WAIT`);
    return rows.find((r) => r.kernelOnly && r.remote?.port === clientPort);
  });
}

Deno.test("GET /api/sockets lists the TIME_WAIT left after the app endpoint closes first", async () => {
  await using svc = startService();
  const appPort = svc.port("app");
  const client = await connect(appPort);
  const clientPort = client.localAddr.port;
  try {
    await writeAll(client, new Uint8Array([0, 0]));
    const reader = new AppReader(client);
    deepStrictEqual((await reader.next()).json, {
      error: "Cannot parse header: header length is 0",
    });
    strictEqual((await reader.rest()).end, "eof");
  } finally {
    closeQuietly(client);
  }
  const row = await timeWait(svc, "app", clientPort);
  deepStrictEqual(
    [row.kind, row.ours, row.kernelOnly, row.state, row.kernel!.state],
    ["kernel", true, true, "TIME_WAIT", "TIME_WAIT"],
  );
  strictEqual(row.local.port, appPort);
  strictEqual(row.app, null);
  // The connection itself has left the live rows.
  const live = await svc.sockets("?endpoint=app");
  strictEqual(live.filter((r) => r.kind === "conn").length, 0);
});

Deno.test("GET /api/sockets lists the TIME_WAIT left after POST /api/sockets/:id/close", async () => {
  await using svc = startService();
  const client = await connect(svc.port("echo"));
  const clientPort = client.localAddr.port;
  try {
    await writeAll(client, encoder.encode("hi"));
    await readExactly(client, 2);
    const conn = (await svc.sockets("?endpoint=echo")).find((r) => r.kind === "conn")!;
    strictEqual((await svc.api(`/api/sockets/${conn.id}/close`, { method: "POST" })).status, 200);
    strictEqual((await readToEnd(client)).end, "eof");
  } finally {
    closeQuietly(client);
  }
  const row = await timeWait(svc, "echo", clientPort);
  deepStrictEqual([row.kind, row.ours, row.kernelOnly], ["kernel", true, true]);
});

Deno.test("GET /api/sockets says why the kernel view is missing and keeps the app's numbers", async () => {
  await using svc = startService({
    kernel: new KernelTable({
      readNetlink: null,
      readFile: () => Promise.reject(new Deno.errors.NotCapable("Requires read access")),
    }),
  });
  using client = await connect(svc.port("echo"));
  await writeAll(client, encoder.encode("still counted"));
  strictEqual(decoder.decode(await readExactly(client, 13)), "still counted");

  const res = await svc.api<SocketsBody>("/api/sockets");
  strictEqual(res.status, 200);
  strictEqual(res.body.kernel.available, false);
  strictEqual(res.body.kernel.source, null);
  match(res.body.kernel.reason!, /^Kernel view unavailable: .*\/proc\/net\/tcp.*NotCapable/);
  for (const row of res.body.sockets) strictEqual(row.kernel, null, row.id);
  ok(!res.body.sockets.some((r) => r.kind === "peer" || r.kernelOnly));
  const conn = res.body.sockets.find((r) => r.kind === "conn")!;
  deepStrictEqual([conn.state, conn.bytesIn, conn.bytesOut], ["ESTABLISHED", 13, 13]);
  const listener = res.body.sockets.find((r) => r.id === "l-echo")!;
  strictEqual(listener.state, "LISTEN");

  const one = await svc.api<{ kernel: SocketsBody["kernel"]; socket: SocketRecord }>(
    `/api/sockets/${conn.id}`,
  );
  strictEqual(one.body.kernel.available, false);
  deepStrictEqual([one.body.socket.kernel, one.body.socket.bytesIn], [null, 13]);

  const metrics = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
  match(metrics, /^sockscope_received_bytes_total\{endpoint="echo"\} 13$/m);
  ok(!metrics.includes("sockscope_kernel_recv_queue_bytes"), "no kernel numbers to sum");
});

Deno.test("GET /api/sockets says the kernel view is off when the service has none", async () => {
  await using svc = startService({ kernel: undefined });
  const res = await svc.api<SocketsBody>("/api/sockets");
  deepStrictEqual(
    [res.body.kernel.available, res.body.kernel.reason],
    [false, "Kernel view not configured"],
  );
  strictEqual(res.body.sockets.find((r) => r.id === "l-app")!.kernel, null);
});
