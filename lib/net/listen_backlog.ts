/**
 * Changes the backlog of sockets this process already listens on. Linux lets
 * `listen(2)` be called again on a listening socket: it only sets the accept
 * queue's limit (`sk_max_ack_backlog`, what `--backlog` sets at bind, capped
 * by net.core.somaxconn). Deno's listener has no call for it, so, as in
 * ./tcp_reset.ts, the kernel's table (sock_diag) gives each LISTEN socket's
 * inode on the port and `/proc/self/fd` its descriptor, and libc's `listen`
 * (FFI) sets the new limit; {@linkcode ShrunkBacklog.restore} sets the old one
 * back. The accept-queue scenario uses it to fill echo's queues with a few
 * dozen connects instead of thousands.
 */
import { ownSocketLibc } from "./own_socket_ffi.ts";
import { readSockDiag } from "../kernel/netlink.ts";
import { findSocketFd } from "./tcp_reset.ts";
import type { Address } from "./types.ts";

const SYMBOLS = {
  listen: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const LIBC = ownSocketLibc(SYMBOLS);

/** Why a listener's backlog cannot be changed in this process, or null when it can. */
export function listenBacklogUnavailable(): string | null {
  return LIBC.unavailable();
}

/** Listeners whose backlog was changed, and how to put it back. */
export interface ShrunkBacklog {
  /** Each listener's backlog before, in the order of `fds`. */
  readonly before: readonly number[];
  /** The listeners' descriptors in this process. */
  readonly fds: readonly number[];
  /** Sets every listener's backlog back to what it was; idempotent. Throws on failure. */
  restore(): void;
}

/**
 * Sets the backlog of every socket of this process listening on `address` to `backlog`.
 * Throws an Error saying why when it cannot (FFI, no listener found, `listen` failing); a
 * listener changed before a failure is set back first.
 */
export async function setListenBacklog(address: Address, backlog: number): Promise<ShrunkBacklog> {
  if (!Number.isInteger(backlog) || backlog < 0 || backlog > 65535) {
    throw new RangeError(`Cannot set backlog: "${backlog}" is not in 0-65535`);
  }
  const why = listenBacklogUnavailable();
  if (why !== null) throw new Error(`Cannot set backlog: ${why}`);
  const v6 = address.hostname.includes(":");
  const rows = await readSockDiag({ ports: [address.port], families: [v6 ? 6 : 4] });
  const fds: number[] = [];
  const before: number[] = [];
  for (const r of rows) {
    if (
      r.transport !== "tcp" || r.state !== "LISTEN" || r.local.port !== address.port ||
      r.local.hostname !== address.hostname || r.inode === undefined
    ) continue;
    // Another process's listener (SO_REUSEPORT) has no descriptor here: left alone.
    const fd = findSocketFd(r.inode);
    if (fd < 0) continue;
    fds.push(fd);
    // For LISTEN the kernel reports the backlog as the send queue.
    before.push(r.sendQ);
  }
  if (fds.length === 0) {
    throw new Error(
      `Cannot set backlog: this process has no listener on ${address.hostname}:${address.port}`,
    );
  }
  const c = LIBC.open();
  let restored = false;
  const restore = (upTo: number) => {
    let failed = 0;
    for (let i = 0; i < upTo; i++) if (c.listen(fds[i], before[i]) !== 0) failed = LIBC.errno();
    if (failed !== 0) throw new Error(`Cannot restore backlog: listen failed with errno ${failed}`);
  };
  for (let i = 0; i < fds.length; i++) {
    if (c.listen(fds[i], backlog) !== 0) {
      const code = LIBC.errno();
      restore(i);
      throw new Error(`Cannot set backlog: listen failed with errno ${code}`);
    }
  }
  return {
    before,
    fds,
    restore() {
      if (restored) return;
      restored = true;
      restore(fds.length);
    },
  };
}
