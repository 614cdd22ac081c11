import assert from "node:assert/strict";
import { dataBytesIn, dataBytesOut, joinKernel, normalizeHost } from "./socket_view.ts";
import type { KernelSocket, SocketRecord } from "./types.ts";

function ours(id: string, local: number, remote: number | null): SocketRecord {
  return {
    id,
    endpoint: "echo",
    transport: "tcp",
    kind: remote === null ? "listener" : "conn",
    ours: true,
    kernelOnly: false,
    state: remote === null ? "LISTEN" : "ESTABLISHED",
    local: { hostname: "127.0.0.1", port: local },
    remote: remote === null ? null : { hostname: "127.0.0.1", port: remote },
    bytesIn: 1,
    bytesOut: 1,
    messagesIn: 1,
    messagesOut: 1,
    app: remote === null ? null : { rxBuffered: 0, txBuffered: 0 },
    kernel: null,
    openedAt: 0,
    closedAt: null,
    closeReason: null,
    lastActivity: 0,
  };
}

function k(
  state: KernelSocket["state"],
  local: number,
  remote: number | null,
  q = [0, 0],
): KernelSocket {
  return {
    transport: "tcp",
    family: 4,
    state,
    local: { hostname: "127.0.0.1", port: local },
    remote: remote === null ? null : { hostname: "127.0.0.1", port: remote },
    recvQ: q[0],
    sendQ: q[1],
  };
}

const endpoints = [{
  name: "echo",
  transport: "tcp" as const,
  address: { hostname: "127.0.0.1", port: 65432 },
}];

Deno.test("joinKernel() fills our rows from the kernel row with the same address pair", () => {
  const out = joinKernel(
    [ours("l-echo", 65432, null), ours("c1", 65432, 40000)],
    [k("LISTEN", 65432, null, [2, 4096]), k("CLOSE_WAIT", 65432, 40000, [7, 0])],
    endpoints,
  );
  assert.deepEqual(out[0].kernel, { state: "LISTEN", recvQ: 2, sendQ: 4096, info: undefined });
  assert.equal(out[1].state, "CLOSE_WAIT", "the kernel's state wins");
  assert.equal(out[1].kernel?.recvQ, 7);
});

Deno.test("joinKernel() adds up the queues of an endpoint's listeners sharing its port", () => {
  const out = joinKernel(
    [ours("l-echo", 65432, null)],
    [
      k("LISTEN", 65432, null, [2, 4096]),
      k("LISTEN", 65432, null, [0, 4096]),
      k("ESTABLISHED", 65432, 40000),
      k("LISTEN", 65432, null, [5, 4096]),
    ],
    endpoints,
  );
  assert.deepEqual(
    out.filter((r) => r.state === "LISTEN").map((r) => [r.id, r.kernel?.recvQ, r.kernel?.sendQ]),
    [
      ["l-echo", 7, 12288],
    ],
  );
});

Deno.test("joinKernel() adds the peer's socket as not ours, seen from the peer", () => {
  const out = joinKernel([ours("c1", 65432, 40000)], [
    k("ESTABLISHED", 65432, 40000),
    k("ESTABLISHED", 40000, 65432, [0, 9000]),
  ], endpoints);
  const peer = out.find((r) => r.kind === "peer")!;
  assert.equal(peer.ours, false);
  assert.equal(peer.local.port, 40000);
  assert.equal(peer.remote?.port, 65432);
  assert.equal(peer.kernel?.sendQ, 9000);
  assert.equal(peer.endpoint, "echo");
});

Deno.test("joinKernel() lists our leftovers the kernel still has as kernel-only", () => {
  const out = joinKernel(
    [],
    [k("TIME_WAIT", 65432, 40001), k("ESTABLISHED", 5000, 6000)],
    endpoints,
  );
  assert.equal(out.length, 1, "sockets unrelated to our endpoints are left out");
  assert.equal(out[0].kernelOnly, true);
  assert.equal(out[0].state, "TIME_WAIT");
});

Deno.test("normalizeHost() treats IPv4-mapped IPv6 as IPv4", () => {
  assert.equal(normalizeHost("::ffff:127.0.0.1"), "127.0.0.1");
  assert.equal(normalizeHost("::1"), "::1");
});

Deno.test("joinKernel() counts data bytes on peer and kernel-only rows, not the SYN and FINs", () => {
  const withInfo = (row: KernelSocket, bytesAcked: number, bytesReceived: number) => ({
    ...row,
    info: { bytesAcked, bytesReceived },
  });
  const out = joinKernel([], [
    // The peer connected and sent 18 bytes: bytes_acked counts its SYN too.
    withInfo(k("ESTABLISHED", 40000, 65432), 19, 5),
    // Our accepted socket, closed by the peer: bytes_received counts the peer's FIN.
    withInfo(k("CLOSE_WAIT", 65432, 40001), 5, 19),
  ], endpoints);
  const peer = out.find((r) => r.kind === "peer")!;
  assert.deepEqual([peer.bytesOut, peer.bytesIn], [18, 5]);
  const mine = out.find((r) => r.kind === "kernel")!;
  assert.deepEqual([mine.bytesOut, mine.bytesIn], [5, 18]);
});

Deno.test("dataBytesOut() and dataBytesIn() take off the SYN and FINs each state implies", () => {
  const row = (state: KernelSocket["state"], bytesAcked: number, bytesReceived: number) => ({
    ...k(state, 40000, 65432),
    info: { bytesAcked, bytesReceived },
  });
  // Figures from ss -ti on a client that sent 18 bytes and read 5 (see tests/kernel_view_test.ts).
  assert.equal(dataBytesOut(row("SYN_SENT", 0, 0), true), 0);
  assert.equal(dataBytesOut(row("ESTABLISHED", 1, 0), true), 0);
  assert.equal(dataBytesOut(row("ESTABLISHED", 19, 5), true), 18);
  assert.equal(dataBytesOut(row("FIN_WAIT1", 19, 5), true), 18, "our FIN not yet acknowledged");
  assert.equal(dataBytesOut(row("FIN_WAIT2", 20, 5), true), 18);
  assert.equal(dataBytesOut(row("ESTABLISHED", 5, 18), false), 5, "the accepting side");
  assert.equal(dataBytesOut(row("LAST_ACK", 5, 19), false), 5);
  assert.equal(dataBytesIn(row("ESTABLISHED", 19, 5)), 5);
  assert.equal(dataBytesIn(row("FIN_WAIT2", 20, 5)), 5, "no FIN from the peer yet");
  for (const state of ["CLOSE_WAIT", "LAST_ACK", "CLOSING", "TIME_WAIT"] as const) {
    assert.equal(dataBytesIn(row(state, 5, 19)), 18, state);
  }
  // No tcp_info (a TIME_WAIT socket, or /proc): nothing to count.
  assert.equal(dataBytesOut(k("TIME_WAIT", 40000, 65432), true), 0);
  assert.equal(dataBytesIn(k("TIME_WAIT", 40000, 65432)), 0);
});
