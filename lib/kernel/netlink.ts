/**
 * Reads the kernel's TCP and UDP socket tables through netlink sock_diag, via FFI to libc, like
 * `ss -tuani`, without holding up the event loop.
 *
 * The kernel builds a dump as it is read: each receive walks on through the socket hash and
 * fills the next reply (about 32 KiB, 80 sockets with tcp_info). The receives run on another
 * thread, a batch of replies per `recvmmsg`, and this thread decodes one batch while the
 * kernel fills the next; at 20,000 sockets that takes the kernel's time plus a batch's
 * decoding, rather than the two added up.
 */

import { errnoOf, primeErrno } from "../libc.ts";
import type { KernelSocket } from "../net/types.ts";
import { type PortFilter, portFilter, sortedPorts } from "./_row.ts";
import type { KernelRows } from "./kernel_rows.ts";
import {
  encodeSockDiagRequest,
  encodeUnixDiagRequest,
  endsDump,
  MAX_BYTECODE_RANGES,
  SockDiagDecoder,
  SockDiagError,
  SockDiagRowsDecoder,
  UnixDiagDecoder,
} from "./sock_diag.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_SOCK_DIAG = 4;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const ENOENT = 2;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const MSG_DONTWAIT = 0x40;
// recvmmsg waits for the first reply only, then takes what is there.
const MSG_WAITFORONE = 0x10000;
// The kernel fills a dump reply up to 32 KiB (less its own overhead), whatever the reader offers.
const REPLY_BYTES = 32 * 1024;
// Replies per recvmmsg: 512 KiB a batch. Fewer means more thread hand-offs (8 measured
// 20.3 ms at 20,000 sockets, 16 19.4 ms); the kernel's share is about 17 ms either way.
const REPLIES_PER_BATCH = 16;
// struct mmsghdr: a 56-byte msghdr, then msg_len (u32), padded to 64; struct iovec: 16.
const MMSGHDR = 64;
const IOVEC = 16;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // On a thread of Deno's blocking pool: this thread decodes meanwhile.
  recvmmsg: {
    parameters: ["i32", "buffer", "u32", "i32", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** One dump request the reader sends; "both" is TCP over IPv4 and IPv6 in one dump. */
export interface SockDiagQuery {
  family: 4 | 6 | "both";
  transport: "tcp" | "udp";
}

/** Options for {@linkcode readSockDiag}. */
export interface ReadSockDiagOptions {
  /** Only sockets whose local or remote port is one of these (filtered by the kernel when few); empty means every socket. */
  ports?: readonly number[];
  /** Gives up when the kernel sends nothing for this long. @default 2000 */
  timeoutMs?: number;
  /** Address families to dump. @default [4, 6] */
  families?: readonly (4 | 6)[];
  /** Sees every received chunk, e.g. to save fixtures; the chunk is reused after the call. */
  tap?: (chunk: Uint8Array, query: SockDiagQuery) => void;
}

/**
 * Dumps every TCP (all states, with tcp_info) and UDP socket, IPv4 and IPv6, through a
 * NETLINK_SOCK_DIAG socket. Reads run one at a time: they share the receive buffers.
 * Rejects with an Error starting "Netlink unavailable" when FFI or netlink can't be used.
 */
export function readSockDiag(options: ReadSockDiagOptions = {}): Promise<KernelSocket[]> {
  const rows: KernelSocket[] = [];
  const read = queue.then(() =>
    readOnce(options, (transport, filter) => {
      const decoder = new SockDiagDecoder(transport, { filter });
      return {
        decoder,
        // Only a query's whole dump counts: one the kernel refused adds nothing.
        keep: () => {
          for (const row of decoder.sockets) rows.push(row);
        },
      };
    })
  ).then(() => rows);
  queue = read.catch(() => undefined);
  return read;
}

/**
 * As {@linkcode readSockDiag}, into `rows` (cleared first) rather than objects: the same
 * sockets, the fields the diagnoses read, nothing allocated per row. Resolves once `rows` holds
 * the whole table; on a rejection its content is unspecified.
 */
export function readSockDiagRows(
  rows: KernelRows,
  options: ReadSockDiagOptions = {},
): Promise<void> {
  const read = queue.then(() => {
    rows.clear();
    return readOnce(options, (transport, filter) => {
      const from = rows.count;
      const decoder = new SockDiagRowsDecoder(transport, rows, { filter });
      return {
        decoder,
        keep: () => {},
        // A refused query's partial rows are dropped.
        drop: () => {
          rows.count = from;
        },
      };
    });
  });
  queue = read.catch(() => undefined);
  return read;
}

/** A decoder for one query of {@linkcode readOnce}, and what to do with its rows. */
interface QueryDecoder {
  decoder: DumpDecoder;
  /** The query's dump completed. */
  keep(): void;
  /** The query was refused or failed part way. */
  drop?(): void;
}

let queue: Promise<unknown> = Promise.resolve();
// Whether the kernel answers the one-walk TCP request; false after it refused one.
let bothFamiliesInOneDump = true;

async function readOnce(
  options: ReadSockDiagOptions,
  decoderFor: (transport: "tcp" | "udp", filter: PortFilter | undefined) => QueryDecoder,
): Promise<void> {
  const { timeoutMs = 2000, tap } = options;
  if (!(timeoutMs >= 1 && timeoutMs <= 3_600_000)) {
    throw new RangeError(`Cannot read sock_diag: timeoutMs "${timeoutMs}" is not in 1-3600000`);
  }
  const ports = options.ports === undefined || options.ports.length === 0
    ? undefined
    : sortedPorts(options.ports, "read sock_diag");
  // Each port costs the kernel's filter a clause per direction; a long list is matched here.
  const kernelFilter = ports !== undefined && ports.length <= MAX_BYTECODE_RANGES;
  const filter = ports !== undefined && !kernelFilter ? portFilter(ports) : undefined;
  const libc = openLibc();
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    throw new Error(
      `Netlink unavailable: socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed with errno ${errno(libc)}`,
    );
  }
  try {
    setReceiveTimeout(libc, fd, timeoutMs);
    batches ??= [new ReplyBatch(), new ReplyBatch()];
    const families = options.families ?? [4, 6];
    const both = families.includes(4) && families.includes(6);
    const queries: SockDiagQuery[] = [];
    if (both && bothFamiliesInOneDump) queries.push({ family: "both", transport: "tcp" });
    else for (const family of families) queries.push({ family, transport: "tcp" });
    for (const family of families) queries.push({ family, transport: "udp" });
    let seq = 0;
    for (let q = 0; q < queries.length; q++) {
      const query = queries[q];
      const request = encodeSockDiagRequest(query.family, query.transport, {
        ports: kernelFilter ? ports : undefined,
        seq: ++seq,
      });
      const one = decoderFor(query.transport, filter);
      try {
        await dump(libc, fd, request, one.decoder, timeoutMs, (chunk) => tap?.(chunk, query));
      } catch (error) {
        one.drop?.();
        if (!(error instanceof SockDiagError)) throw error;
        // A kernel without the older TCP request: one dump per family from now on.
        if (query.family === "both" && OLD_REQUEST_REFUSED.includes(error.errno)) {
          bothFamiliesInOneDump = false;
          queries.splice(q + 1, 0, { family: 4, transport: "tcp" }, {
            family: 6,
            transport: "tcp",
          });
          continue;
        }
        // Without IPv6 the kernel has no AF_INET6 handler: leave those rows out.
        if (query.family === 6 && error.errno === ENOENT) continue;
        throw error;
      }
      one.keep();
    }
  } finally {
    libc.close(fd);
  }
}

/** Options for {@linkcode readUnixDiag}. */
export interface ReadUnixDiagOptions {
  /** Only the sockets named one of these paths and their peers; every stream socket when unset. */
  paths?: readonly string[];
  /** Gives up when the kernel sends nothing for this long. @default 2000 */
  timeoutMs?: number;
}

/**
 * Dumps the AF_UNIX stream sockets (as `ss -xa`) with their names, peers and queue lengths
 * through NETLINK_SOCK_DIAG; queued behind {@linkcode readSockDiag}, sharing its buffers.
 * Rejects with an Error starting "Netlink unavailable" when FFI or netlink can't be used,
 * and with a SockDiagError when the kernel has no unix_diag (CONFIG_UNIX_DIAG).
 */
export function readUnixDiag(options: ReadUnixDiagOptions = {}): Promise<KernelSocket[]> {
  const read = queue.then(() => readUnixOnce(options));
  queue = read.catch(() => undefined);
  return read;
}

async function readUnixOnce(options: ReadUnixDiagOptions): Promise<KernelSocket[]> {
  const { timeoutMs = 2000 } = options;
  const libc = openLibc();
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) {
    throw new Error(
      `Netlink unavailable: socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed with errno ${errno(libc)}`,
    );
  }
  try {
    setReceiveTimeout(libc, fd, timeoutMs);
    batches ??= [new ReplyBatch(), new ReplyBatch()];
    const decoder = new UnixDiagDecoder({ paths: options.paths });
    await dump(libc, fd, encodeUnixDiagRequest(1), decoder, timeoutMs, () => {});
    return decoder.sockets;
  } finally {
    libc.close(fd);
  }
}

/** What {@linkcode dump} feeds: a sock_diag or unix_diag decoder. */
interface DumpDecoder {
  push(chunk: Uint8Array): boolean;
  readonly done: boolean;
}

const OLD_REQUEST_REFUSED: readonly number[] = [ENOENT, EINVAL, EOPNOTSUPP];

/**
 * Sends one dump request and decodes its replies: while this thread decodes a batch, the
 * next is being received into the other one. Never returns with a receive still running
 * (it writes into the shared buffers).
 */
async function dump(
  libc: Libc,
  fd: number,
  request: Uint8Array,
  decoder: DumpDecoder,
  timeoutMs: number,
  tap: (chunk: Uint8Array) => void,
): Promise<void> {
  if (Number(libc.send(fd, request, BigInt(request.length), 0)) !== request.length) {
    throw new Error(`Netlink unavailable: send() failed with errno ${errno(libc)}`);
  }
  const pair = batches!;
  let current = 0;
  let started = performance.now();
  let receiving: Promise<number> | null = pair[0].receive(libc, fd);
  try {
    while (receiving !== null) {
      const got = await receiving;
      receiving = null;
      const batch = pair[current];
      if (got <= 0) {
        const waited = performance.now() - started;
        // The receive ran on another thread, so its errno is that thread's; this says enough.
        throw new Error(
          got === 0
            ? "Netlink sock_diag dump ended without NLMSG_DONE"
            : waited >= timeoutMs
            ? `Netlink sock_diag dump stalled: nothing received for ${timeoutMs} ms`
            : `Netlink sock_diag recvmmsg() failed (${Math.round(waited)} ms)`,
        );
      }
      if (!endsDump(batch.chunk(got - 1))) {
        current ^= 1;
        started = performance.now();
        receiving = pair[current].receive(libc, fd);
      }
      for (let i = 0; i < got; i++) {
        const chunk = batch.chunk(i);
        tap(chunk);
        decoder.push(chunk);
      }
    }
    if (!decoder.done) throw new Error("Netlink sock_diag dump ended without NLMSG_DONE");
  } finally {
    if (receiving !== null) {
      await receiving.catch(() => 0);
      // Whatever is left of an abandoned dump would be read as the next request's replies.
      drain(libc, fd);
    }
  }
}

/** Reads and drops whatever is waiting on the socket. */
function drain(libc: Libc, fd: number): void {
  const scratch = batches![0].data;
  for (let i = 0; i < 100_000; i++) {
    if (Number(libc.recv(fd, scratch, BigInt(REPLY_BYTES), MSG_DONTWAIT)) <= 0) return;
  }
}

/** Buffers for one recvmmsg: the mmsghdr array, an iovec per reply, and the replies. */
class ReplyBatch {
  readonly headers = new Uint8Array(MMSGHDR * REPLIES_PER_BATCH);
  readonly data = new Uint8Array(REPLY_BYTES * REPLIES_PER_BATCH);
  readonly #iovecs = new Uint8Array(IOVEC * REPLIES_PER_BATCH);
  readonly #lengths = new Uint32Array(this.headers.buffer);

  constructor() {
    // The kernel writes through these addresses, so the buffers live as long as the module.
    const data = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.data));
    const iovecs = Deno.UnsafePointer.value(Deno.UnsafePointer.of(this.#iovecs));
    const iov = new DataView(this.#iovecs.buffer);
    const hdr = new DataView(this.headers.buffer);
    for (let i = 0; i < REPLIES_PER_BATCH; i++) {
      iov.setBigUint64(IOVEC * i, BigInt(data) + BigInt(REPLY_BYTES * i), true);
      iov.setBigUint64(IOVEC * i + 8, BigInt(REPLY_BYTES), true);
      // msg_name stays null; msg_iov at 16, msg_iovlen at 24.
      hdr.setBigUint64(MMSGHDR * i + 16, BigInt(iovecs) + BigInt(IOVEC * i), true);
      hdr.setBigUint64(MMSGHDR * i + 24, 1n, true);
    }
  }

  /** Receives up to a batch of replies; resolves to how many (-1 on an error). */
  receive(libc: Libc, fd: number): Promise<number> {
    return libc.recvmmsg(fd, this.headers, REPLIES_PER_BATCH, MSG_WAITFORONE, null);
  }

  /** Reply `i` of the last receive. */
  chunk(i: number): Uint8Array {
    // msg_len, the 15th u32 of each 64-byte mmsghdr.
    const start = REPLY_BYTES * i;
    return this.data.subarray(start, start + this.#lengths[(MMSGHDR / 4) * i + 14]);
  }
}

// Allocated by the first read, then reused by every read (they run one at a time).
let batches: [ReplyBatch, ReplyBatch] | undefined;
// Binding the symbols costs about a millisecond, so libc stays open for the process's life.
let libcSymbols: Libc | undefined;

function openLibc(): Libc {
  libcSymbols ??= dlopenLibc().symbols;
  return libcSymbols;
}

function dlopenLibc(): Deno.DynamicLibrary<typeof SYMBOLS> {
  if (Deno.build.os !== "linux") {
    throw new Error(`Netlink unavailable: not Linux (${Deno.build.os})`);
  }
  if (typeof Deno.dlopen !== "function") {
    throw new Error("Netlink unavailable: no FFI in this runtime");
  }
  // Checking first keeps Deno from prompting for the permission on a terminal.
  const state = Deno.permissions.querySync?.({ name: "ffi", path: "libc.so.6" }).state ?? "granted";
  if (state !== "granted") {
    throw new Error("Netlink unavailable: FFI needs --allow-ffi (NotCapable)");
  }
  try {
    const lib = Deno.dlopen("libc.so.6", SYMBOLS);
    primeErrno(lib.symbols);
    return lib;
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    if (name === "NotCapable" || name === "PermissionDenied") {
      throw new Error(`Netlink unavailable: FFI needs --allow-ffi (${name})`, { cause: error });
    }
    throw new Error(`Netlink unavailable: cannot load libc.so.6: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function setReceiveTimeout(libc: Libc, fd: number, timeoutMs: number): void {
  // struct timeval { long tv_sec; long tv_usec; } on a 64-bit Linux ABI.
  const timeval = new BigInt64Array([
    BigInt(Math.floor(timeoutMs / 1000)),
    BigInt((timeoutMs % 1000) * 1000),
  ]);
  const bytes = new Uint8Array(timeval.buffer);
  if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, bytes, bytes.length) !== 0) {
    throw new Error(
      `Netlink unavailable: setsockopt(SO_RCVTIMEO) failed with errno ${errno(libc)}`,
    );
  }
}

const errno = errnoOf;
