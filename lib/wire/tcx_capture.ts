/**
 * The wire capture through eBPF, used on `lo` where the kernel allows it (Linux 6.6+, CAP_BPF
 * and CAP_NET_ADMIN, as root has): a program on lo's egress hook (`tcx`) keeps the TCP/UDP
 * packets of the service's ports, copies each one's first `snaplen` bytes with its length and a
 * timestamp into a BPF ring buffer, and this thread walks the records in place. On lo every
 * packet leaves once, so egress sees each once, and lo has no queue: what leaves is what
 * arrives. No packet socket: the kernel does less per packet than it does for the `AF_PACKET`
 * ring (bench/wire_bench.ts --taps: 4-5 points of a bare echo's CPU on bulk).
 *
 * Same frames, same interface as {@linkcode WireCapture} (lib/wire/capture.ts), so the wire
 * view takes either; opening answers `{available: false, reason}` when the kernel refuses a
 * step, and the caller falls back to the packet socket. The link's descriptor holds the
 * program on the interface: closing it, or the process ending, takes the program off.
 */

import { type CapturedFrame, type FrameSource, libcFor, type WireStats } from "./capture.ts";
import { errnoOf, primeErrno } from "../libc.ts";
import {
  addressOf,
  Asm,
  ATTR_BYTES,
  BPF_CMD,
  bpfSyscall,
  HELPER,
  R0,
  R1,
  R10,
  R2,
  R3,
  R4,
  R6,
  R7,
  R8,
  SYSCALL_SYMBOL,
} from "./ebpf.ts";
import { MAX_FILTER_PORTS } from "./bpf.ts";

const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_PROG_TYPE_SCHED_CLS = 3;
const BPF_TCX_EGRESS = 47;
const BPF_RB_AVAIL_DATA = 0;
const BPF_RB_FORCE_WAKEUP = 2;
const TCX_NEXT = -1;
const PAGE = 4096;
const RECORD_HEADER = 8; // the ring buffer's own: length (busy, discard bits), page offset
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const REC = 16; // ours: wire length, captured length, monotonic ns
const POLLIN = 1;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const EINVAL = 22;
const EACCES = 13;
// While frames keep coming, walk every BATCH_MS (a timer: no thread hop); once a walk finds
// none, wait in poll() on the ring, which the first record then wakes. Round trips' p99 with
// walks every 8, 4, 2 ms: 872, 598, 498 µs (throughput within noise; the packet ring: ~600).
const BATCH_MS = 4;
const IDLE_POLL_MS = 250;

const SYMBOLS = {
  ...SYSCALL_SYMBOL,
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The libc functions the eBPF capture calls; tests inject fakes. */
export type TcxLibc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const openLibc = (): TcxLibc | string => libcFor(SYMBOLS);
const errno = errnoOf;

/**
 * The program: IPv4 or IPv6 (no extension headers), TCP or UDP, not a later IPv4 fragment, a
 * source or destination port in `ports` (empty: any). A kept packet gets a record of
 * 16 + `snaplen` bytes: wire length, captured length, `bpf_ktime_get_ns()`, then its first
 * bytes from the Ethernet header. The ring buffer wakes a waiting reader for the first record
 * after it caught up, and forces a wakeup once half full; no room counts a drop in
 * `drops[0]`. Every packet goes on untouched (TCX_NEXT). A header load past the end of a
 * packet (a frame too short for what its headers claim) ends the program with 0, TCX_PASS:
 * the packet still goes on, only other programs on lo's egress after this one skip it.
 */
export function tcxProgram(
  ringFd: number,
  dropsFd: number,
  ringBytes: number,
  ports: readonly number[],
  snaplen: number,
): Uint8Array {
  const unique = [...new Set(ports)];
  if (unique.length > MAX_FILTER_PORTS) {
    throw new RangeError(
      `Cannot build tcx program: ${unique.length} ports is more than ${MAX_FILTER_PORTS}`,
    );
  }
  const a = new Asm();
  const checkPorts = () => {
    for (const port of unique) a.jump("eq", R0, port, "keep");
  };
  a.mov(R6, R1); // LD_ABS/LD_IND read the packet through r6
  a.ldAbs(2, 12);
  a.jump("eq", R0, 0x0800, "ipv4");
  a.jump("eq", R0, 0x86dd, "ipv6");
  a.jump("always", 0, 0, "out");
  a.label("ipv4").ldAbs(1, 23);
  a.jump("eq", R0, 6, "ipv4-l4");
  a.jump("ne", R0, 17, "out");
  a.label("ipv4-l4").ldAbs(2, 20);
  a.andImm(R0, 0x1fff);
  a.jump("ne", R0, 0, "out"); // a later fragment has no ports
  if (unique.length === 0) a.jump("always", 0, 0, "keep");
  else {
    a.ldAbs(1, 14).andImm(R0, 0x0f).lshImm(R0, 2).mov(R7, R0);
    a.ldInd(2, R7, 14);
    checkPorts();
    a.ldInd(2, R7, 16);
    checkPorts();
    a.jump("always", 0, 0, "out");
  }
  a.label("ipv6").ldAbs(1, 20);
  a.jump("eq", R0, 6, "ipv6-l4");
  a.jump("ne", R0, 17, "out");
  a.label("ipv6-l4");
  if (unique.length === 0) a.jump("always", 0, 0, "keep");
  else {
    a.ldAbs(2, 54);
    checkPorts();
    a.ldAbs(2, 56);
    checkPorts();
    a.jump("always", 0, 0, "out");
  }
  a.label("keep").loadMap(R1, ringFd);
  a.movImm(R2, REC + snaplen).movImm(R3, 0).call(HELPER.ringbufReserve);
  a.jump("eq", R0, 0, "drop");
  a.mov(R7, R0);
  a.load32(R8, R6, 0); // skb->len
  a.store32(R7, 0, R8);
  a.jump("le", R8, snaplen, "cut");
  a.movImm(R8, snaplen);
  a.label("cut").store32(R7, 4, R8);
  a.call(HELPER.ktimeGetNs).store64(R7, 8, R0);
  a.jump("lt", R8, 1, "loaded"); // the verifier wants a length of 1 or more
  a.mov(R1, R6).movImm(R2, 0).mov(R3, R7).addImm(R3, REC).mov(R4, R8);
  a.call(HELPER.skbLoadBytes);
  a.jump("eq", R0, 0, "loaded");
  a.store32Imm(R7, 4, 0); // nothing captured
  a.label("loaded").loadMap(R1, ringFd).movImm(R2, BPF_RB_AVAIL_DATA);
  a.call(HELPER.ringbufQuery);
  a.movImm(R2, 0);
  a.jump("le", R0, ringBytes / 2, "submit");
  a.movImm(R2, BPF_RB_FORCE_WAKEUP);
  a.label("submit").mov(R1, R7).call(HELPER.ringbufSubmit);
  a.jump("always", 0, 0, "out");
  a.label("drop").store32Imm(R10, -4, 0);
  a.loadMap(R1, dropsFd).mov(R2, R10).addImm(R2, -4).call(HELPER.mapLookupElem);
  a.jump("eq", R0, 0, "out");
  a.movImm(R1, 1).atomicAdd64(R0, 0, R1);
  a.label("out").movImm(R0, TCX_NEXT).exit();
  return a.bytes();
}

/** What opening answered when the kernel or the process can't. */
export interface TcxUnavailable {
  available: false;
  reason: string;
}

/** Options for {@linkcode openTcxCapture}. */
export interface TcxCaptureOptions {
  /** The service's ports; empty: every TCP/UDP packet. @default [] */
  ports?: readonly number[];
  /** Only "lo": elsewhere egress would miss what arrives, and see what a queue drops. */
  interface?: string;
  /** Bytes kept of each frame. @default 256 */
  snaplen?: number;
  /** The ring buffer's size, rounded down to a power of two from 64 KiB. @default 8388608 */
  ringBytes?: number;
  /** Injected libc, for tests. */
  libc?: TcxLibc;
}

/**
 * Opens the eBPF capture on lo. Never throws for the environment: answers
 * `{available: false, reason}` naming the step the kernel refused (no CAP_BPF, Linux before
 * 6.6, no FFI). Throws RangeError on bad options.
 */
export function openTcxCapture(
  options: TcxCaptureOptions = {},
): { available: true; capture: TcxCapture } | TcxUnavailable {
  const iface = options.interface ?? "lo";
  const snaplen = options.snaplen ?? 256;
  const ports = options.ports ?? [];
  if (iface !== "lo") return { available: false, reason: `only on lo (not "${iface}")` };
  if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > 65535) {
    throw new RangeError(`Cannot open tcx capture: snaplen "${snaplen}" is not in 64-65535`);
  }
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`Cannot open tcx capture: port "${port}" is not in 1-65535`);
    }
  }
  let size = 1 << 16;
  while (size * 2 <= (options.ringBytes ?? 8 * 1024 * 1024) && size < 1 << 30) size *= 2;
  const c = options.libc ?? openLibc();
  if (typeof c === "string") return { available: false, reason: c };
  primeErrno(c);
  const fds: number[] = [];
  const fail = (what: string): TcxUnavailable => {
    const code = errno(c);
    for (const fd of fds.reverse()) c.close(fd);
    return { available: false, reason: `${what} failed with errno ${code}` };
  };
  const ringFd = bpfSyscall(
    c.syscall,
    BPF_CMD.mapCreate,
    mapAttr(BPF_MAP_TYPE_RINGBUF, 0, 0, size),
  );
  if (ringFd < 0) return fail("bpf(BPF_MAP_CREATE) of the ring buffer");
  fds.push(ringFd);
  const dropsFd = bpfSyscall(c.syscall, BPF_CMD.mapCreate, mapAttr(BPF_MAP_TYPE_ARRAY, 4, 8, 1));
  if (dropsFd < 0) return fail("bpf(BPF_MAP_CREATE) of the drop counter");
  fds.push(dropsFd);
  const code = tcxProgram(ringFd, dropsFd, size, ports, snaplen);
  const progFd = loadProgram(c, code);
  if (progFd < 0) {
    const refused = errno(c) === EACCES;
    // The verifier refused it (a kernel that reads the program otherwise): say what it said.
    const said = refused ? verifierSays(c, code) : "";
    const out = fail("bpf(BPF_PROG_LOAD)");
    return said === "" ? out : { available: false, reason: `${out.reason}: ${said}` };
  }
  fds.push(progFd);
  const ifindex = c.if_nametoindex(new TextEncoder().encode("lo\0"));
  if (ifindex === 0) return fail("if_nametoindex(lo)");
  const link = new Uint8Array(ATTR_BYTES);
  const lv = new DataView(link.buffer);
  lv.setUint32(0, progFd, true);
  lv.setUint32(4, ifindex, true);
  lv.setUint32(8, BPF_TCX_EGRESS, true);
  const linkFd = bpfSyscall(c.syscall, BPF_CMD.linkCreate, link);
  if (linkFd < 0) {
    const code = errno(c);
    if (code === EINVAL) {
      for (const fd of fds.reverse()) c.close(fd);
      return { available: false, reason: "this kernel has no tcx hook (Linux 6.6+)" };
    }
    return fail("bpf(BPF_LINK_CREATE) on lo's egress");
  }
  fds.push(linkFd);
  // The reader's page (read-write), then the writer's page and the data twice in a row
  // (read-only), so a record that wraps reads straight on.
  const cons = c.mmap(null, BigInt(PAGE), PROT_READ | PROT_WRITE, MAP_SHARED, ringFd, 0n);
  if (cons === null || Deno.UnsafePointer.value(cons) === 0xffffffffffffffffn) {
    return fail("mmap() of the ring buffer's reader page");
  }
  const prod = c.mmap(null, BigInt(PAGE + 2 * size), PROT_READ, MAP_SHARED, ringFd, BigInt(PAGE));
  if (prod === null || Deno.UnsafePointer.value(prod) === 0xffffffffffffffffn) {
    c.munmap(cons, BigInt(PAGE));
    return fail("mmap() of the ring buffer's data");
  }
  return {
    available: true,
    capture: new TcxCapture(c, { ringFd, dropsFd, progFd, linkFd }, cons, prod, {
      size,
      snaplen,
    }),
  };
}

function mapAttr(type: number, key: number, value: number, entries: number): Uint8Array {
  const attr = new Uint8Array(ATTR_BYTES);
  const v = new DataView(attr.buffer);
  v.setUint32(0, type, true);
  v.setUint32(4, key, true);
  v.setUint32(8, value, true);
  v.setUint32(12, entries, true);
  return attr;
}

const LICENSE = new TextEncoder().encode("GPL\0");

function loadProgram(c: TcxLibc, code: Uint8Array, log?: Uint8Array): number {
  const attr = new Uint8Array(ATTR_BYTES);
  const v = new DataView(attr.buffer);
  v.setUint32(0, BPF_PROG_TYPE_SCHED_CLS, true);
  v.setUint32(4, code.length / 8, true);
  v.setBigUint64(8, addressOf(code), true);
  v.setBigUint64(16, addressOf(LICENSE), true);
  if (log !== undefined) {
    v.setUint32(24, 1, true);
    v.setUint32(28, log.length, true);
    v.setBigUint64(32, addressOf(log), true);
  }
  return bpfSyscall(c.syscall, BPF_CMD.progLoad, attr);
}

/** The verifier's last words on a program it refused (loaded again with its log on). */
function verifierSays(c: TcxLibc, code: Uint8Array): string {
  const log = new Uint8Array(1 << 16);
  const fd = loadProgram(c, code, log);
  if (fd >= 0) {
    c.close(fd);
    return "";
  }
  const text = new TextDecoder().decode(log.subarray(0, Math.max(0, log.indexOf(0))));
  return text.trim().split("\n").slice(-2).join("; ");
}

interface Fds {
  ringFd: number;
  dropsFd: number;
  progFd: number;
  linkFd: number;
}

/** An open eBPF capture; {@linkcode TcxCapture.run} hands each frame to a callback. */
export class TcxCapture implements FrameSource {
  readonly method = "tcx";
  readonly interface = "lo";
  readonly snaplen: number;
  /** Bytes of the ring buffer. */
  readonly ringBytes: number;
  #c: TcxLibc;
  #fds: Fds;
  #cons: Deno.PointerObject;
  #prod: Deno.PointerObject;
  #consView: DataView;
  #prodView: DataView;
  #data: DataView;
  #frame: CapturedFrame;
  #pollfd = new Uint8Array(8);
  #clock = new BigInt64Array(2);
  #epochOffsetMs = 0;
  #offsetAt = -Infinity;
  #packets = 0;
  #bytes = 0;
  #drops = 0;
  #closed = false;
  #running: Promise<void> | null = null;
  #wake: (() => void) | null = null;

  constructor(
    c: TcxLibc,
    fds: Fds,
    cons: Deno.PointerObject,
    prod: Deno.PointerObject,
    g: { size: number; snaplen: number },
  ) {
    this.#c = c;
    this.#fds = fds;
    this.#cons = cons;
    this.#prod = prod;
    this.snaplen = g.snaplen;
    this.ringBytes = g.size;
    this.#consView = new DataView(Deno.UnsafePointerView.getArrayBuffer(cons, PAGE));
    const buffer = Deno.UnsafePointerView.getArrayBuffer(prod, PAGE + 2 * g.size);
    this.#prodView = new DataView(buffer, 0, PAGE);
    this.#data = new DataView(buffer, PAGE);
    this.#frame = {
      bytes: new Uint8Array(buffer, PAGE),
      offset: 0,
      capturedLength: 0,
      wireLength: 0,
      ts: 0,
    };
    const pv = new DataView(this.#pollfd.buffer);
    pv.setInt32(0, fds.ringFd, true);
    pv.setInt16(4, POLLIN, true);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Keeps only the given ports from now on: a new program replaces the old one on the link
   * (no moment without one). Throws RangeError on a bad port, Error when the kernel refuses.
   */
  setPorts(ports: readonly number[]): void {
    if (this.#closed) return;
    const c = this.#c;
    const code = tcxProgram(
      this.#fds.ringFd,
      this.#fds.dropsFd,
      this.ringBytes,
      ports,
      this.snaplen,
    );
    const progFd = loadProgram(c, code);
    if (progFd < 0) throw new Error(`Cannot set wire ports: BPF_PROG_LOAD errno ${errno(c)}`);
    const attr = new Uint8Array(ATTR_BYTES);
    const v = new DataView(attr.buffer);
    v.setUint32(0, this.#fds.linkFd, true);
    v.setUint32(4, progFd, true);
    if (bpfSyscall(c.syscall, BPF_CMD.linkUpdate, attr) !== 0) {
      const code = errno(c);
      c.close(progFd);
      throw new Error(`Cannot set wire ports: BPF_LINK_UPDATE errno ${code}`);
    }
    c.close(this.#fds.progFd);
    this.#fds.progFd = progFd;
  }

  /**
   * Hands every captured frame to `onFrame`, in order, until `signal` aborts or
   * {@linkcode close}; the promise settles then. One run at a time; an exception from
   * `onFrame` stops the run and rejects.
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
    while (!this.#closed && signal?.aborted !== true) {
      if (this.#walk(onFrame) > 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          setTimeout(resolve, BATCH_MS);
        });
        this.#wake = null;
      } else {
        await this.#c.poll(this.#pollfd, 1n, IDLE_POLL_MS);
      }
    }
  }

  #walk(onFrame: (frame: CapturedFrame) => void): number {
    const cons = this.#consView;
    let pos = cons.getUint32(0, true) + cons.getUint32(4, true) * 2 ** 32;
    const end = this.#prodView.getUint32(0, true) + this.#prodView.getUint32(4, true) * 2 ** 32;
    if (pos === end) return 0;
    const now = performance.now();
    // Monotonic ns to ms since the epoch, read again each second (the wall clock may be set).
    if (now - this.#offsetAt > 1000) this.#readClocks(now);
    const data = this.#data;
    const frame = this.#frame;
    const mask = this.ringBytes - 1;
    let n = 0;
    while (pos < end) {
      const at = pos & mask;
      const header = data.getUint32(at, true);
      if ((header & BUSY) !== 0) break; // still being written
      const len = header & ~(BUSY | DISCARD);
      if ((header & DISCARD) === 0) {
        const r = at + RECORD_HEADER;
        frame.wireLength = data.getUint32(r, true);
        frame.capturedLength = data.getUint32(r + 4, true);
        frame.ts = this.#epochOffsetMs +
          (data.getUint32(r + 8, true) + data.getUint32(r + 12, true) * 2 ** 32) / 1e6;
        frame.offset = r + REC;
        this.#packets++;
        this.#bytes += frame.wireLength;
        n++;
        onFrame(frame);
      }
      pos += (len + RECORD_HEADER + 7) & ~7;
    }
    // Hand the space back (the kernel reads this position only).
    cons.setUint32(0, pos % 2 ** 32, true);
    cons.setUint32(4, Math.floor(pos / 2 ** 32), true);
    return n;
  }

  #readClocks(now: number): void {
    const t = this.#clock;
    const bytes = new Uint8Array(t.buffer);
    this.#c.clock_gettime(CLOCK_REALTIME, bytes);
    const real = Number(t[0]) * 1e3 + Number(t[1]) / 1e6;
    this.#c.clock_gettime(CLOCK_MONOTONIC, bytes);
    const mono = Number(t[0]) * 1e3 + Number(t[1]) / 1e6;
    this.#epochOffsetMs = real - mono;
    this.#offsetAt = now;
  }

  /** Frames handed over, their bytes on the wire, records the ring buffer had no room for. */
  stats(): WireStats {
    let drops = 0;
    if (!this.#closed) {
      const key = new Uint8Array(4);
      const value = new BigUint64Array(1);
      const attr = new Uint8Array(ATTR_BYTES);
      const v = new DataView(attr.buffer);
      v.setUint32(0, this.#fds.dropsFd, true);
      v.setBigUint64(8, addressOf(key), true);
      v.setBigUint64(16, addressOf(new Uint8Array(value.buffer)), true);
      if (bpfSyscall(this.#c.syscall, BPF_CMD.mapLookupElem, attr) === 0) {
        drops = Number(value[0]);
      }
      this.#drops = drops;
    }
    return { packets: this.#packets, bytes: this.#bytes, drops: this.#drops };
  }

  /** Stops the run (within 250 ms), takes the program off lo, frees the ring buffer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.stats();
    this.#closed = true;
    this.#wake?.();
    await this.#running?.catch(() => undefined);
    const c = this.#c;
    c.close(this.#fds.linkFd);
    c.close(this.#fds.progFd);
    c.munmap(this.#cons, BigInt(PAGE));
    c.munmap(this.#prod, BigInt(PAGE + 2 * this.ringBytes));
    c.close(this.#fds.dropsFd);
    c.close(this.#fds.ringFd);
  }
}
