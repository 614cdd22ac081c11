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

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0x80000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_ATTACH_FILTER = 26;
const SO_ATTACH_BPF = 50;
const SOL_PACKET = 263;
const PACKET_IGNORE_OUTGOING = 23;
const SYS_BPF = 321n; // x86_64
const BPF_MAP_CREATE = 0n;
const BPF_MAP_LOOKUP_ELEM = 1n;
const BPF_MAP_GET_NEXT_KEY = 4n;
const BPF_PROG_LOAD = 5n;
const BPF_MAP_TYPE_HASH = 1;
const BPF_PROG_TYPE_SOCKET_FILTER = 1;
const ATTR_BYTES = 128;
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
      syscall: { parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
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
  return Number(c.syscall(SYS_BPF, cmd, attr, BigInt(attr.length)));
}

// eBPF instructions: opcode, dst | src << 4, 16-bit offset, 32-bit immediate.
function insn(op: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, op);
  v.setUint8(1, dst | (src << 4));
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return [...b];
}

/** r1 = the map whose fd is `fd` (a two-slot load, src 1 = BPF_PSEUDO_MAP_FD). */
const loadMap = (fd: number) => [...insn(0x18, 1, 1, 0, fd), ...insn(0, 0, 0, 0, 0)];

/**
 * The program: for an IPv4 frame, key = (source address, destination address, both ports)
 * read with LD_ABS from the Ethernet header's start; counters[key] += 1 (an atomic add on the
 * value the lookup found, else an insert of 1). Returns 0: the socket queues nothing.
 */
function counterProgram(mapFd: number): Uint8Array {
  const r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r6 = 6, r10 = 10;
  const code = [
    insn(0xbf, r6, r1, 0, 0), // 0: r6 = ctx (LD_ABS reads through it)
    insn(0x28, 0, 0, 0, 12), // 1: r0 = ethertype
    insn(0x55, r0, 0, 24, 0x0800), // 2: not IPv4: to 27
    insn(0x20, 0, 0, 0, 26), // 3: r0 = source address
    insn(0x63, r10, r0, -16, 0), // 4
    insn(0x20, 0, 0, 0, 30), // 5: r0 = destination address
    insn(0x63, r10, r0, -12, 0), // 6
    insn(0x20, 0, 0, 0, 34), // 7: r0 = both ports (an IHL of 5, as lo's TCP has)
    insn(0x63, r10, r0, -8, 0), // 8
    loadMap(mapFd), // 9-10
    insn(0xbf, r2, r10, 0, 0), // 11
    insn(0x07, r2, 0, 0, -16), // 12: r2 = &key
    insn(0x85, 0, 0, 0, 1), // 13: map_lookup_elem
    insn(0x15, r0, 0, 3, 0), // 14: none yet: to 18
    insn(0xb7, r1, 0, 0, 1), // 15
    insn(0xdb, r0, r1, 0, 0), // 16: lock *(u64 *)r0 += 1
    insn(0x05, 0, 0, 9, 0), // 17: to 27
    insn(0x7a, r10, 0, -24, 1), // 18: value = 1
    loadMap(mapFd), // 19-20
    insn(0xbf, r2, r10, 0, 0), // 21
    insn(0x07, r2, 0, 0, -16), // 22: r2 = &key
    insn(0xbf, r3, r10, 0, 0), // 23
    insn(0x07, r3, 0, 0, -24), // 24: r3 = &value
    insn(0xb7, r4, 0, 0, 0), // 25: BPF_ANY
    insn(0x85, 0, 0, 0, 2), // 26: map_update_elem
    insn(0xb7, r0, 0, 0, 0), // 27: keep nothing
    insn(0x95, 0, 0, 0, 0), // 28: exit
  ];
  return new Uint8Array(code.flat());
}

function ptr(b: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b)));
}

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
