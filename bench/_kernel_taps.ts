/**
 * Packet taps on lo that hand user space nothing, to find the floor of a capture's cost
 * (bench/wire_bench.ts --taps): an `AF_PACKET` socket whose filter keeps no packet, with
 *
 * - `reject`: a classic BPF filter `ret #0`: what merely having a tap on the interface costs
 *   (the kernel runs the filter on each packet, then frees its reference);
 * - `ebpf`: an eBPF socket filter that keeps a counter per IPv4 4-tuple in a BPF hash map
 *   (lookup, then an atomic add or an insert) and keeps no packet: the floor of a design that
 *   keeps its per-connection state in the kernel and lets user space read it only on demand.
 *
 * Linux x86_64 only, as root (bpf(2) through libc's `syscall`). Bench code, not the service's.
 */

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
  SYSCALL_SYMBOL,
} from "../lib/wire/ebpf.ts";

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const SO_ATTACH_BPF = 50;
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;
const BPF_MAP_CREATE = BPF_CMD.mapCreate;
const BPF_MAP_LOOKUP_ELEM = BPF_CMD.mapLookupElem;
const BPF_MAP_GET_NEXT_KEY = BPF_CMD.mapGetNextKey;
const BPF_PROG_LOAD = BPF_CMD.progLoad;
const BPF_MAP_TYPE_HASH = 1;
const BPF_PROG_TYPE_SOCKET_FILTER = 1;
const MAX_TUPLES = 65_536;

const libc = () =>
  Deno.dlopen(
    "libc.so.6",
    {
      socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
      setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
      bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
      if_nametoindex: { parameters: ["buffer"], result: "u32" },
      close: { parameters: ["i32"], result: "i32" },
      ...SYSCALL_SYMBOL,
      __errno_location: { parameters: [], result: "pointer" },
    } as const,
  );

type Libc = ReturnType<typeof libc>["symbols"];

/** A tap that keeps nothing; `count()` says how many packets its program saw (ebpf only). */
export interface KernelTap {
  kind: "reject" | "ebpf";
  /** Packets the eBPF program counted, over all 4-tuples; null for `reject`. */
  count(): number | null;
  close(): void;
}

function errno(c: Libc): number {
  const p = c.__errno_location();
  return p === null ? -1 : new Deno.UnsafePointerView(p).getInt32();
}

function bpf(c: Libc, cmd: bigint, attr: Uint8Array): number {
  return bpfSyscall(c.syscall, cmd, attr);
}

/**
 * The program: for an IPv4 frame, key = (source address, destination address, both ports)
 * read with LD_ABS from the Ethernet header's start; counters[key] += 1 (an atomic add on the
 * value the lookup found, else an insert of 1). Returns 0: the socket queues nothing.
 */
function counterProgram(mapFd: number): Uint8Array {
  const a = new Asm();
  a.mov(R6, R1); // LD_ABS reads through r6
  a.ldAbs(2, 12).jump("ne", R0, 0x0800, "out");
  a.ldAbs(4, 26).store32(R10, -16, R0); // source address
  a.ldAbs(4, 30).store32(R10, -12, R0); // destination address
  a.ldAbs(4, 34).store32(R10, -8, R0); // both ports (an IHL of 5, as lo's TCP has)
  a.loadMap(R1, mapFd).mov(R2, R10).addImm(R2, -16).call(HELPER.mapLookupElem);
  a.jump("eq", R0, 0, "insert");
  a.movImm(R1, 1).atomicAdd64(R0, 0, R1).jump("always", 0, 0, "out");
  a.label("insert").movImm(R1, 1).store64(R10, -24, R1);
  a.loadMap(R1, mapFd).mov(R2, R10).addImm(R2, -16).mov(R3, R10).addImm(R3, -24);
  a.movImm(R4, 0).call(HELPER.mapUpdateElem); // BPF_ANY
  a.label("out").movImm(R0, 0).exit(); // keep nothing
  return a.bytes();
}

const ptr = addressOf;

/** Opens a tap of `kind` on `iface`; throws Error saying which step the kernel refused. */
export function openKernelTap(kind: "reject" | "ebpf", iface = "lo"): KernelTap {
  if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64") {
    throw new Error(`Cannot open a ${kind} tap: Linux x86_64 only`);
  }
  const lib = libc();
  const c = lib.symbols;
  const fail = (what: string): never => {
    const code = errno(c);
    throw new Error(`Cannot open a ${kind} tap: ${what} failed with errno ${code}`);
  };
  const fd = c.socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket(AF_PACKET)");
  // As the capture does: each loopback packet is seen once, received (no clone when sent).
  const one = new Uint8Array(new Int32Array([1]).buffer);
  if (c.setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, one, 4) !== 0) {
    fail("PACKET_IGNORE_OUTGOING");
  }
  let mapFd = -1;
  let progFd = -1;
  if (kind === "reject") {
    const program = new Uint8Array([6, 0, 0, 0, 0, 0, 0, 0]); // ret #0
    const fprog = new Uint8Array(16);
    const v = new DataView(fprog.buffer);
    v.setUint16(0, 1, true);
    v.setBigUint64(8, ptr(program), true);
    if (c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, 16) !== 0) fail("SO_ATTACH_FILTER");
  } else {
    const mapAttr = new Uint8Array(ATTR_BYTES);
    const m = new DataView(mapAttr.buffer);
    m.setUint32(0, BPF_MAP_TYPE_HASH, true);
    m.setUint32(4, 12, true); // key: two addresses, two ports
    m.setUint32(8, 8, true); // value: a u64 counter
    m.setUint32(12, MAX_TUPLES, true);
    mapFd = bpf(c, BPF_MAP_CREATE, mapAttr);
    if (mapFd < 0) fail("bpf(BPF_MAP_CREATE)");
    const program = counterProgram(mapFd);
    const license = new TextEncoder().encode("GPL\0");
    const log = new Uint8Array(65536);
    const progAttr = new Uint8Array(ATTR_BYTES);
    const p = new DataView(progAttr.buffer);
    p.setUint32(0, BPF_PROG_TYPE_SOCKET_FILTER, true);
    p.setUint32(4, program.length / 8, true);
    p.setBigUint64(8, ptr(program), true);
    p.setBigUint64(16, ptr(license), true);
    p.setUint32(24, 1, true); // log level
    p.setUint32(28, log.length, true);
    p.setBigUint64(32, ptr(log), true);
    progFd = bpf(c, BPF_PROG_LOAD, progAttr);
    if (progFd < 0) {
      const code = errno(c);
      const text = new TextDecoder().decode(log.subarray(0, log.indexOf(0)));
      throw new Error(`Cannot open an ebpf tap: BPF_PROG_LOAD errno ${code}:\n${text}`);
    }
    const value = new Uint8Array(new Int32Array([progFd]).buffer);
    if (c.setsockopt(fd, SOL_SOCKET, SO_ATTACH_BPF, value, 4) !== 0) fail("SO_ATTACH_BPF");
  }
  const index = c.if_nametoindex(new TextEncoder().encode(iface + "\0"));
  if (index === 0) fail(`if_nametoindex(${iface})`);
  const addr = new Uint8Array(20);
  const a = new DataView(addr.buffer);
  a.setUint16(0, AF_PACKET, true);
  a.setUint16(2, ETH_P_ALL, false);
  a.setInt32(4, index, true);
  if (c.bind(fd, addr, 20) !== 0) fail("bind()");
  return {
    kind,
    count: () => kind === "ebpf" ? sumCounters(c, mapFd) : null,
    close: () => {
      c.close(fd);
      if (progFd >= 0) c.close(progFd);
      if (mapFd >= 0) c.close(mapFd);
      lib.close();
    },
  };
}

function sumCounters(c: Libc, mapFd: number): number {
  const key = new Uint8Array(12);
  const next = new Uint8Array(12);
  const value = new BigUint64Array(1);
  const valueBytes = new Uint8Array(value.buffer);
  const attr = new Uint8Array(ATTR_BYTES);
  const v = new DataView(attr.buffer);
  let total = 0;
  let first = true;
  for (let i = 0; i < MAX_TUPLES; i++) {
    attr.fill(0);
    v.setUint32(0, mapFd, true);
    v.setBigUint64(8, first ? 0n : ptr(key), true);
    v.setBigUint64(16, ptr(next), true);
    if (bpf(c, BPF_MAP_GET_NEXT_KEY, attr) !== 0) break;
    first = false;
    key.set(next);
    attr.fill(0);
    v.setUint32(0, mapFd, true);
    v.setBigUint64(8, ptr(key), true);
    v.setBigUint64(16, ptr(valueBytes), true);
    if (bpf(c, BPF_MAP_LOOKUP_ELEM, attr) === 0) total += Number(value[0]);
  }
  return total;
}
