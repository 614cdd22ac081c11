/**
 * A real reset: close a TCP connection with RST and no FIN, which Deno has
 * no call for (no SO_LINGER, and its close shuts the write side first, which
 * sends FIN). The connection's socket is found from its address pair: the
 * kernel's table (sock_diag) gives its inode, `/proc/self/fd` the descriptor
 * that links to `socket:[inode]`. Through libc (FFI) the socket gets
 * `SO_LINGER {1, 0}`, and a fresh unconnected socket is put in its place on
 * the same descriptor (dup3): that closes the last reference to the real one
 * with linger 0, so the kernel sends RST, and the shutdown Deno makes when
 * the connection is closed later lands on the stand-in, harmlessly.
 *
 * Where that cannot be done (not Linux, no FFI permission, no sock_diag, the
 * descriptor not found) {@linkcode resetUnavailable} and
 * {@linkcode resetSocket} say why, and the caller closes normally.
 */
import { ownSocketLibc } from "./own_socket_ffi.ts";
import { readSockDiag } from "../kernel/netlink.ts";
import type { Address } from "./types.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0x80000;
const O_CLOEXEC = 0x80000;
const SOL_SOCKET = 1;
const SO_LINGER = 13;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  dup3: { parameters: ["i32", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const LIBC = ownSocketLibc(SYMBOLS);

/** Why a real reset cannot be made in this process, or null when it can. Checked once. */
export function resetUnavailable(): string | null {
  return LIBC.unavailable();
}

/**
 * The descriptor of this process linked to `socket:[inode]`, or -1. Reads
 * every entry of `/proc/self/fd`: a few milliseconds at 10,000 descriptors.
 */
export function findSocketFd(inode: number, fdDir = "/proc/self/fd"): number {
  const want = `socket:[${inode}]`;
  for (const entry of Deno.readDirSync(fdDir)) {
    let target: string;
    try {
      target = Deno.readLinkSync(`${fdDir}/${entry.name}`);
    } catch {
      // Closed since the listing (the directory's own descriptor among them).
      continue;
    }
    if (target === want) return Number(entry.name);
  }
  return -1;
}

/** What {@linkcode resetSocket} needs of a connection. */
export interface ResettableConn {
  readonly local: Address;
  readonly remote: Address;
  readonly closed: boolean;
  /** Closes the Deno connection; called in the same turn as the reset, or when it failed. */
  close(reason: string): void;
}

/**
 * Closes `conn` with RST and no FIN; resolves to null when it did, or to why
 * not (the connection is then closed normally, with a FIN).
 */
export async function resetSocket(conn: ResettableConn, reason: string): Promise<string | null> {
  const why = resetUnavailable() ?? await resetOrWhy(conn);
  if (why === null) {
    conn.close(reason);
    return null;
  }
  conn.close(`${reason} (reset unavailable: ${why}; closed normally)`);
  return why;
}

async function resetOrWhy(conn: ResettableConn): Promise<string | null> {
  const { local, remote } = conn;
  const v6 = local.hostname.includes(":");
  let inode = 0;
  try {
    const rows = await readSockDiag({ ports: [local.port], families: [v6 ? 6 : 4] });
    const row = rows.find((r) =>
      r.transport === "tcp" && r.local.port === local.port && r.remote?.port === remote.port &&
      r.local.hostname === local.hostname && r.remote.hostname === remote.hostname
    );
    inode = row?.inode ?? 0;
  } catch (err) {
    return `sock_diag: ${(err as Error).message}`;
  }
  if (inode === 0) return "the socket is not in the kernel's table (sock_diag)";
  // From here on, synchronous: nothing else in this process closes the descriptor meanwhile.
  if (conn.closed) return "the connection closed first";
  const fd = findSocketFd(inode);
  if (fd < 0) return `no descriptor links to socket:[${inode}] in /proc/self/fd`;
  const c = LIBC.open();
  // struct linger { int l_onoff; int l_linger; }
  const linger = new Uint8Array(new Int32Array([1, 0]).buffer);
  if (c.setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, linger.length) !== 0) {
    return `setsockopt(SO_LINGER) failed with errno ${LIBC.errno()}`;
  }
  const standIn = c.socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (standIn < 0) return `socket() failed with errno ${LIBC.errno()}`;
  const swapped = c.dup3(standIn, fd, O_CLOEXEC);
  const code = swapped < 0 ? LIBC.errno() : 0;
  c.close(standIn);
  if (swapped < 0) return `dup3() failed with errno ${code}`;
  return null;
}
