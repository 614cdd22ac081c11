/**
 * Read buffers for many connections without giving each a large one.
 *
 * A pending `conn.read(buf)` pins `buf` for as long as the connection is idle,
 * so an idle connection waits on a small slot cut from a shared slab; only a
 * connection whose small read came back full borrows a large buffer, and gives
 * it back as soon as a read does not fill it.
 */

/** Sizes of the slots and large buffers. */
export interface BufferPoolOptions {
  /** Bytes an idle connection reads into. @default 64 */
  smallSize?: number;
  /** Bytes a busy connection reads into. @default 65536 */
  largeSize?: number;
  /** Large buffers kept for reuse; more are left to the garbage collector. @default 64 */
  keepLarge?: number;
  /** Small slots cut per slab. @default 1024 */
  slotsPerSlab?: number;
}

/** Hands out small slots and large buffers, and takes them back. */
export class BufferPool {
  readonly smallSize: number;
  readonly largeSize: number;
  #keepLarge: number;
  #slotsPerSlab: number;
  #freeSmall: Uint8Array[] = [];
  #freeLarge: Uint8Array[] = [];
  #largeOut = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.smallSize = options.smallSize ?? 64;
    this.largeSize = options.largeSize ?? 65536;
    this.#keepLarge = options.keepLarge ?? 64;
    this.#slotsPerSlab = options.slotsPerSlab ?? 1024;
  }

  /** Large buffers currently lent out. */
  get largeInUse(): number {
    return this.#largeOut;
  }

  /** Takes a small slot. */
  small(): Uint8Array {
    const slot = this.#freeSmall.pop();
    if (slot !== undefined) return slot;
    const slab = new Uint8Array(this.smallSize * this.#slotsPerSlab);
    for (let i = this.#slotsPerSlab - 1; i > 0; i--) {
      this.#freeSmall.push(slab.subarray(i * this.smallSize, (i + 1) * this.smallSize));
    }
    return slab.subarray(0, this.smallSize);
  }

  /** Returns a small slot. */
  releaseSmall(slot: Uint8Array): void {
    this.#freeSmall.push(slot);
  }

  /** Borrows a large buffer. */
  large(): Uint8Array {
    this.#largeOut++;
    return this.#freeLarge.pop() ?? new Uint8Array(this.largeSize);
  }

  /** Returns a large buffer. */
  releaseLarge(buf: Uint8Array): void {
    this.#largeOut--;
    if (this.#freeLarge.length < this.#keepLarge) this.#freeLarge.push(buf);
  }
}
