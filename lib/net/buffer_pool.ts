/**
 * Read buffers for many connections without giving each a large one.
 *
 * A pending `conn.read(buf)` pins `buf` for as long as the connection is idle,
 * so an idle connection waits on a small slot cut from a shared slab; only a
 * connection whose small read came back full borrows a large buffer. It keeps
 * it while reads fill it or are large (a stream: going back to the slot there
 * would make every other read a tiny one), and gives it back after a small
 * read, or after any partial read once too many are lent (which bounds what
 * connections that streamed and then went quiet can hold).
 */

/** Sizes of the slots and large buffers. */
export interface BufferPoolOptions {
  /**
   * Bytes an idle connection reads into, unless its endpoint asks for another
   * size (see {@linkcode BufferPool.small}): a message that fits is read in one
   * go, a larger one takes a second read into a large buffer. @default 64
   */
  smallSize?: number;
  /** Bytes a busy connection reads into. @default 65536 */
  largeSize?: number;
  /** Large buffers kept for reuse; more are left to the garbage collector. @default 64 */
  keepLarge?: number;
  /** Small slots cut per slab. @default 1024 */
  slotsPerSlab?: number;
  /**
   * A read of at least this many bytes into a large buffer means the peer is
   * streaming: the buffer is kept for the next read. @default 4096
   */
  streamBytes?: number;
  /** Above this many large buffers lent, any read that does not fill one returns it. @default 1024 */
  maxLent?: number;
}

/** Hands out small slots and large buffers, and takes them back. */
export class BufferPool {
  readonly smallSize: number;
  readonly largeSize: number;
  #keepLarge: number;
  #slotsPerSlab: number;
  #streamBytes: number;
  #maxLent: number;
  /** Free slots by size. */
  #freeSmall = new Map<number, Uint8Array[]>();
  #freeLarge: Uint8Array[] = [];
  #largeOut = 0;
  // Large buffers the capture keeps while the connection that read into them still uses them
  // (its handler may be writing them back), and those of them the capture already gave back.
  #captured = new Set<Uint8Array>();
  #givenBack = new Set<Uint8Array>();
  #heldByCapture = 0;

  constructor(options: BufferPoolOptions = {}) {
    this.smallSize = options.smallSize ?? 64;
    this.largeSize = options.largeSize ?? 65536;
    this.#keepLarge = options.keepLarge ?? 64;
    this.#slotsPerSlab = options.slotsPerSlab ?? 1024;
    this.#streamBytes = options.streamBytes ?? 4096;
    this.#maxLent = options.maxLent ?? 1024;
  }

  /**
   * Whether a connection whose read returned `n` bytes into its large buffer
   * gives it back: when the read filled it, no; when the read was large
   * (a stream in progress, and not too many buffers are out), no; else yes,
   * so an idle connection waits on its small slot.
   */
  shouldRelease(n: number): boolean {
    if (n >= this.largeSize) return false;
    return n < this.#streamBytes || this.#largeOut > this.#maxLent;
  }

  /** Large buffers currently lent out. */
  get largeInUse(): number {
    return this.#largeOut;
  }

  /**
   * Takes a small slot of `size` bytes (the pool's `smallSize` by default; an
   * endpoint whose requests are larger, like the app protocol's, asks for more).
   */
  small(size = this.smallSize): Uint8Array {
    let free = this.#freeSmall.get(size);
    if (free === undefined) this.#freeSmall.set(size, free = []);
    const slot = free.pop();
    if (slot !== undefined) return slot;
    const slab = new Uint8Array(size * this.#slotsPerSlab);
    for (let i = this.#slotsPerSlab - 1; i > 0; i--) {
      free.push(slab.subarray(i * size, (i + 1) * size));
    }
    return slab.subarray(0, size);
  }

  /** Returns a small slot (of whatever size it was taken). */
  releaseSmall(slot: Uint8Array): void {
    this.#freeSmall.get(slot.length)?.push(slot);
  }

  /** Borrows a large buffer. */
  large(): Uint8Array {
    this.#largeOut++;
    return this.#freeLarge.pop() ?? new Uint8Array(this.largeSize);
  }

  /** Returns a large buffer. */
  releaseLarge(buf: Uint8Array): void {
    this.#largeOut--;
    this.#recycle(buf);
  }

  /** Large buffers only the capture holds now (its connections are done with them). */
  get largeInCapture(): number {
    return this.#heldByCapture;
  }

  /**
   * A connection's large buffer was kept by the capture: the connection goes on
   * using it until {@linkcode doneWith}, the capture until it gives it back
   * ({@linkcode fromCapture}); it is reused only after both.
   */
  captured(buf: Uint8Array): void {
    this.#captured.add(buf);
  }

  /** The connection no longer uses a buffer the capture kept: it is the capture's now. */
  doneWith(buf: Uint8Array): void {
    this.#captured.delete(buf);
    this.#largeOut--;
    if (this.#givenBack.delete(buf)) this.#recycle(buf);
    else this.#heldByCapture++;
  }

  /** The capture gives back a buffer it kept (its record was evicted). */
  fromCapture(buf: Uint8Array): void {
    if (this.#captured.has(buf)) {
      // Its connection is still writing from it: reused once that is done.
      this.#givenBack.add(buf);
      return;
    }
    this.#heldByCapture--;
    this.#recycle(buf);
  }

  #recycle(buf: Uint8Array): void {
    if (this.#freeLarge.length < this.#keepLarge) this.#freeLarge.push(buf);
  }
}
