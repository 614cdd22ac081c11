/**
 * The classic BPF program the wire capture attaches to its `AF_PACKET` socket: the kernel
 * keeps only IPv4/IPv6 TCP and UDP packets with a source or destination port in a set, cut to
 * a snap length, so frames of other programs never reach the ring. Pure: the program is bytes
 * the capture hands to `setsockopt(SO_ATTACH_FILTER)`.
 */

// Opcodes (linux/filter.h): class | size | mode.
const LD_H_ABS = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LD_B_ABS = 0x30; // BPF_LD | BPF_B | BPF_ABS
const LD_H_IND = 0x48; // BPF_LD | BPF_H | BPF_IND
const LDX_B_MSH = 0xb1; // BPF_LDX | BPF_B | BPF_MSH: X = 4 * (P[k] & 0xf)
const JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JSET_K = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K = 0x06; // BPF_RET | BPF_K

/** The most ports one program checks: each costs two instructions and jumps reach 255 ahead. */
export const MAX_FILTER_PORTS = 60;

/** Size in bytes of one `struct sock_filter`. */
export const SOCK_FILTER_BYTES = 8;

type Target = "accept" | "reject" | "ipv6" | "next";

interface Op {
  code: number;
  k: number;
  jt?: Target | number;
  jf?: Target | number;
  label?: "accept" | "reject" | "ipv6";
}

/** Options for {@linkcode wireFilter}. */
export interface WireFilterOptions {
  /** Bytes kept of each frame (link header included). @default 256 */
  snaplen?: number;
}

/**
 * Builds the filter for Ethernet-framed packets (as `lo` delivers them): IPv4 or IPv6, TCP or
 * UDP, not a non-first IPv4 fragment, either port in `ports` (empty: any port). Returns the
 * `struct sock_filter` array as bytes, host (little-endian) order. Throws RangeError on a bad
 * port, too many ports or a snap length out of 64..262144.
 */
export function wireFilter(ports: readonly number[], options: WireFilterOptions = {}): Uint8Array {
  const snaplen = options.snaplen ?? 256;
  if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > 262144) {
    throw new RangeError(`Cannot build wire filter: snaplen "${snaplen}" is not in 64-262144`);
  }
  const unique = [...new Set(ports)];
  for (const port of unique) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`Cannot build wire filter: port "${port}" is not in 1-65535`);
    }
  }
  if (unique.length > MAX_FILTER_PORTS) {
    throw new RangeError(
      `Cannot build wire filter: ${unique.length} ports is more than ${MAX_FILTER_PORTS}`,
    );
  }
  const checkPorts = (ops: Op[]) => {
    if (unique.length === 0) {
      ops.push({ code: RET_K, k: snaplen });
      return;
    }
    for (const port of unique) ops.push({ code: JEQ_K, k: port, jt: "accept", jf: "next" });
  };
  const ops: Op[] = [];
  ops.push({ code: LD_H_ABS, k: 12 }); // EtherType
  ops.push({ code: JEQ_K, k: 0x0800, jt: "next", jf: "ipv6" });
  // IPv4: protocol at 14 + 9, fragment offset at 14 + 6.
  ops.push({ code: LD_B_ABS, k: 23 });
  ops.push({ code: JEQ_K, k: 6, jt: 1, jf: 0 });
  ops.push({ code: JEQ_K, k: 17, jt: "next", jf: "reject" });
  ops.push({ code: LD_H_ABS, k: 20 });
  // A later fragment carries no ports where the header says they are.
  ops.push({ code: JSET_K, k: 0x1fff, jt: "reject", jf: "next" });
  ops.push({ code: LDX_B_MSH, k: 14 });
  ops.push({ code: LD_H_IND, k: 14 }); // source port
  checkPorts(ops);
  if (unique.length > 0) {
    ops.push({ code: LD_H_IND, k: 16 }); // destination port
    checkPorts(ops);
    ops.push({ code: RET_K, k: 0 });
  }
  // IPv6 with TCP or UDP as the first next header (no extension headers: what sockets send).
  ops.push({ code: JEQ_K, k: 0x86dd, jt: "next", jf: "reject", label: "ipv6" });
  ops.push({ code: LD_B_ABS, k: 20 });
  ops.push({ code: JEQ_K, k: 6, jt: 1, jf: 0 });
  ops.push({ code: JEQ_K, k: 17, jt: "next", jf: "reject" });
  ops.push({ code: LD_H_ABS, k: 54 });
  checkPorts(ops);
  if (unique.length > 0) {
    ops.push({ code: LD_H_ABS, k: 56 });
    checkPorts(ops);
  }
  ops.push({ code: RET_K, k: 0, label: "reject" });
  ops.push({ code: RET_K, k: snaplen, label: "accept" });
  return assemble(ops);
}

/**
 * Builds the filter that keeps only frames of one EtherType (the raw lab's 0x0801), cut to a
 * snap length. Throws RangeError on an EtherType outside 0-0xffff or a snap length out of
 * 64..262144.
 */
export function etherTypeFilter(etherType: number, options: WireFilterOptions = {}): Uint8Array {
  const snaplen = options.snaplen ?? 256;
  if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > 262144) {
    throw new RangeError(`Cannot build EtherType filter: snaplen "${snaplen}" is not in 64-262144`);
  }
  if (!Number.isInteger(etherType) || etherType < 0 || etherType > 0xffff) {
    throw new RangeError(`Cannot build EtherType filter: "${etherType}" is not in 0-0xffff`);
  }
  return assemble([
    { code: LD_H_ABS, k: 12 },
    { code: JEQ_K, k: etherType, jt: "next", jf: "reject" },
    { code: RET_K, k: snaplen, label: "accept" },
    { code: RET_K, k: 0, label: "reject" },
  ]);
}

function assemble(ops: Op[]): Uint8Array {
  const at = new Map<string, number>();
  ops.forEach((op, i) => {
    if (op.label !== undefined) at.set(op.label, i);
  });
  const out = new Uint8Array(ops.length * SOCK_FILTER_BYTES);
  const view = new DataView(out.buffer);
  const offset = (i: number, target: Target | number | undefined): number => {
    if (target === undefined || target === "next") return 0;
    if (typeof target === "number") return target;
    const to = at.get(target)!;
    const jump = to - i - 1;
    if (jump < 0 || jump > 255) {
      throw new RangeError(`Cannot build wire filter: jump of ${jump} from ${i} to "${target}"`);
    }
    return jump;
  };
  ops.forEach((op, i) => {
    const o = i * SOCK_FILTER_BYTES;
    view.setUint16(o, op.code, true);
    view.setUint8(o + 2, offset(i, op.jt));
    view.setUint8(o + 3, offset(i, op.jf));
    view.setUint32(o + 4, op.k >>> 0, true);
  });
  return out;
}

/**
 * Runs a filter built by {@linkcode wireFilter} over one frame, as the kernel would, for the
 * instructions it uses; returns the bytes kept (0: dropped). For tests.
 */
export function runFilter(program: Uint8Array, frame: Uint8Array): number {
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const n = program.length / SOCK_FILTER_BYTES;
  let a = 0;
  let x = 0;
  const u8 = (k: number) => {
    if (k >= frame.length) throw new RangeError("out of frame");
    return frame[k];
  };
  const u16 = (k: number) => (u8(k) << 8) | u8(k + 1);
  for (let pc = 0; pc < n;) {
    const o = pc * SOCK_FILTER_BYTES;
    const code = view.getUint16(o, true);
    const jt = view.getUint8(o + 2);
    const jf = view.getUint8(o + 3);
    const k = view.getUint32(o + 4, true);
    pc++;
    try {
      switch (code) {
        case LD_H_ABS:
          a = u16(k);
          break;
        case LD_B_ABS:
          a = u8(k);
          break;
        case LD_H_IND:
          a = u16(x + k);
          break;
        case LDX_B_MSH:
          x = 4 * (u8(k) & 0xf);
          break;
        case JEQ_K:
          pc += a === k ? jt : jf;
          break;
        case JSET_K:
          pc += (a & k) !== 0 ? jt : jf;
          break;
        case RET_K:
          return Math.min(k, frame.length);
        default:
          throw new TypeError(`Cannot run filter: opcode "${code}" is not supported`);
      }
    } catch (error) {
      // The kernel drops a packet whose load falls outside it.
      if (error instanceof RangeError) return 0;
      throw error;
    }
  }
  return 0;
}
