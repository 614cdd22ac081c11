/**
 * Joins the process's sockets with the kernel's table by address pair, the
 * way a user would read `ss` next to the app's own counters. Pure (no I/O);
 * the join fills in the fresh snapshots it is given rather than copying them.
 */
import type { Address, KernelSocket, SocketRecord } from "./types.ts";

/** An endpoint's bound address, so kernel rows on its port can be attributed to it. */
export interface EndpointAddress {
  name: string;
  transport: "tcp" | "udp" | "unix";
  address: Address;
}

/** Strips the IPv4-mapped prefix so `::ffff:127.0.0.1` and `127.0.0.1` compare equal. */
export function normalizeHost(hostname: string): string {
  return hostname.startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}

function isWildcard(hostname: string): boolean {
  return hostname === "0.0.0.0" || hostname === "::";
}

/** The endpoints by transport and port, for {@linkcode endpointFor}. */
type EndpointIndex = Map<number, EndpointAddress[]>;

function indexEndpoints(endpoints: readonly EndpointAddress[]): EndpointIndex {
  const index: EndpointIndex = new Map();
  for (const e of endpoints) {
    const key = (e.transport === "udp" ? 65536 : 0) + e.address.port;
    const list = index.get(key);
    if (list === undefined) index.set(key, [e]);
    else list.push(e);
  }
  return index;
}

function endpointFor(
  index: EndpointIndex,
  transport: string,
  addr: Address | null,
): EndpointAddress | undefined {
  if (addr === null) return undefined;
  const candidates = index.get((transport === "udp" ? 65536 : 0) + addr.port);
  if (candidates === undefined) return undefined;
  const host = normalizeHost(addr.hostname);
  return candidates.find((e) =>
    normalizeHost(e.address.hostname) === host || isWildcard(e.address.hostname)
  );
}

function kernelRow(k: KernelSocket, endpoint: string, peer: boolean): SocketRecord {
  // join() gives a flat string where a template literal gives a tree of concatenations,
  // which JSON.stringify walks several times slower, once per row and per response.
  const remote = k.remote;
  const id = remote === null
    ? [peer ? "p" : "k", k.transport, `${normalizeHost(k.local.hostname)}:${k.local.port}`, "*"]
      .join("-")
    : [
      peer ? "p-" : "k-",
      k.transport,
      "-",
      normalizeHost(k.local.hostname),
      ":",
      k.local.port,
      "-",
      normalizeHost(remote.hostname),
      ":",
      remote.port,
    ].join("");
  return {
    id,
    endpoint,
    transport: k.transport,
    kind: peer ? "peer" : "kernel",
    ours: !peer,
    kernelOnly: !peer,
    state: k.state,
    local: k.local,
    remote: k.remote,
    // A peer connected to one of our endpoints; our own leftovers were accepted by one.
    bytesIn: dataBytesIn(k),
    bytesOut: dataBytesOut(k, peer),
    messagesIn: 0,
    messagesOut: 0,
    app: null,
    kernel: { state: k.state, recvQ: k.recvQ, sendQ: k.sendQ, info: k.info },
    process: k.process,
    openedAt: null,
    closedAt: null,
    closeReason: null,
    lastActivity: null,
  };
}

/**
 * The data bytes the peer acknowledged, from tcp_info's bytes_acked, which counts sequence
 * space: the SYN on the side that connected (`connected`; the accepting side's child socket
 * starts past its SYN-ACK) once the handshake is done, and our FIN once acknowledged, which
 * FIN_WAIT2 and TIME_WAIT imply. (ss -ti on a client that sent 18 bytes: bytes_acked:19, and
 * 20 after shutdown(SHUT_WR) is acknowledged.) 0 where the kernel tells no bytes_acked.
 */
export function dataBytesOut(k: KernelSocket, connected: boolean): number {
  let bytes = k.info?.bytesAcked ?? 0;
  if (connected && k.state !== "SYN_SENT") bytes -= 1;
  if (k.state === "FIN_WAIT2" || k.state === "TIME_WAIT") bytes -= 1;
  return bytes > 0 ? bytes : 0;
}

/**
 * The data bytes received, from tcp_info's bytes_received, which counts the peer's FIN once it
 * arrived in order (CLOSE_WAIT, LAST_ACK, CLOSING, TIME_WAIT) but never its SYN. (ss -ti on
 * a server that read 18 bytes: bytes_received:18, and 19 in CLOSE-WAIT.) 0 where the kernel
 * tells no bytes_received.
 */
export function dataBytesIn(k: KernelSocket): number {
  let bytes = k.info?.bytesReceived ?? 0;
  const state = k.state;
  if (
    state === "CLOSE_WAIT" || state === "LAST_ACK" || state === "CLOSING" ||
    state === "TIME_WAIT"
  ) bytes -= 1;
  return bytes > 0 ? bytes : 0;
}

/**
 * A small integer naming an address pair by its ports: equal pairs get equal keys, and
 * different pairs rarely do. It stays a small integer (a V8 Smi), which a Map hashes at once
 * where a full 32-bit key would be a heap number; callers compare the ports themselves.
 */
function portKey(local: Address, remote: Address | null): number {
  return (local.port << 14) ^ (remote === null ? 0 : remote.port);
}

function samePorts(a: KernelSocket, b: SocketRecord): boolean {
  return a.local.port === b.local.port &&
    (a.remote === null ? 0 : a.remote.port) === (b.remote === null ? 0 : b.remote.port);
}

function sameHost(a: Address | null, b: Address | null): boolean {
  if (a === null || b === null) return a === b;
  return a.hostname === b.hostname || normalizeHost(a.hostname) === normalizeHost(b.hostname);
}

/**
 * Fills each record's `kernel` from the matching kernel row, sets its state
 * to the kernel's, and appends the rows only the kernel has: our leftovers
 * (TIME_WAIT after a close, …) and the peers' sockets that talk to an endpoint.
 * Records are updated in place (callers pass fresh snapshots) and returned,
 * kernel-only rows after them.
 */
export function joinKernel(
  records: SocketRecord[],
  kernel: readonly KernelSocket[],
  endpoints: readonly EndpointAddress[],
): SocketRecord[] {
  // Kernel rows by port key; rows sharing one (other hosts, or several listeners on one
  // port) chain through `next`, newest first, so the last row of a pair wins.
  const byPorts = new Map<number, number>();
  const next = new Int32Array(kernel.length).fill(-1);
  for (let i = 0; i < kernel.length; i++) {
    const k = kernel[i];
    const key = portKey(k.local, k.remote);
    const head = byPorts.get(key);
    if (head !== undefined) next[i] = head;
    byPorts.set(key, i);
  }
  const used = new Uint8Array(kernel.length);
  for (const r of records) {
    let i = byPorts.get(portKey(r.local, r.remote)) ?? -1;
    while (i >= 0) {
      const k = kernel[i];
      if (
        k.transport === r.transport && samePorts(k, r) && sameHost(k.local, r.local) &&
        sameHost(k.remote, r.remote)
      ) {
        break;
      }
      i = next[i];
    }
    if (i < 0) continue;
    const k = kernel[i];
    used[i] = 1;
    // Flows are our own grouping, not kernel sockets; keep their state.
    if (r.kind !== "flow" && r.state !== "CLOSED") r.state = k.state;
    let recvQ = k.recvQ;
    let sendQ = k.sendQ;
    if (k.state === "LISTEN") {
      // An endpoint listening on several sockets (SO_REUSEPORT) is one row: its accept
      // queues and backlogs add up, as the kernel spreads connections over them.
      for (let j = next[i]; j >= 0; j = next[j]) {
        const other = kernel[j];
        if (
          other.state === "LISTEN" && other.transport === k.transport && samePorts(other, r) &&
          sameHost(other.local, k.local)
        ) {
          used[j] = 1;
          recvQ += other.recvQ;
          sendQ += other.sendQ;
        }
      }
    }
    r.kernel = { state: k.state, recvQ, sendQ, info: k.info };
    if (k.process !== undefined) r.process = k.process;
  }
  const out = records;
  const index = indexEndpoints(endpoints);
  for (let i = 0; i < kernel.length; i++) {
    if (used[i] === 1) continue;
    const k = kernel[i];
    const mine = endpointFor(index, k.transport, k.local);
    if (mine !== undefined && k.state !== "LISTEN" && k.state !== "UNCONN") {
      out.push(kernelRow(k, mine.name, false));
      continue;
    }
    const theirs = endpointFor(index, k.transport, k.remote);
    if (theirs !== undefined) out.push(kernelRow(k, theirs.name, true));
  }
  return out;
}

/** What {@linkcode joinUnix} found: rows it could not join and why. */
export interface UnixJoin {
  /** Our Unix connections left without kernel columns. */
  unmatched: number;
}

/**
 * Joins a Unix endpoint's rows with the kernel's AF_UNIX sockets (from sock_diag), in place:
 * the listener with the LISTEN socket at `path`, each connection with an accepted socket at
 * `path` by inode, and appends the peers' sockets (the `ncat -U` on the other end) as peer
 * rows. Accepted sockets all carry the listener's path, and a connection does not know its
 * inode, so `inodes` (connection id -> inode, kept by the caller across calls) learns one
 * when exactly one connection and one socket are new since the last join; connections opened
 * together between two joins stay unmatched and are counted.
 */
export function joinUnix(
  records: SocketRecord[],
  kernel: readonly KernelSocket[],
  endpoint: { name: string; path: string },
  inodes: Map<string, number>,
): UnixJoin {
  const { name, path } = endpoint;
  const accepted = new Map<number, KernelSocket>();
  let listen: KernelSocket | undefined;
  for (const k of kernel) {
    if (k.transport !== "unix" || k.local.hostname !== path) continue;
    if (k.state === "LISTEN") listen = k;
    else if (k.inode !== undefined) accepted.set(k.inode, k);
  }
  const conns: SocketRecord[] = [];
  const live = new Set<string>();
  for (const r of records) {
    if (r.endpoint !== name || r.transport !== "unix") continue;
    if (r.kind === "listener") {
      if (listen !== undefined) {
        r.kernel = { state: "LISTEN", recvQ: listen.recvQ, sendQ: listen.sendQ };
      }
    } else if (r.kind === "conn" && r.state !== "CLOSED") {
      conns.push(r);
      live.add(r.id);
    }
  }
  const taken = new Set<number>();
  for (const [id, inode] of inodes) {
    if (!live.has(id) || !accepted.has(inode)) inodes.delete(id);
    else taken.add(inode);
  }
  const newConns = conns.filter((r) => !inodes.has(r.id));
  const newSockets = [...accepted.keys()].filter((inode) => !taken.has(inode));
  if (newConns.length === 1 && newSockets.length === 1) inodes.set(newConns[0].id, newSockets[0]);
  let unmatched = 0;
  for (const r of conns) {
    const inode = inodes.get(r.id);
    const k = inode === undefined ? undefined : accepted.get(inode);
    if (k === undefined) {
      unmatched++;
      continue;
    }
    r.state = k.state;
    r.kernel = { state: k.state, recvQ: k.recvQ, sendQ: k.sendQ };
  }
  for (const k of kernel) {
    if (k.transport !== "unix" || k.local.hostname === path) continue;
    if (k.peerInode === undefined || !accepted.has(k.peerInode)) continue;
    records.push({
      id: `p-unix-${k.inode}`,
      endpoint: name,
      transport: "unix",
      kind: "peer",
      ours: false,
      kernelOnly: false,
      state: k.state,
      local: k.local,
      remote: { hostname: path, port: 0 },
      bytesIn: 0,
      bytesOut: 0,
      messagesIn: 0,
      messagesOut: 0,
      app: null,
      kernel: { state: k.state, recvQ: k.recvQ, sendQ: k.sendQ },
      openedAt: null,
      closedAt: null,
      closeReason: null,
      lastActivity: null,
    });
  }
  return { unmatched };
}
