/**
 * A prototype of another capture path, to measure it against the `AF_PACKET` ring
 * (bench/wire_bench.ts --taps tcx-ring,tcx-full): an eBPF program on lo's egress hook (`tcx`,
 * Linux 6.6+) copies each packet's first `snaplen` bytes, its length and a timestamp into a BPF
 * ring buffer, and this thread walks the records in place. On lo every packet leaves once, so
 * egress sees each once (as the ring with PACKET_IGNORE_OUTGOING does on receive). No packet
 * socket: no `tpacket_rcv`, no receive-queue lock, no block status.
 *
 * Prototype limits: every IPv4/IPv6 packet on lo is kept (no port filter), timestamps are the
 * send time, x86_64 only, root only. The records have the frame's bytes as the ring's frames
 * do, so the wire view's decoder reads them unchanged.
 */

import type { CapturedFrame } from "../lib/wire/capture.ts";

const SYS_BPF = 321n; // x86_64
const BPF_MAP_CREATE = 0n;
const BPF_MAP_LOOKUP_ELEM = 1n;
const BPF_PROG_LOAD = 5n;
const BPF_LINK_CREATE = 28n;
const BPF_MAP_TYPE_ARRAY = 2;
const BPF_MAP_TYPE_RINGBUF = 27;
const BPF_PROG_TYPE_SCHED_CLS = 3;
const BPF_TCX_EGRESS = 47;
const BPF_RB_NO_WAKEUP = 1;
const ATTR_BYTES = 128;
const PAGE = 4096;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const POLLIN = 1;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const CLOCK_MONOTONIC = 1;
// How long the poll thread sleeps between walks: records are submitted without a wakeup, so
// this is the batching (the ring's blocks retire after 8 ms likewise).
const WALK_MS = 8;

const SYMBOLS = {
  syscall: { parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? -1 : new Deno.UnsafePointerView(p).getInt32();
}

function bpf(c: Libc, cmd: bigint, attr: Uint8Array): number {
  return Number(c.syscall(SYS_BPF, cmd, attr, BigInt(attr.length)));
}

function ptr(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

function insn(op: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, op);
  v.setUint8(1, dst | (src << 4));
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
}

const loadMap = (reg: number, fd: number) => [...insn(0x18, reg, 1, 0, fd), ...insn(0, 0, 0, 0, 0)];

/**
 * Reserve a record of 16 + snaplen bytes; wire length, captured length, monotonic ns, then the
 * frame's first bytes (`bpf_skb_load_bytes` from the Ethernet header); submit without a wakeup.
 * No room: count a drop in `drops[0]`. Returns TCX_NEXT: the packet goes on untouched.
 */
function program(ringFd: number, dropsFd: number, snaplen: number): Uint8Array {
  const r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r6 = 6, r7 = 7, r8 = 8, r10 = 10;
  const code = [
    insn(0xbf, r6, r1, 0, 0), // 0: r6 = skb
    loadMap(r1, ringFd), // 1-2
    insn(0xb7, r2, 0, 0, 16 + snaplen), // 3
    insn(0xb7, r3, 0, 0, 0), // 4
    insn(0x85, 0, 0, 0, 131), // 5: ringbuf_reserve
    insn(0x15, r0, 0, 21, 0), // 6: no room: to 28
    insn(0xbf, r7, r0, 0, 0), // 7: r7 = record
    insn(0x61, r8, r6, 0, 0), // 8: r8 = skb->len
    insn(0x63, r7, r8, 0, 0), // 9: wire length
    insn(0xb5, r8, 0, 1, snaplen), // 10
    insn(0xb7, r8, 0, 0, snaplen), // 11: r8 = min(len, snaplen)
    insn(0x63, r7, r8, 4, 0), // 12: captured length
    insn(0x85, 0, 0, 0, 5), // 13: ktime_get_ns
    insn(0x7b, r7, r0, 8, 0), // 14: timestamp
    insn(0xa5, r8, 0, 8, 1), // 15: empty: to 24
    insn(0xbf, r1, r6, 0, 0), // 16
    insn(0xb7, r2, 0, 0, 0), // 17
    insn(0xbf, r3, r7, 0, 0), // 18
    insn(0x07, r3, 0, 0, 16), // 19
    insn(0xbf, r4, r8, 0, 0), // 20
    insn(0x85, 0, 0, 0, 26), // 21: skb_load_bytes
    insn(0x15, r0, 0, 1, 0), // 22: ok: to 24
    insn(0x62, r7, 0, 4, 0), // 23: failed: nothing captured
    insn(0xbf, r1, r7, 0, 0), // 24
    insn(0xb7, r2, 0, 0, BPF_RB_NO_WAKEUP), // 25
    insn(0x85, 0, 0, 0, 132), // 26: ringbuf_submit
    insn(0x05, 0, 0, 9, 0), // 27: to 37
    insn(0x62, r10, 0, -4, 0), // 28: key 0
    loadMap(r1, dropsFd), // 29-30
    insn(0xbf, r2, r10, 0, 0), // 31
    insn(0x07, r2, 0, 0, -4), // 32
    insn(0x85, 0, 0, 0, 1), // 33: map_lookup_elem
    insn(0x15, r0, 0, 2, 0), // 34: to 37
    insn(0xb7, r1, 0, 0, 1), // 35
    insn(0xdb, r0, r1, 0, 0), // 36: drops[0] += 1
    insn(0xb7, r0, 0, 0, -1), // 37: TCX_NEXT
    insn(0x95, 0, 0, 0, 0), // 38
  ];
  return new Uint8Array(code.flat());
}

/** An open tcx capture; `run` hands each record as a {@linkcode CapturedFrame}. */
export interface TcxCapture {
  run(onFrame: (frame: CapturedFrame) => void, signal: AbortSignal): Promise<void>;
  stats(): { packets: number; bytes: number; drops: number };
  close(): Promise<void>;
}

/** Opens the prototype on `iface`; throws Error naming the step the kernel refused. */
export function openTcxCapture(
  options: { iface?: string; snaplen?: number; ringBytes?: number } = {},
): TcxCapture {
  const iface = options.iface ?? "lo";
  const snaplen = options.snaplen ?? 256;
  const size = options.ringBytes ?? 8 * 1024 * 1024;
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new Error("Cannot open tcx capture: Linux x86_64 only");
  }
  const lib = Deno.dlopen("libc.so.6", SYMBOLS);
  const c = lib.symbols;
  const fds: number[] = [];
  const fail = (what: string, detail = ""): never => {
    const code = errno(c);
    for (const fd of fds) c.close(fd);
    lib.close();
    throw new Error(`Cannot open tcx capture: ${what} failed with errno ${code}${detail}`);
  };
  const mapAttr = (type: number, key: number, value: number, entries: number) => {
    const a = new Uint8Array(ATTR_BYTES);
    const v = new DataView(a.buffer);
    v.setUint32(0, type, true);
    v.setUint32(4, key, true);
    v.setUint32(8, value, true);
    v.setUint32(12, entries, true);
    return a;
  };
  const ringFd = bpf(c, BPF_MAP_CREATE, mapAttr(BPF_MAP_TYPE_RINGBUF, 0, 0, size));
  if (ringFd < 0) fail("BPF_MAP_CREATE (ring buffer)");
  fds.push(ringFd);
  const dropsFd = bpf(c, BPF_MAP_CREATE, mapAttr(BPF_MAP_TYPE_ARRAY, 4, 8, 1));
  if (dropsFd < 0) fail("BPF_MAP_CREATE (drops)");
  fds.push(dropsFd);
  const code = program(ringFd, dropsFd, snaplen);
  const license = new TextEncoder().encode("GPL\0");
  const log = new Uint8Array(65536);
  const p = new Uint8Array(ATTR_BYTES);
  const pv = new DataView(p.buffer);
  pv.setUint32(0, BPF_PROG_TYPE_SCHED_CLS, true);
  pv.setUint32(4, code.length / 8, true);
  pv.setBigUint64(8, ptr(code), true);
  pv.setBigUint64(16, ptr(license), true);
  pv.setUint32(24, 1, true);
  pv.setUint32(28, log.length, true);
  pv.setBigUint64(32, ptr(log), true);
  const progFd = bpf(c, BPF_PROG_LOAD, p);
  if (progFd < 0) {
    fail("BPF_PROG_LOAD", `:\n${new TextDecoder().decode(log.subarray(0, log.indexOf(0)))}`);
  }
  fds.push(progFd);
  const ifindex = c.if_nametoindex(new TextEncoder().encode(iface + "\0"));
  if (ifindex === 0) fail(`if_nametoindex(${iface})`);
  const l = new Uint8Array(ATTR_BYTES);
  const lv = new DataView(l.buffer);
  lv.setUint32(0, progFd, true);
  lv.setUint32(4, ifindex, true);
  lv.setUint32(8, BPF_TCX_EGRESS, true);
  // Closing the link (or the process ending) takes the program off the interface.
  const linkFd = bpf(c, BPF_LINK_CREATE, l);
  if (linkFd < 0) fail("BPF_LINK_CREATE (tcx egress)");
  fds.push(linkFd);
  const cons = c.mmap(null, BigInt(PAGE), PROT_READ | PROT_WRITE, MAP_SHARED, ringFd, 0n);
  const prod = c.mmap(null, BigInt(PAGE + 2 * size), PROT_READ, MAP_SHARED, ringFd, BigInt(PAGE));
  if (cons === null || prod === null) fail("mmap() of the ring buffer");
  const consView = new DataView(Deno.UnsafePointerView.getArrayBuffer(cons!, PAGE));
  const prodBuffer = Deno.UnsafePointerView.getArrayBuffer(prod!, PAGE + 2 * size);
  const prodView = new DataView(prodBuffer);
  // The data pages are mapped twice in a row: a record that wraps reads straight on.
  const bytes = new Uint8Array(prodBuffer, PAGE);
  const data = new DataView(prodBuffer, PAGE);
  const mask = size - 1;
  // Monotonic ns to ms since the epoch, from one reading of both clocks.
  const mono = new BigInt64Array(2);
  c.clock_gettime(CLOCK_MONOTONIC, new Uint8Array(mono.buffer));
  const epochOffsetMs = Date.now() - (Number(mono[0]) * 1e3 + Number(mono[1]) / 1e6);
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, ringFd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const frame: CapturedFrame = { bytes, offset: 0, capturedLength: 0, wireLength: 0, ts: 0 };
  let packets = 0;
  let wireBytes = 0;
  let closed = false;
  let running: Promise<void> | null = null;
  const read64 = (view: DataView, at: number) =>
    view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;

  const walk = (onFrame: (f: CapturedFrame) => void) => {
    let pos = read64(consView, 0);
    const end = read64(prodView, 0);
    while (pos < end) {
      const at = pos % (mask + 1);
      const header = data.getUint32(at, true);
      if ((header & BUSY) !== 0) break;
      const len = header & ~(BUSY | DISCARD);
      if ((header & DISCARD) === 0) {
        const r = at + 8;
        frame.wireLength = data.getUint32(r, true);
        frame.capturedLength = data.getUint32(r + 4, true);
        frame.ts = epochOffsetMs + read64(data, r + 8) / 1e6;
        frame.offset = r + 16;
        packets++;
        wireBytes += frame.wireLength;
        onFrame(frame);
      }
      pos += (len + 8 + 7) & ~7;
    }
    consView.setUint32(0, pos % 2 ** 32, true);
    consView.setUint32(4, Math.floor(pos / 2 ** 32), true);
  };

  return {
    run(onFrame, signal) {
      running = (async () => {
        while (!closed && !signal.aborted) {
          walk(onFrame);
          await c.poll(pollfd, 1n, WALK_MS);
        }
      })();
      return running;
    },
    stats() {
      const key = new Uint8Array(4);
      const value = new BigUint64Array(1);
      const a = new Uint8Array(ATTR_BYTES);
      const v = new DataView(a.buffer);
      v.setUint32(0, dropsFd, true);
      v.setBigUint64(8, ptr(key), true);
      v.setBigUint64(16, ptr(new Uint8Array(value.buffer)), true);
      const drops = closed || bpf(c, BPF_MAP_LOOKUP_ELEM, a) !== 0 ? 0 : Number(value[0]);
      return { packets, bytes: wireBytes, drops };
    },
    async close() {
      if (closed) return;
      closed = true;
      await running?.catch(() => undefined);
      c.munmap(cons, BigInt(PAGE));
      c.munmap(prod, BigInt(PAGE + 2 * size));
      for (const fd of fds.reverse()) c.close(fd);
      lib.close();
    },
  };
}
