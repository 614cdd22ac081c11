/**
 * Captures the service's own segments from the kernel: an `AF_PACKET` socket (libc through
 * FFI) with a classic BPF filter for the service's ports, bound to one interface (`lo` for
 * 127.0.0.1 and ::1), read through a `PACKET_MMAP` TPACKET_V3 ring. A pool thread waits in
 * `poll()`; this thread walks the filled blocks in place (no copy, no allocation per frame)
 * and gives each back to the kernel.
 *
 * Opening never throws for want of permission: without root or CAP_NET_RAW, off Linux or
 * without `--allow-ffi` it answers `{available: false, reason}` and the caller carries on.
 * Linux on 64-bit only (the struct layouts below).
 */

import { etherTypeFilter, wireFilter } from "./bpf.ts";
import { errnoOf, primeErrno } from "../libc.ts";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const SOL_PACKET = 263;
const PACKET_RX_RING = 5;
const PACKET_STATISTICS = 6;
const PACKET_VERSION = 10;
const PACKET_IGNORE_OUTGOING = 23;
const TPACKET_V3 = 2;
const TP_STATUS_KERNEL = 0;
const TP_STATUS_USER = 1;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const POLLIN = 1;
const POLLERR = 8;
const EPERM = 1;
const EACCES = 13;
const EAFNOSUPPORT = 97;
const PAGE = 4096;
// struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
const BLOCK_STATUS = 8;
const BLOCK_NUM_PKTS = 12;
const BLOCK_FIRST_PKT = 16;
// struct tpacket3_hdr.
const PKT_NEXT = 0;
const PKT_SEC = 4;
const PKT_NSEC = 8;
const PKT_SNAPLEN = 12;
const PKT_LEN = 16;
const PKT_MAC = 24;
// poll() wakes at least this often so close() and aborts are noticed.
const POLL_MS = 250;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  // On a thread of Deno's blocking pool: this thread keeps serving the app meanwhile.
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The libc functions the capture calls; tests inject fakes (e.g. a `socket` failing EPERM). */
export type WireLibc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** What opening a capture answered when it cannot run, with the reason in plain words. */
export interface WireUnavailable {
  available: false;
  reason: string;
}

/** A capture that opened. */
export interface WireAvailable {
  available: true;
  capture: WireCapture;
}

/** Counters of a capture: frames handed over, their bytes on the wire, the kernel's drops. */
export interface WireStats {
  packets: number;
  bytes: number;
  drops: number;
}

/**
 * One captured frame, valid only during the callback: `bytes` is the ring itself, the frame
 * its `bytes[offset .. offset+capturedLength)`. Copy what must outlive the call.
 */
export interface CapturedFrame {
  bytes: Uint8Array;
  offset: number;
  capturedLength: number;
  /** Length on the wire (before the snap length cut it). */
  wireLength: number;
  /** The kernel's receive time, ms since the epoch (fractional, ns resolution). */
  ts: number;
}

/**
 * What the wire view reads frames from: this module's `AF_PACKET` ring (`method` "packet") or
 * the eBPF ring buffer on lo (lib/wire/tcx_capture.ts, "tcx"). Same frames, same calls.
 */
export interface FrameSource {
  readonly method: "packet" | "tcx";
  /** Interface name ("" for every interface). */
  readonly interface: string;
  readonly snaplen: number;
  readonly ringBytes: number;
  readonly closed: boolean;
  setPorts(ports: readonly number[]): void;
  run(onFrame: (frame: CapturedFrame) => void, signal?: AbortSignal): Promise<void>;
  stats(): WireStats;
  close(): Promise<void>;
}

/** Options for {@linkcode openWireCapture}. */
export interface WireCaptureOptions {
  /** Ports whose TCP/UDP packets are kept (source or destination); empty: every port. @default [] */
  ports?: readonly number[];
  /** Interface name; "" captures on every interface. @default "lo" */
  interface?: string;
  /** Bytes kept of each frame, link header included. @default 256 */
  snaplen?: number;
  /** Size of the ring; rounded down to whole blocks. @default 8388608 */
  ringBytes?: number;
  /** Size of one ring block, a power of two from 4096. @default 262144 */
  blockBytes?: number;
  /** A block not yet full is handed over after this long. @default 8 */
  flushMs?: number;
  /**
   * Keep only frames of this EtherType instead of the TCP/UDP packets of `ports` (the raw lab's
   * 0x0801): the socket is bound to that protocol, so the kernel hands it nothing else.
   * @default undefined (TCP/UDP of `ports`)
   */
  etherType?: number;
  /** Injected libc, for tests. */
  libc?: WireLibc;
}

/**
 * libc with `symbols` (which include `__errno_location`), opened once per symbol set, or the
 * reason it can't be had here (not Linux, not 64-bit: the struct layouts; no FFI or its
 * permission). Shared by the packet socket and the eBPF capture (./tcx_capture.ts).
 */
export function libcFor<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] | string {
  const opened = openedLibs.get(symbols);
  if (opened !== undefined) return opened as Deno.DynamicLibrary<S>["symbols"];
  if (Deno.build.os !== "linux") {
    return `not Linux (${Deno.build.os}): AF_PACKET and eBPF are Linux's`;
  }
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return `not 64-bit (${Deno.build.arch})`;
  }
  if (typeof Deno.dlopen !== "function") return "no FFI in this runtime";
  // Checking first keeps Deno from prompting for the permission on a terminal.
  const state = Deno.permissions.querySync?.({ name: "ffi", path: "libc.so.6" }).state ??
    "granted";
  if (state !== "granted") return "FFI is not permitted: run with --allow-ffi";
  try {
    const lib = Deno.dlopen("libc.so.6", symbols).symbols;
    openedLibs.set(symbols, lib);
    return lib;
  } catch (error) {
    return `cannot load libc: ${(error as Error).message}`;
  }
}

const openedLibs = new Map<Deno.ForeignLibraryInterface, unknown>();

const openLibc = (): WireLibc | string => libcFor(SYMBOLS);
const errno = errnoOf;

/** The reason given when the process may not open an `AF_PACKET` socket. */
export const NO_PERMISSION_REASON =
  "not root and no CAP_NET_RAW: run as root or `sudo setcap cap_net_raw+ep $(which deno)`";

/**
 * The interface a service bound to `hostname` is reached on: `lo` for loopback, "" (every
 * interface) for a wildcard, else the one holding the address among `interfaces` (from
 * `Deno.networkInterfaces()`), or undefined.
 */
export function interfaceFor(
  hostname: string,
  interfaces: readonly { name: string; address: string }[] = [],
): string | undefined {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host === "::1" || /^127\./.test(host)) return "lo";
  if (host === "0.0.0.0" || host === "::" || host === "") return "";
  return interfaces.find((i) => i.address === host)?.name;
}

/**
 * Opens a capture on one interface for the given ports. Never throws for the environment:
 * answers `{available: false, reason}` without permission, off Linux, without FFI, or when the
 * kernel refuses a step (the reason names it). Throws RangeError on bad options.
 */
export function openWireCapture(options: WireCaptureOptions = {}): WireAvailable | WireUnavailable {
  const snaplen = options.snaplen ?? 256;
  const blockBytes = options.blockBytes ?? 256 * 1024;
  const ringBytes = options.ringBytes ?? 8 * 1024 * 1024;
  const flushMs = options.flushMs ?? 8;
  const iface = options.interface ?? "lo";
  if (!Number.isInteger(blockBytes) || blockBytes < PAGE || (blockBytes & (blockBytes - 1)) !== 0) {
    throw new RangeError(
      `Cannot open wire capture: blockBytes "${blockBytes}" is not a power of two from 4096`,
    );
  }
  if (!Number.isInteger(ringBytes) || ringBytes < blockBytes || ringBytes > 1 << 30) {
    throw new RangeError(
      `Cannot open wire capture: ringBytes "${ringBytes}" is not in ${blockBytes}-${1 << 30}`,
    );
  }
  if (!Number.isInteger(flushMs) || flushMs < 1 || flushMs > 10_000) {
    throw new RangeError(`Cannot open wire capture: flushMs "${flushMs}" is not in 1-10000`);
  }
  if (snaplen > blockBytes / 2) {
    throw new RangeError(`Cannot open wire capture: snaplen "${snaplen}" is over half a block`);
  }
  const filter = options.etherType === undefined
    ? wireFilter(options.ports ?? [], { snaplen })
    : etherTypeFilter(options.etherType, { snaplen });
  const c = options.libc ?? openLibc();
  if (typeof c === "string") return { available: false, reason: c };
  primeErrno(c);
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const code = errno(c);
    if (code === EPERM || code === EACCES) {
      return { available: false, reason: NO_PERMISSION_REASON };
    }
    if (code === EAFNOSUPPORT) {
      return { available: false, reason: "this kernel has no AF_PACKET sockets" };
    }
    return { available: false, reason: `socket(AF_PACKET) failed with errno ${code}` };
  }
  let ring: Deno.PointerValue = null;
  const blockNr = Math.floor(ringBytes / blockBytes);
  const size = blockNr * blockBytes;
  const fail = (what: string): WireUnavailable => {
    const code = errno(c);
    if (ring !== null) c.munmap(ring, BigInt(size));
    c.close(fd);
    return { available: false, reason: `${what} failed with errno ${code}` };
  };
  let ifindex = 0;
  if (iface !== "") {
    ifindex = c.if_nametoindex(new TextEncoder().encode(iface + "\0"));
    if (ifindex === 0) {
      c.close(fd);
      return { available: false, reason: `no network interface named "${iface}"` };
    }
  }
  // The filter goes on before bind() gives the socket any packet, so none slip through.
  if (!attachFilter(c, fd, filter)) return fail("setsockopt(SO_ATTACH_FILTER)");
  if (!setInt(c, fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3)) {
    return fail("setsockopt(PACKET_VERSION, TPACKET_V3)");
  }
  // On lo each packet passes twice (sent, then received): keep the received copy only.
  if (!setInt(c, fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)) {
    return fail("setsockopt(PACKET_IGNORE_OUTGOING)");
  }
  // struct tpacket_req3: block size, block count, frame size, frame count, retire timeout
  // (ms), private bytes per block, feature word.
  const frameSize = 2048;
  const req = new Uint32Array([
    blockBytes,
    blockNr,
    frameSize,
    (blockBytes / frameSize) * blockNr,
    flushMs,
    0,
    0,
  ]);
  if (c.setsockopt(fd, SOL_PACKET, PACKET_RX_RING, new Uint8Array(req.buffer), 28) !== 0) {
    return fail("setsockopt(PACKET_RX_RING)");
  }
  ring = c.mmap(null, BigInt(size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0n);
  if (ring === null || Deno.UnsafePointer.value(ring) === 0xffffffffffffffffn) {
    ring = null;
    return fail("mmap() of the ring");
  }
  // struct sockaddr_ll: family, protocol (network order), ifindex, then unused here.
  const addr = new Uint8Array(20);
  const view = new DataView(addr.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, options.etherType ?? ETH_P_ALL, false);
  view.setInt32(4, ifindex, true);
  if (c.bind(fd, addr, 20) !== 0) return fail("bind() to the interface");
  return {
    available: true,
    capture: new WireCapture(c, fd, ring, { iface, snaplen, blockBytes, blockNr }),
  };
}

function setInt(c: WireLibc, fd: number, level: number, name: number, value: number): boolean {
  return c.setsockopt(fd, level, name, new Uint8Array(new Int32Array([value]).buffer), 4) === 0;
}

function attachFilter(c: WireLibc, fd: number, program: Uint8Array): boolean {
  // struct sock_fprog: u16 length (instructions), padding, pointer to the instructions.
  const fprog = new Uint8Array(16);
  const view = new DataView(fprog.buffer);
  view.setUint16(0, program.length / 8, true);
  view.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
  return c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16) === 0;
}

interface Geometry {
  iface: string;
  snaplen: number;
  blockBytes: number;
  blockNr: number;
}

/** An open capture; {@linkcode WireCapture.run} hands each frame to a callback. */
export class WireCapture implements FrameSource {
  readonly method = "packet";
  /** Interface name ("" for every interface). */
  readonly interface: string;
  readonly snaplen: number;
  /** Bytes of the ring (whole blocks). */
  readonly ringBytes: number;
  #c: WireLibc;
  #fd: number;
  #ring: Deno.PointerObject;
  #view: DataView;
  #bytes: Uint8Array;
  #blockBytes: number;
  #blockNr: number;
  #block = 0;
  #pollfd = new Uint8Array(8);
  #frame: CapturedFrame;
  #packets = 0;
  #bytesSeen = 0;
  #drops = 0;
  #statsBuf = new Uint8Array(12);
  #statsLen = new Uint32Array(1);
  #closed = false;
  #running: Promise<void> | null = null;

  constructor(c: WireLibc, fd: number, ring: Deno.PointerObject, g: Geometry) {
    this.#c = c;
    this.#fd = fd;
    this.#ring = ring;
    this.interface = g.iface;
    this.snaplen = g.snaplen;
    this.#blockBytes = g.blockBytes;
    this.#blockNr = g.blockNr;
    this.ringBytes = g.blockBytes * g.blockNr;
    const buffer = Deno.UnsafePointerView.getArrayBuffer(ring, this.ringBytes);
    this.#view = new DataView(buffer);
    this.#bytes = new Uint8Array(buffer);
    this.#frame = { bytes: this.#bytes, offset: 0, capturedLength: 0, wireLength: 0, ts: 0 };
    const pv = new DataView(this.#pollfd.buffer);
    pv.setInt32(0, fd, true);
    pv.setInt16(4, POLLIN | POLLERR, true);
  }

  /** True after {@linkcode close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Keeps only the given ports from now on (replaces the kernel filter); throws RangeError on
   * a bad port, Error when the kernel refuses.
   */
  setPorts(ports: readonly number[]): void {
    if (this.#closed) return;
    const program = wireFilter(ports, { snaplen: this.snaplen });
    if (!attachFilter(this.#c, this.#fd, program)) {
      throw new Error(
        `Cannot set wire ports: SO_ATTACH_FILTER failed with errno ${errno(this.#c)}`,
      );
    }
  }

  /**
   * Hands every captured frame to `onFrame`, in order, until `signal` aborts or
   * {@linkcode close}; the returned promise settles then. One run at a time. An exception
   * from `onFrame` stops the run and rejects.
   */
  run(onFrame: (frame: CapturedFrame) => void, signal?: AbortSignal): Promise<void> {
    if (this.#running !== null) {
      return Promise.reject(new TypeError("Cannot run wire capture: it is already running"));
    }
    const running = this.#loop(onFrame, signal).finally(() => {
      this.#running = null;
    });
    this.#running = running;
    return running;
  }

  async #loop(onFrame: (frame: CapturedFrame) => void, signal?: AbortSignal): Promise<void> {
    const view = this.#view;
    while (!this.#closed && signal?.aborted !== true) {
      const base = this.#block * this.#blockBytes;
      if ((view.getUint32(base + BLOCK_STATUS, true) & TP_STATUS_USER) === 0) {
        await this.#c.poll(this.#pollfd, 1n, POLL_MS);
        continue;
      }
      this.#walk(base, onFrame);
      // Give the block back; the kernel reads the status word only.
      view.setUint32(base + BLOCK_STATUS, TP_STATUS_KERNEL, true);
      this.#block = (this.#block + 1) % this.#blockNr;
      // Let timers and sockets run between blocks when they keep coming.
      if ((this.#block & 7) === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  #walk(base: number, onFrame: (frame: CapturedFrame) => void): void {
    const view = this.#view;
    const frame = this.#frame;
    const n = view.getUint32(base + BLOCK_NUM_PKTS, true);
    let p = base + view.getUint32(base + BLOCK_FIRST_PKT, true);
    for (let i = 0; i < n; i++) {
      const wireLength = view.getUint32(p + PKT_LEN, true);
      frame.offset = p + view.getUint16(p + PKT_MAC, true);
      frame.capturedLength = view.getUint32(p + PKT_SNAPLEN, true);
      frame.wireLength = wireLength;
      frame.ts = view.getUint32(p + PKT_SEC, true) * 1000 +
        view.getUint32(p + PKT_NSEC, true) / 1e6;
      this.#packets++;
      this.#bytesSeen += wireLength;
      onFrame(frame);
      p += view.getUint32(p + PKT_NEXT, true);
    }
  }

  /** Frames handed over, their bytes on the wire, and the frames the kernel dropped (ring full). */
  stats(): WireStats {
    if (!this.#closed) {
      // PACKET_STATISTICS resets the kernel's counters on each read: add them up here.
      this.#statsLen[0] = 12;
      const ok = this.#c.getsockopt(
        this.#fd,
        SOL_PACKET,
        PACKET_STATISTICS,
        this.#statsBuf,
        new Uint8Array(this.#statsLen.buffer),
      ) === 0;
      if (ok) this.#drops += new DataView(this.#statsBuf.buffer).getUint32(4, true);
    }
    return { packets: this.#packets, bytes: this.#bytesSeen, drops: this.#drops };
  }

  /** Stops the run (at its next wake, within 250 ms), then frees the ring and the socket. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.stats();
    this.#closed = true;
    // The pool thread may sit in poll() on the fd: let it return before closing.
    await this.#running?.catch(() => undefined);
    this.#c.munmap(this.#ring, BigInt(this.ringBytes));
    this.#c.close(this.#fd);
  }
}

/**
 * Sends one whole Ethernet frame out of `iface` through an `AF_PACKET` socket (as seed 004
 * does, and as tests re-send a captured segment). Throws Error when the socket can't be
 * opened or the send fails (without permission: the reason of {@linkcode openWireCapture}).
 */
export function sendFrame(iface: string, frame: Uint8Array, injected?: WireLibc): void {
  const c = injected ?? openLibc();
  if (typeof c === "string") throw new Error(`Cannot send frame: ${c}`);
  primeErrno(c);
  const index = c.if_nametoindex(new TextEncoder().encode(iface + "\0"));
  if (index === 0) throw new Error(`Cannot send frame: no network interface named "${iface}"`);
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    const code = errno(c);
    throw new Error(
      `Cannot send frame: ${
        code === EPERM || code === EACCES ? NO_PERMISSION_REASON : `socket() errno ${code}`
      }`,
    );
  }
  try {
    const addr = new Uint8Array(20);
    const view = new DataView(addr.buffer);
    view.setUint16(0, AF_PACKET, true);
    view.setInt32(4, index, true);
    view.setUint8(11, 6); // sll_halen
    addr.set(frame.subarray(0, 6), 12); // destination MAC
    const sent = c.sendto(fd, frame, BigInt(frame.length), 0, addr, 20);
    if (Number(sent) !== frame.length) {
      throw new Error(`Cannot send frame: sendto() failed with errno ${errno(c)}`);
    }
  } finally {
    c.close(fd);
  }
}
