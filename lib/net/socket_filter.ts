/**
 * Real loss on loopback without `tc`: a classic BPF socket filter
 * (`SO_ATTACH_FILTER`) on one of this process's own TCP connections. Linux
 * runs a socket's filter on every segment that arrives for it
 * (`tcp_v4_rcv` -> `tcp_filter`) and discards the ones it rejects, after
 * they crossed the wire and before TCP sees them: the peer really sent them
 * and they are really lost at the receiver, so the peer's retransmission
 * timer, backoff and counters react as to loss on a path. Only the socket
 * the filter is attached to is affected.
 *
 * A Deno `TcpConn` has no descriptor in its API: as in ./tcp_reset.ts, the
 * kernel's table (sock_diag) gives the socket's inode for its address pair
 * and `/proc/self/fd` the descriptor linked to `socket:[inode]`; libc's
 * `setsockopt` (FFI) attaches the program there. Where that cannot be done
 * (not Linux, no FFI permission) {@linkcode socketFilterUnavailable} says why.
 */
import { ownSocketLibc } from "./own_socket_ffi.ts";
import { readSockDiag } from "../kernel/netlink.ts";
import { findSocketFd } from "./tcp_reset.ts";

const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const SO_DETACH_FILTER = 27;

// Opcodes (linux/filter.h): class | size | mode.
const LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K (unsigned)
const RET_K = 0x06; // BPF_RET | BPF_K

/**
 * The ancillary load that puts a fresh 32-bit random number in A:
 * `SKF_AD_OFF (-0x1000) + SKF_AD_RANDOM (56)`, as an unsigned `k`.
 */
export const LOAD_RANDOM_K = (-0x1000 + 56) >>> 0;

/**
 * What a filter returns to keep a whole segment. A smaller number would cut the segment's
 * payload to that many bytes (TCP keeps at least the header), so "keep" is the largest.
 */
export const KEEP_ALL = 0xffffffff;

/** Size in bytes of one `struct sock_filter`. */
const INSN_BYTES = 8;

const SYMBOLS = {
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const LIBC = ownSocketLibc(SYMBOLS);
type Libc = ReturnType<typeof LIBC.open>;

/** Why a socket filter cannot be attached in this process, or null when it can. Checked once. */
export function socketFilterUnavailable(): string | null {
  return LIBC.unavailable();
}

function assemble(insns: readonly [code: number, jt: number, jf: number, k: number][]): Uint8Array {
  const out = new Uint8Array(insns.length * INSN_BYTES);
  const view = new DataView(out.buffer);
  insns.forEach(([code, jt, jf, k], i) => {
    const o = i * INSN_BYTES;
    view.setUint16(o, code, true);
    view.setUint8(o + 2, jt);
    view.setUint8(o + 3, jf);
    view.setUint32(o + 4, k >>> 0, true);
  });
  return out;
}

/** The program that drops every incoming segment (`ret #0`): the peer hears nothing back. */
export function dropAllFilter(): Uint8Array {
  return assemble([[RET_K, 0, 0, 0]]);
}

/**
 * The program that drops each incoming segment with probability `fraction`, independently:
 * `ld rand; jge #threshold, keep, drop` with `threshold = round(fraction × 2^32)`. Throws a
 * RangeError unless 0 < fraction < 1.
 */
export function dropFractionFilter(fraction: number): Uint8Array {
  if (!(fraction > 0 && fraction < 1)) {
    throw new RangeError(`Cannot build drop filter: fraction "${fraction}" is not in (0, 1)`);
  }
  const threshold = Math.min(0xffffffff, Math.round(fraction * 2 ** 32));
  return assemble([
    [LD_W_ABS, 0, 0, LOAD_RANDOM_K],
    // A >= threshold: keep (the next instruction); else drop (skip one).
    [JGE_K, 0, 1, threshold],
    [RET_K, 0, 0, KEEP_ALL],
    [RET_K, 0, 0, 0],
  ]);
}

/**
 * Runs a program of {@linkcode dropAllFilter} or {@linkcode dropFractionFilter} as the kernel
 * would, with `random` as the value `ld rand` loads; returns what the kernel keeps of a segment
 * (0: dropped). For tests.
 */
export function runSocketFilter(program: Uint8Array, random: number): number {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const n = program.length / INSN_BYTES;
  let a = 0;
  for (let pc = 0; pc < n;) {
    const o = pc * INSN_BYTES;
    const code = view.getUint16(o, true);
    const jt = view.getUint8(o + 2);
    const jf = view.getUint8(o + 3);
    const k = view.getUint32(o + 4, true);
    pc++;
    if (code === LD_W_ABS && k === LOAD_RANDOM_K) a = random >>> 0;
    else if (code === JGE_K) pc += a >= k ? jt : jf;
    else if (code === RET_K) return k;
    else throw new TypeError(`Cannot run socket filter: opcode "${code}" is not supported`);
  }
  return 0;
}

/** A filter attached to one connection's socket. */
export interface AttachedFilter {
  /** The connection's descriptor in this process. */
  readonly fd: number;
  /** Removes the filter (`SO_DETACH_FILTER`): segments reach TCP again. Throws on failure. */
  detach(): void;
}

/** The addresses of a connection whose socket gets a filter (a `Deno.TcpConn` has them). */
export interface FilterableConn {
  readonly localAddr: Deno.Addr;
  readonly remoteAddr: Deno.Addr;
}

/**
 * Attaches `program` to the socket of `conn`, one of this process's TCP connections; it
 * applies to every segment arriving from then on. Throws an Error saying why it could not
 * (FFI, the socket not in sock_diag, no descriptor, `setsockopt` failing). Detach it, or
 * close the connection, before the descriptor can be reused.
 */
export async function attachSocketFilter(
  conn: FilterableConn,
  program: Uint8Array,
): Promise<AttachedFilter> {
  const why = socketFilterUnavailable();
  if (why !== null) throw new Error(`Cannot attach socket filter: ${why}`);
  const local = conn.localAddr as Deno.NetAddr;
  const remote = conn.remoteAddr as Deno.NetAddr;
  if (local.transport !== "tcp" || remote.transport !== "tcp") {
    throw new TypeError("Cannot attach socket filter: not a TCP connection");
  }
  const v6 = local.hostname.includes(":");
  const rows = await readSockDiag({ ports: [local.port], families: [v6 ? 6 : 4] });
  const row = rows.find((r) =>
    r.transport === "tcp" && r.local.port === local.port && r.remote?.port === remote.port &&
    r.local.hostname === local.hostname && r.remote.hostname === remote.hostname
  );
  const inode = row?.inode ?? 0;
  if (inode === 0) {
    throw new Error("Cannot attach socket filter: the socket is not in the kernel's table");
  }
  const fd = findSocketFd(inode);
  if (fd < 0) {
    throw new Error(`Cannot attach socket filter: no descriptor links to socket:[${inode}]`);
  }
  const c = LIBC.open();
  if (setFilter(c, fd, program) !== 0) {
    throw new Error(`Cannot attach socket filter: setsockopt failed with errno ${LIBC.errno()}`);
  }
  let attached = true;
  return {
    fd,
    detach() {
      if (!attached) return;
      attached = false;
      // The option's value is ignored, but the kernel wants at least an int's length.
      const zero = new Uint8Array(4);
      if (c.setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, zero, zero.length) !== 0) {
        throw new Error(
          `Cannot detach socket filter: setsockopt failed with errno ${LIBC.errno()}`,
        );
      }
    },
  };
}

function setFilter(c: Libc, fd: number, program: Uint8Array): number {
  // struct sock_fprog: u16 length (instructions), padding, pointer to the instructions; the
  // kernel copies the program during the call.
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.length / INSN_BYTES, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  return c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, fprog.length);
}
