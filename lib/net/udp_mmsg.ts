/**
 * A UDP socket driven through libc by FFI, a batch of datagrams per system
 * call (`recvmmsg`/`sendmmsg`): the UDP endpoint's default path wherever FFI
 * is allowed, and the benchmark's load generator.
 *
 * Deno's `DatagramConn` costs one async op per datagram each way; this costs
 * one synchronous FFI call per batch while datagrams keep coming, and a
 * non-blocking (threaded) `poll` only when the socket is idle. FFI bypasses
 * Deno's permission checks, so it is used only with `--allow-ffi` (checked
 * first, so Deno never prompts for it); {@linkcode openMmsgSocket} throws an Error starting "UDP fast
 * path unavailable" whenever it cannot be used, and callers fall back.
 * Linux on 64-bit only (the struct layouts below).
 */

import { errnoOf, primeErrno } from "../libc.ts";

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0x800;
const SOCK_CLOEXEC = 0x80000;
const MSG_DONTWAIT = 0x40;
const POLLIN = 1;
const EAGAIN = 11;
const EINTR = 4;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_SNDBUF = 7;
// struct mmsghdr: a 56-byte msghdr, then msg_len (u32), padded to 64.
const MMSGHDR = 64;
const IOVEC = 16;
// Room for a sockaddr_in6 (28 bytes), rounded up.
const SOCKADDR = 32;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  sendmmsg: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | undefined;

function openLibc(): Libc {
  if (libc !== undefined) return libc;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    throw new Error(`UDP fast path unavailable: not 64-bit Linux (${Deno.build.os})`);
  }
  if (typeof Deno.dlopen !== "function") {
    throw new Error("UDP fast path unavailable: no FFI in this runtime");
  }
  // Checking first keeps Deno from prompting for the permission on a terminal.
  const state = Deno.permissions.querySync?.({ name: "ffi", path: "libc.so.6" }).state ?? "granted";
  if (state !== "granted") {
    throw new Error("UDP fast path unavailable: FFI needs --allow-ffi (NotCapable)");
  }
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    primeErrno(libc);
  } catch (error) {
    throw new Error(`UDP fast path unavailable: ${(error as Error).message}`, { cause: error });
  }
  return libc;
}

const errno = errnoOf;

function address(ptr: Uint8Array): bigint {
  return Deno.UnsafePointer.value(Deno.UnsafePointer.of(ptr));
}

/** Encodes an IPv4 or IPv6 literal and port as a sockaddr; throws TypeError on anything else. */
export function encodeSockaddr(hostname: string, port: number, out: Uint8Array): number {
  out.fill(0);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname);
  if (v4 !== null) {
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    for (let i = 0; i < 4; i++) out[4 + i] = Number(v4[i + 1]);
    return 16;
  }
  if (hostname.includes(":")) {
    view.setUint16(0, AF_INET6, true);
    view.setUint16(2, port, false);
    const [head, tail = ""] = hostname.split("::");
    const h = head === "" ? [] : head.split(":");
    const t = tail === "" ? [] : tail.split(":");
    const groups = hostname.includes("::")
      ? [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t]
      : h;
    if (groups.length !== 8) {
      throw new TypeError(`Cannot encode address: "${hostname}" is not an IPv6 literal`);
    }
    for (let i = 0; i < 8; i++) view.setUint16(8 + 2 * i, parseInt(groups[i], 16), false);
    return 28;
  }
  throw new TypeError(`Cannot encode address: "${hostname}" is not an IP literal`);
}

/** Decodes a sockaddr_in or sockaddr_in6 into a hostname and port. */
export function decodeSockaddr(bytes: Uint8Array): { hostname: string; port: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (family === AF_INET) {
    return { hostname: `${bytes[4]}.${bytes[5]}.${bytes[6]}.${bytes[7]}`, port };
  }
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(8 + 2 * i, false).toString(16));
  return { hostname: groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::"), port };
}

/** Sizes of an {@linkcode MmsgSocket}'s batches. */
export interface MmsgOptions {
  /** Datagrams per system call. @default 64 */
  batch?: number;
  /** Largest datagram received whole; longer ones are truncated. @default 2048 */
  maxDatagram?: number;
  /** SO_RCVBUF and SO_SNDBUF, 0 to keep the system's. @default 4194304 */
  socketBuffer?: number;
}

/**
 * A bound UDP socket with one receive batch and one send batch, both
 * preallocated: `recv()` fills `rx` slots, `send()` sends `tx` slots.
 */
export class MmsgSocket {
  readonly batch: number;
  readonly maxDatagram: number;
  readonly hostname: string;
  readonly port: number;
  /** Receive slots: payload bytes (view `rxData[i].subarray(0, rxLength[i])`) and sender. */
  readonly rxData: Uint8Array[] = [];
  readonly rxLength: Uint32Array;
  readonly rxAddr: Uint8Array[] = [];
  /** Send slots: fill `txData[i]`, then `send(count, lengths)` with each peer in `txAddr[i]`. */
  readonly txData: Uint8Array[] = [];
  readonly txAddr: Uint8Array[] = [];
  #c: Libc;
  #fd: number;
  #rxHdr: Uint8Array;
  #rxView: DataView;
  #txHdr: Uint8Array;
  #txView: DataView;
  #txIov: Uint8Array;
  #txIovView: DataView;
  #txAddrLen: Uint32Array;
  // Headers that send the receive slots back where they came from (echo without a copy).
  #echoHdr: Uint8Array;
  #echoView: DataView;
  #echoIovView: DataView;
  #pollfd: Uint8Array;
  #closed = false;
  // Everything the kernel reads through raw pointers stays referenced here.
  #keep: Uint8Array[] = [];

  constructor(c: Libc, fd: number, family: number, options: MmsgOptions) {
    this.#c = c;
    this.#fd = fd;
    this.batch = options.batch ?? 64;
    this.maxDatagram = options.maxDatagram ?? 2048;
    const n = this.batch;
    this.rxLength = new Uint32Array(n);
    this.#txAddrLen = new Uint32Array(n).fill(family === AF_INET ? 16 : 28);
    this.#rxHdr = new Uint8Array(n * MMSGHDR);
    this.#rxView = new DataView(this.#rxHdr.buffer);
    this.#txHdr = new Uint8Array(n * MMSGHDR);
    this.#txView = new DataView(this.#txHdr.buffer);
    const rxIov = new Uint8Array(n * IOVEC);
    const rxIovView = new DataView(rxIov.buffer);
    this.#txIov = new Uint8Array(n * IOVEC);
    this.#txIovView = new DataView(this.#txIov.buffer);
    const rxData = new Uint8Array(n * this.maxDatagram);
    const txData = new Uint8Array(n * this.maxDatagram);
    const rxAddr = new Uint8Array(n * SOCKADDR);
    const txAddr = new Uint8Array(n * SOCKADDR);
    this.#echoHdr = new Uint8Array(n * MMSGHDR);
    this.#echoView = new DataView(this.#echoHdr.buffer);
    const echoIov = new Uint8Array(n * IOVEC);
    this.#echoIovView = new DataView(echoIov.buffer);
    this.#keep.push(rxIov, rxData, txData, rxAddr, txAddr, echoIov);
    const echoIovBase = address(echoIov);
    const rxIovBase = address(rxIov);
    const txIovBase = address(this.#txIov);
    const rxDataBase = address(rxData);
    const txDataBase = address(txData);
    const rxAddrBase = address(rxAddr);
    const txAddrBase = address(txAddr);
    const m = BigInt(this.maxDatagram);
    for (let i = 0; i < n; i++) {
      const b = BigInt(i);
      this.rxData.push(rxData.subarray(i * this.maxDatagram, (i + 1) * this.maxDatagram));
      this.txData.push(txData.subarray(i * this.maxDatagram, (i + 1) * this.maxDatagram));
      this.rxAddr.push(rxAddr.subarray(i * SOCKADDR, (i + 1) * SOCKADDR));
      this.txAddr.push(txAddr.subarray(i * SOCKADDR, (i + 1) * SOCKADDR));
      rxIovView.setBigUint64(i * IOVEC, rxDataBase + b * m, true);
      rxIovView.setBigUint64(i * IOVEC + 8, m, true);
      this.#txIovView.setBigUint64(i * IOVEC, txDataBase + b * m, true);
      const h = i * MMSGHDR;
      this.#rxView.setBigUint64(h, rxAddrBase + b * BigInt(SOCKADDR), true);
      this.#rxView.setUint32(h + 8, SOCKADDR, true);
      this.#rxView.setBigUint64(h + 16, rxIovBase + b * BigInt(IOVEC), true);
      this.#rxView.setBigUint64(h + 24, 1n, true);
      this.#txView.setBigUint64(h, txAddrBase + b * BigInt(SOCKADDR), true);
      this.#txView.setBigUint64(h + 16, txIovBase + b * BigInt(IOVEC), true);
      this.#txView.setBigUint64(h + 24, 1n, true);
      this.#echoIovView.setBigUint64(i * IOVEC, rxDataBase + b * m, true);
      this.#echoView.setBigUint64(h, rxAddrBase + b * BigInt(SOCKADDR), true);
      this.#echoView.setBigUint64(h + 16, echoIovBase + b * BigInt(IOVEC), true);
      this.#echoView.setBigUint64(h + 24, 1n, true);
    }
    const name = new Uint8Array(SOCKADDR);
    const len = new Uint32Array([SOCKADDR]);
    if (c.getsockname(fd, name, new Uint8Array(len.buffer)) !== 0) {
      throw new Error(`UDP fast path unavailable: getsockname() failed with errno ${errno(c)}`);
    }
    const local = decodeSockaddr(name);
    this.hostname = local.hostname;
    this.port = local.port;
    // struct pollfd { int fd; short events; short revents; }
    this.#pollfd = new Uint8Array(8);
    new DataView(this.#pollfd.buffer).setInt32(0, fd, true);
    new DataView(this.#pollfd.buffer).setInt16(4, POLLIN, true);
  }

  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Receives what is queued, up to one batch, without waiting; returns how
   * many slots were filled (0 when nothing is queued). Throws on a socket error.
   */
  recv(): number {
    if (this.#closed) return 0;
    const view = this.#rxView;
    for (let i = 0; i < this.batch; i++) view.setUint32(i * MMSGHDR + 8, SOCKADDR, true);
    for (;;) {
      const n = this.#c.recvmmsg(this.#fd, this.#rxHdr, this.batch, MSG_DONTWAIT, null);
      if (n >= 0) {
        for (let i = 0; i < n; i++) this.rxLength[i] = view.getUint32(i * MMSGHDR + 56, true);
        return n;
      }
      const code = errno(this.#c);
      if (code === EAGAIN) return 0;
      if (code !== EINTR) throw new Error(`recvmmsg() failed with errno ${code}`);
    }
  }

  /**
   * Sends the first `count` tx slots, `lengths[i]` bytes of `txData[i]` to
   * `txAddr[i]`; returns how many the kernel took (the rest are dropped, as
   * a full socket buffer drops datagrams).
   */
  send(count: number, lengths: ArrayLike<number>): number {
    if (this.#closed || count === 0) return 0;
    const iov = this.#txIovView;
    const hdr = this.#txView;
    for (let i = 0; i < count; i++) {
      iov.setBigUint64(i * IOVEC + 8, BigInt(lengths[i]), true);
      hdr.setUint32(i * MMSGHDR + 8, this.#txAddrLen[i], true);
    }
    let sent = 0;
    while (sent < count) {
      const n = this.#c.sendmmsg(
        this.#fd,
        sent === 0 ? this.#txHdr : this.#txHdr.subarray(sent * MMSGHDR),
        count - sent,
        0,
      );
      if (n > 0) {
        sent += n;
        continue;
      }
      const code = errno(this.#c);
      if (code === EINTR) continue;
      break;
    }
    return sent;
  }

  /**
   * Sends each of the first `count` receive slots back to its sender,
   * unchanged and without a copy; returns how many the kernel took.
   */
  echo(count: number): number {
    if (this.#closed || count === 0) return 0;
    const rx = this.#rxView;
    const hdr = this.#echoView;
    const iov = this.#echoIovView;
    for (let i = 0; i < count; i++) {
      iov.setBigUint64(i * IOVEC + 8, BigInt(this.rxLength[i]), true);
      // The kernel wrote each sender's address length into the receive header.
      hdr.setUint32(i * MMSGHDR + 8, rx.getUint32(i * MMSGHDR + 8, true), true);
    }
    let sent = 0;
    while (sent < count) {
      const n = this.#c.sendmmsg(
        this.#fd,
        sent === 0 ? this.#echoHdr : this.#echoHdr.subarray(sent * MMSGHDR),
        count - sent,
        0,
      );
      if (n > 0) {
        sent += n;
        continue;
      }
      if (errno(this.#c) !== EINTR) break;
    }
    return sent;
  }

  /** Sets tx slot `i`'s peer to rx slot `j`'s sender (echo). */
  replyTo(i: number, j: number): void {
    this.txAddr[i].set(this.rxAddr[j]);
    this.#txAddrLen[i] = this.rxAddr[j][0] === AF_INET ? 16 : 28;
  }

  /** Sets tx slot `i`'s peer. */
  sendTo(i: number, hostname: string, port: number): void {
    this.#txAddrLen[i] = encodeSockaddr(hostname, port, this.txAddr[i]);
  }

  /** Waits on another thread until a datagram is queued or `timeoutMs` passed; true if readable. */
  async readable(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false;
    const n = await this.#c.poll(this.#pollfd, 1n, timeoutMs);
    return n > 0 && !this.#closed;
  }

  /** Closes the socket; idempotent. A pending `readable()` returns at its timeout. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#c.close(this.#fd);
  }
}

/**
 * Binds a UDP socket through libc for the batched fast path. Throws an Error
 * starting "UDP fast path unavailable" when FFI cannot be used, or the
 * socket error (AddrInUse, …) as Deno would name it.
 */
export function openMmsgSocket(
  hostname: string,
  port: number,
  options: MmsgOptions = {},
): MmsgSocket {
  const addr = new Uint8Array(SOCKADDR);
  let addrLen: number;
  try {
    addrLen = encodeSockaddr(hostname, port, addr);
  } catch (error) {
    // A host name (--host localhost): Deno's socket resolves it as the TCP endpoints do.
    throw new Error(`UDP fast path unavailable: ${(error as Error).message}`, { cause: error });
  }
  const c = openLibc();
  const family = addrLen === 16 ? AF_INET : AF_INET6;
  const fd = c.socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`UDP fast path unavailable: socket() failed with errno ${errno(c)}`);
  try {
    const size = options.socketBuffer ?? 4 * 1024 * 1024;
    if (size > 0) {
      const value = new Uint8Array(new Int32Array([size]).buffer);
      c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, value, 4);
      c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, value, 4);
    }
    if (c.bind(fd, addr, addrLen) !== 0) {
      const code = errno(c);
      if (code === 98) throw new Deno.errors.AddrInUse(`Address already in use (os error 98)`);
      throw new Error(`bind() failed with errno ${code}`);
    }
    return new MmsgSocket(c, fd, family, options);
  } catch (error) {
    c.close(fd);
    throw error;
  }
}
