/**
 * Just enough eBPF to load a small program without a compiler: an assembler with labels for
 * the instructions the wire capture uses, and `bpf(2)` through libc's `syscall`. Pure except
 * {@linkcode bpfSyscall}; the instruction set is the kernel's (Documentation/bpf/standardization).
 */

/** Registers: r0 result, r1-r5 arguments (clobbered by calls), r6-r9 kept, r10 frame pointer. */
export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R6 = 6, R7 = 7, R8 = 8, R10 = 10;

/** Helper function ids (include/uapi/linux/bpf.h). */
export const HELPER = {
  mapLookupElem: 1,
  mapUpdateElem: 2,
  ktimeGetNs: 5,
  skbLoadBytes: 26,
  ringbufReserve: 131,
  ringbufSubmit: 132,
  ringbufQuery: 134,
} as const;

/** bpf(2) commands. */
export const BPF_CMD = {
  mapCreate: 0n,
  mapLookupElem: 1n,
  mapGetNextKey: 4n,
  progLoad: 5n,
  linkCreate: 28n,
  linkUpdate: 29n,
} as const;

/** The bytes every `union bpf_attr` this module fills takes (the kernel wants the rest zero). */
export const ATTR_BYTES = 128;

// One instruction: opcode, dst | src << 4, signed 16-bit offset, signed 32-bit immediate.
interface Insn {
  op: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** A jump's target label (resolved into `off`). */
  to?: string;
}

/**
 * An eBPF program under construction. Jumps name a label; {@linkcode Asm.label} places one;
 * {@linkcode Asm.bytes} resolves them and returns the instructions as the kernel reads them.
 */
export class Asm {
  #code: Insn[] = [];
  #labels = new Map<string, number>();

  /** Places `name` at the next instruction. Throws RangeError when placed twice. */
  label(name: string): this {
    if (this.#labels.has(name)) throw new RangeError(`Cannot assemble: label "${name}" twice`);
    this.#labels.set(name, this.#code.length);
    return this;
  }

  #emit(op: number, dst: number, src: number, off: number, imm: number, to?: string): this {
    this.#code.push({ op, dst, src, off, imm, to });
    return this;
  }

  /** dst = imm (64-bit, sign-extended). */
  movImm(dst: number, imm: number): this {
    return this.#emit(0xb7, dst, 0, 0, imm);
  }

  /** dst = src. */
  mov(dst: number, src: number): this {
    return this.#emit(0xbf, dst, src, 0, 0);
  }

  /** dst += imm. */
  addImm(dst: number, imm: number): this {
    return this.#emit(0x07, dst, 0, 0, imm);
  }

  /** dst &= imm. */
  andImm(dst: number, imm: number): this {
    return this.#emit(0x57, dst, 0, 0, imm);
  }

  /** dst <<= imm. */
  lshImm(dst: number, imm: number): this {
    return this.#emit(0x67, dst, 0, 0, imm);
  }

  /** r0 = the packet's big-endian 8/16/32-bit word at `k` (LD_ABS; needs r6 = the context). */
  ldAbs(size: 1 | 2 | 4, k: number): this {
    return this.#emit(0x20 | SIZE[size], 0, 0, 0, k);
  }

  /** r0 = the packet's big-endian word at `index + k` (LD_IND). */
  ldInd(size: 1 | 2 | 4, index: number, k: number): this {
    return this.#emit(0x40 | SIZE[size], 0, index, 0, k);
  }

  /** dst = *(u32 *)(src + off). */
  load32(dst: number, src: number, off: number): this {
    return this.#emit(0x61, dst, src, off, 0);
  }

  /** *(u32 *)(dst + off) = src. */
  store32(dst: number, off: number, src: number): this {
    return this.#emit(0x63, dst, src, off, 0);
  }

  /** *(u64 *)(dst + off) = src. */
  store64(dst: number, off: number, src: number): this {
    return this.#emit(0x7b, dst, src, off, 0);
  }

  /** *(u32 *)(dst + off) = imm. */
  store32Imm(dst: number, off: number, imm: number): this {
    return this.#emit(0x62, dst, 0, off, imm);
  }

  /** lock *(u64 *)(dst + off) += src. */
  atomicAdd64(dst: number, off: number, src: number): this {
    return this.#emit(0xdb, dst, src, off, 0);
  }

  /** dst = the map whose descriptor is `fd` (a two-slot load the kernel rewrites). */
  loadMap(dst: number, fd: number): this {
    this.#emit(0x18, dst, 1, 0, fd);
    return this.#emit(0, 0, 0, 0, 0);
  }

  /** Calls helper `id`: arguments in r1-r5, result in r0. */
  call(id: number): this {
    return this.#emit(0x85, 0, 0, 0, id);
  }

  /** Jumps to `to` when `dst <cmp> imm` (unsigned), or always for "always". */
  jump(cmp: keyof typeof JUMP, dst: number, imm: number, to: string): this {
    return this.#emit(JUMP[cmp], dst, 0, 0, imm, to);
  }

  exit(): this {
    return this.#emit(0x95, 0, 0, 0, 0);
  }

  /** The program's bytes; throws RangeError on an unknown label or a jump past 32,767. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#code.length * 8);
    const view = new DataView(out.buffer);
    this.#code.forEach((insn, i) => {
      let off = insn.off;
      if (insn.to !== undefined) {
        const at = this.#labels.get(insn.to);
        if (at === undefined) throw new RangeError(`Cannot assemble: no label "${insn.to}"`);
        off = at - (i + 1);
        if (off < -32768 || off > 32767) {
          throw new RangeError(`Cannot assemble: jump to "${insn.to}" is too far`);
        }
      }
      view.setUint8(i * 8, insn.op);
      view.setUint8(i * 8 + 1, insn.dst | (insn.src << 4));
      view.setInt16(i * 8 + 2, off, true);
      view.setInt32(i * 8 + 4, insn.imm, true);
    });
    return out;
  }
}

const SIZE = { 1: 0x10, 2: 0x08, 4: 0x00 } as const;

const JUMP = {
  always: 0x05,
  eq: 0x15,
  ne: 0x55,
  gt: 0x25,
  lt: 0xa5,
  le: 0xb5,
} as const;

/** The address of a buffer, for a pointer field of `bpf_attr`. */
export function addressOf(bytes: Uint8Array): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
}

/** The libc symbol {@linkcode bpfSyscall} calls (variadic `syscall`, integer arguments only). */
export const SYSCALL_SYMBOL = {
  syscall: { parameters: ["i64", "i64", "buffer", "u64"], result: "i64" },
} as const;

/** `bpf(cmd, attr, size)`; returns what the kernel returned (a descriptor, 0, or -1). */
export function bpfSyscall(
  syscall: (nr: bigint, cmd: bigint, attr: Uint8Array, size: bigint) => bigint,
  cmd: bigint,
  attr: Uint8Array,
): number {
  const nr = Deno.build.arch === "aarch64" ? 280n : 321n;
  return Number(syscall(nr, cmd, attr, BigInt(attr.length)));
}
