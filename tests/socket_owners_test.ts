/** Who owns each socket (`process` on /api/sockets rows, as `ss -p`), over real sockets. */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { connect, encoder, readExactly, startService, waitFor, writeAll } from "./_helpers.ts";
import type { SocketRecord } from "../lib/net/types.ts";

/** Starts `command` with its stdin open (so it stays connected), killed on dispose. */
function spawnClient(command: string, args: string[]) {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    pid: child.pid,
    async [Symbol.asyncDispose]() {
      try {
        child.kill();
      } catch {
        // Already exited.
      }
      await child.status;
    },
  };
}

async function peerOf(
  svc: ReturnType<typeof startService>,
  pid: number,
): Promise<SocketRecord> {
  return await waitFor(`a peer row owned by pid ${pid}`, async () => {
    const rows = await svc.sockets("?endpoint=echo");
    return rows.find((r) =>
      r.kind === "peer" && r.state === "ESTABLISHED" && r.process?.pid === pid
    );
  }, { timeoutMs: 15_000, intervalMs: 100 });
}

Deno.test("GET /api/sockets names nc as the owner of its peer row, and us of ours", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  await using nc = spawnClient("nc", ["127.0.0.1", String(port)]);
  const peer = await peerOf(svc, nc.pid);
  deepStrictEqual(peer.process, { pid: nc.pid, command: "nc" });
  strictEqual(peer.remote?.port, port);
  // The service's own rows (its listener and its end of nc's connection) name this process.
  const rows = await waitFor("our rows with an owner", async () => {
    const all = await svc.sockets("?endpoint=echo");
    const mine = all.filter((r) =>
      r.ours && !r.kernelOnly && (r.kind === "listener" || r.remote?.port === peer.local.port)
    );
    return mine.length >= 2 && mine.every((r) => r.process !== undefined) && mine;
  }, { timeoutMs: 15_000, intervalMs: 100 });
  const command = Deno.readTextFileSync("/proc/self/comm").trim();
  for (const row of rows) deepStrictEqual(row.process, { pid: Deno.pid, command });
});

Deno.test("GET /api/sockets names a python3 client as its peer row's owner", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  await using py = spawnClient("python3", [
    "-c",
    `import socket, sys\ns = socket.create_connection(("127.0.0.1", ${port}))\nsys.stdin.read()`,
  ]);
  const peer = await peerOf(svc, py.pid);
  deepStrictEqual(peer.process, { pid: py.pid, command: "python3" });
});

Deno.test("GET /api/sockets names this process on the peer row of an in-process client", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  using client = await connect(port);
  await writeAll(client, encoder.encode("ping"));
  await readExactly(client, 4);
  const peer = await waitFor("the client's peer row with an owner", async () => {
    const rows = await svc.sockets("?endpoint=echo");
    return rows.find((r) =>
      r.kind === "peer" && r.local.port === client.localAddr.port && r.process !== undefined
    );
  }, { timeoutMs: 15_000, intervalMs: 100 });
  strictEqual(peer.process?.pid, Deno.pid);
});
