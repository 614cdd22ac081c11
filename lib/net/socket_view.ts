/**
 * Joins the process's sockets with the kernel's table by address pair, the
 * way a user would read `ss` next to the app's own counters. Pure.
 */
import type { Address, KernelSocket, SocketRecord } from "./types.ts";

/** An endpoint's bound address, so kernel rows on its port can be attributed to it. */
export interface EndpointAddress {
  name: string;
  transport: "tcp" | "udp";
  address: Address;
}

/** Strips the IPv4-mapped prefix so `::ffff:127.0.0.1` and `127.0.0.1` compare equal. */
export function normalizeHost(hostname: string): string {
  return hostname.startsWith("::ffff:") && hostname.includes(".") ? hostname.slice(7) : hostname;
}

function addrKey(a: Address | null): string {
  return a === null ? "*" : `${normalizeHost(a.hostname)}:${a.port}`;
}

function pairKey(transport: string, local: Address, remote: Address | null): string {
  return `${transport}|${addrKey(local)}|${addrKey(remote)}`;
}

function isWildcard(hostname: string): boolean {
  return hostname === "0.0.0.0" || hostname === "::";
}

function endpointFor(
  endpoints: readonly EndpointAddress[],
  transport: string,
  addr: Address | null,
): EndpointAddress | undefined {
  if (addr === null) return undefined;
  const host = normalizeHost(addr.hostname);
  return endpoints.find((e) =>
    e.transport === transport && e.address.port === addr.port &&
    (normalizeHost(e.address.hostname) === host || isWildcard(e.address.hostname))
  );
}

function kernelRow(k: KernelSocket, endpoint: string, peer: boolean): SocketRecord {
  const id = `${peer ? "p" : "k"}-${k.transport}-${addrKey(k.local)}-${addrKey(k.remote)}`;
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
    bytesIn: k.info?.bytesReceived ?? 0,
    bytesOut: k.info?.bytesAcked ?? 0,
    messagesIn: 0,
    messagesOut: 0,
    app: null,
    kernel: { state: k.state, recvQ: k.recvQ, sendQ: k.sendQ, info: k.info },
    openedAt: null,
    closedAt: null,
    closeReason: null,
    lastActivity: null,
  };
}

/**
 * Fills each record's `kernel` from the matching kernel row, sets its state
 * to the kernel's, and appends the rows only the kernel has: our leftovers
 * (TIME_WAIT after a close, …) and the peers' sockets that talk to an endpoint.
 */
export function joinKernel(
  records: readonly SocketRecord[],
  kernel: readonly KernelSocket[],
  endpoints: readonly EndpointAddress[],
): SocketRecord[] {
  const byPair = new Map<string, KernelSocket>();
  for (const k of kernel) byPair.set(pairKey(k.transport, k.local, k.remote), k);
  const used = new Set<KernelSocket>();
  const out: SocketRecord[] = [];
  for (const r of records) {
    const k = byPair.get(pairKey(r.transport, r.local, r.remote));
    if (k === undefined) {
      out.push(r);
      continue;
    }
    used.add(k);
    // Flows are our own grouping, not kernel sockets; keep their state.
    const state = r.kind === "flow" || r.state === "CLOSED" ? r.state : k.state;
    out.push({
      ...r,
      state,
      kernel: { state: k.state, recvQ: k.recvQ, sendQ: k.sendQ, info: k.info },
    });
  }
  for (const k of kernel) {
    if (used.has(k)) continue;
    const mine = endpointFor(endpoints, k.transport, k.local);
    if (mine !== undefined && k.state !== "LISTEN" && k.state !== "UNCONN") {
      out.push(kernelRow(k, mine.name, false));
      continue;
    }
    const theirs = endpointFor(endpoints, k.transport, k.remote);
    if (theirs !== undefined) out.push(kernelRow(k, theirs.name, true));
  }
  return out;
}
