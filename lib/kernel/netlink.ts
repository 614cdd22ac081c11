/** Reads the kernel's TCP and UDP socket tables through netlink sock_diag, via FFI to libc, like `ss -tuani`. */

import type { KernelSocket } from "../net/types.ts";
import { portFilter, sortedPorts } from "./_row.ts";
import {
  encodeSockDiagRequest,
  MAX_BYTECODE_RANGES,
  SockDiagDecoder,
  SockDiagError,
} from "./sock_diag.ts";

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const NETLINK_SOCK_DIAG = 4;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const EINTR = 4;
const ENOENT = 2;
const EAGAIN = 11;
// The kernel fills each dump reply up to ~32 KiB when the reader offers that much.
const RECV_BUFFER_BYTES = 64 * 1024;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** One dump request the reader sends. */
export interface SockDiagQuery {
  family: 4 | 6;
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

/** The four dumps one sample makes. */
const QUERIES: readonly SockDiagQuery[] = [
  { family: 4, transport: "tcp" },
  { family: 6, transport: "tcp" },
  { family: 4, transport: "udp" },
  { family: 6, transport: "udp" },
];

/**
 * Dumps every TCP (all states, with tcp_info) and UDP socket, IPv4 and IPv6, through a
 * NETLINK_SOCK_DIAG socket. Synchronous: the dump is CPU work in the kernel, done as we read.
 * Throws an Error starting "Netlink unavailable" when FFI or netlink can't be used.
 */
export function readSockDiag(options: ReadSockDiagOptions = {}): KernelSocket[] {
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
    const buffer = receiveBuffer ??= new Uint8Array(RECV_BUFFER_BYTES);
    const rows: KernelSocket[] = [];
    let seq = 0;
    const families = options.families ?? [4, 6];
    for (const query of QUERIES) {
      if (!families.includes(query.family)) continue;
      seq++;
      const request = encodeSockDiagRequest(query.family, query.transport, {
        ports: kernelFilter ? ports : undefined,
        seq,
      });
      if (Number(libc.send(fd, request, BigInt(request.length), 0)) !== request.length) {
        throw new Error(`Netlink unavailable: send() failed with errno ${errno(libc)}`);
      }
      const decoder = new SockDiagDecoder(query.transport, { filter });
      try {
        while (!decoder.done) {
          const got = Number(libc.recv(fd, buffer, BigInt(buffer.length), 0));
          if (got < 0) {
            const code = errno(libc);
            if (code === EINTR) continue;
            throw new Error(
              code === EAGAIN
                ? `Netlink sock_diag dump stalled: nothing received for ${timeoutMs} ms`
                : `Netlink sock_diag recv() failed with errno ${code}`,
            );
          }
          if (got === 0) throw new Error("Netlink sock_diag dump ended without NLMSG_DONE");
          const chunk = buffer.subarray(0, got);
          tap?.(chunk, query);
          decoder.push(chunk);
        }
      } catch (error) {
        // Without IPv6 the kernel has no AF_INET6 handler: leave those rows out.
        if (query.family === 6 && error instanceof SockDiagError && error.errno === ENOENT) {
          continue;
        }
        throw error;
      }
      for (const row of decoder.sockets) rows.push(row);
    }
    return rows;
  } finally {
    libc.close(fd);
  }
}

// Reused by every read: readSockDiag is synchronous, so never re-entered.
let receiveBuffer: Uint8Array | undefined;
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
    return Deno.dlopen("libc.so.6", SYMBOLS);
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

function errno(libc: Libc): number {
  const pointer = libc.__errno_location();
  return pointer === null ? -1 : new Deno.UnsafePointerView(pointer).getInt32();
}
