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
