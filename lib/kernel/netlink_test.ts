import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { KernelSocket } from "../net/types.ts";
import { readSockDiag } from "./netlink.ts";
import { MAX_BYTECODE_RANGES } from "./sock_diag.ts";

const linux = Deno.build.os === "linux";

function find(
  rows: KernelSocket[],
  state: string,
  local: Deno.NetAddr,
  remote: Deno.NetAddr | null,
): KernelSocket | undefined {
  return rows.find((r) =>
    r.state === state && r.local.hostname === local.hostname && r.local.port === local.port &&
    (remote === null
      ? r.remote === null
      : r.remote?.hostname === remote.hostname && r.remote.port === remote.port)
  );
}

Deno.test({
  name: "readSockDiag() finds a listener's backlog and a connection's tcp_info",
  ignore: !linux,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    using server = await listener.accept();
    await client.write(new TextEncoder().encode("hello"));
    const port = listener.addr.port;
    let rows: KernelSocket[] = [];
    // Loopback delivers within write(); a few tries cover a busy machine.
    for (let attempt = 0; attempt < 50; attempt++) {
      rows = await readSockDiag({ ports: [port] });
      if (find(rows, "ESTABLISHED", server.localAddr, server.remoteAddr)?.recvQ === 5) break;
    }
    const listening = find(rows, "LISTEN", listener.addr, null);
    ok(listening, "listener not found");
    strictEqual(listening.recvQ, 0);
    ok(listening.sendQ > 0, "a listener's sendQ is its backlog");
    const serverEnd = find(rows, "ESTABLISHED", server.localAddr, server.remoteAddr);
    ok(serverEnd, "server end not found");
    strictEqual(serverEnd.recvQ, 5);
    strictEqual(serverEnd.info?.bytesReceived, 5);
    const clientEnd = find(rows, "ESTABLISHED", client.localAddr, client.remoteAddr);
    ok(clientEnd, "client end not found");
    strictEqual(clientEnd.info?.bytesAcked, 6); // the SYN counts one
    ok((clientEnd.info?.rttMs ?? 0) > 0, "no RTT");
    ok((clientEnd.info?.mss ?? 0) > 0, "no MSS");
    ok((clientEnd.info?.cwnd ?? 0) > 0, "no cwnd");
    strictEqual(clientEnd.uid, Deno.uid());
    ok((clientEnd.inode ?? 0) > 0, "no inode");
  },
});

Deno.test({
  name: "readSockDiag() keeps only the asked ports, in the kernel or, for many ports, in JS",
  ignore: !linux,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using _client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    using _server = await listener.accept();
    const port = listener.addr.port;
    // Only this test's sockets: a TIME_WAIT left by another test may share the port number.
    const matches = (r: KernelSocket) =>
      r.state !== "TIME_WAIT" && (r.local.port === port || r.remote?.port === port);
    const key = (r: KernelSocket) => `${r.transport} ${r.state} ${r.local.port} ${r.remote?.port}`;
    const all = await readSockDiag({ ports: [port] });
    ok(all.every((r) => r.local.port === port || r.remote?.port === port));
    const few = all.filter(matches);
    ok(few.length >= 3, "listener and both ends expected");
    // More ranges than a bytecode holds: the same answer, filtered after decoding.
    const odd = Array.from({ length: MAX_BYTECODE_RANGES + 1 }, (_, i) => 2 * i + 1);
    const many = await readSockDiag({
      ports: [port, ...odd.filter((p) => Math.abs(p - port) > 1)],
    });
    deepStrictEqual(many.filter(matches).map(key).sort(), few.map(key).sort());
  },
});

Deno.test({
  name: "readSockDiag() finds IPv4 and IPv6 connections in one read, and reads run one at a time",
  ignore: !linux,
  async fn() {
    using v4 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using v4Client = await Deno.connect({ hostname: "127.0.0.1", port: v4.addr.port });
    using _v4Server = await v4.accept();
    let v6: Deno.TcpListener | null = null;
    try {
      v6 = Deno.listen({ hostname: "::1", port: 0 });
    } catch {
      // No IPv6 loopback on this machine: the IPv4 half still runs.
    }
    try {
      const v6Client = v6 && await Deno.connect({ hostname: "::1", port: v6.addr.port });
      using _v6Client = v6Client;
      using _v6Server = v6 && await v6.accept();
      // Two reads at once share the receive buffers: the second waits for the first.
      const [both, v4Only] = await Promise.all([
        readSockDiag({ ports: v6 ? [v4.addr.port, v6.addr.port] : [v4.addr.port] }),
        readSockDiag({ ports: [v4.addr.port], families: [4] }),
      ]);
      ok(find(both, "ESTABLISHED", v4Client.localAddr, v4Client.remoteAddr)?.info, "IPv4 row");
      if (v6 && v6Client) {
        const row = find(both, "ESTABLISHED", v6Client.localAddr, v6Client.remoteAddr);
        ok(row, "IPv6 client end not found");
        strictEqual(row.family, 6);
        ok((row.info?.mss ?? 0) > 0, "IPv6 row without tcp_info");
        ok(find(both, "LISTEN", v6.addr, null), "IPv6 listener not found");
      }
      ok(v4Only.every((r) => r.family === 4), "families: [4] kept IPv6 rows");
      ok(find(v4Only, "LISTEN", v4.addr, null), "IPv4 listener not found");
    } finally {
      v6?.close();
    }
  },
});

Deno.test({
  name: "readSockDiag() finds an unconnected UDP socket",
  ignore: !linux,
  async fn() {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const addr = socket.addr as Deno.NetAddr;
      // A TCP socket of another test may hold the same port number: look at UDP rows only.
      const rows = (await readSockDiag({ ports: [addr.port] })).filter((r) =>
        r.transport === "udp"
      );
      deepStrictEqual(rows.map((r) => [r.transport, r.family, r.state, r.local, r.remote]), [
        ["udp", 4, "UNCONN", { hostname: "127.0.0.1", port: addr.port }, null],
      ]);
    } finally {
      socket.close();
    }
  },
});

Deno.test({
  name: "readSockDiag() throws a clear Error without --allow-ffi",
  ignore: !linux,
  async fn() {
    const script = `import { readSockDiag } from ${
      JSON.stringify(import.meta.resolve("./netlink.ts"))
    };
try { await readSockDiag(); console.log("no error"); } catch (error) { console.log(error.constructor.name + ": " + error.message); }`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    await writer.close();
    const { stdout, stderr } = await child.output();
    strictEqual(
      new TextDecoder().decode(stdout).trim(),
      "Error: Netlink unavailable: FFI needs --allow-ffi (NotCapable)",
      new TextDecoder().decode(stderr),
    );
  },
});
