/**
 * The packet log: a preallocated ring of the most recent reads and writes.
 *
 * The hot path (`record`) copies only a preview of the bytes into a slab that
 * was allocated once, so observing a connection costs a few stores and one
 * `subarray` copy per read or write, whatever the traffic.
 *
 * Retention is fair per connection: an entry the ring overwrites is moved,
 * not dropped, into a smaller FIFO of kept entries (a quarter of the entries)
 * when it is one of its connection's first `keepHead` entries or one of its
 * latest `keepTail` (while open, that many once more at most over its life, so
 * a connection busy between floods cannot keep its whole history as "latest";
 * once closed, its last ones in any case). A bulk transfer then overwrites its own
 * entries and everyone's middles; each conversation keeps its beginning and
 * its end until the kept entries overflow (many connections), oldest first.
 */
import type { Redactor } from "./redact.ts";

/** Who a packet belongs to: the socket id and its endpoint (and, where known, its addresses). */
export interface PacketSource {
  readonly id: string;
  readonly endpoint: string;
  readonly transport?: "tcp" | "udp" | "unix";
  /** Its packets are whole link-layer frames (the raw lab's), which the tap skips. */
  readonly linkLayer?: boolean;
  readonly local?: { hostname: string; port: number };
  readonly remote?: { hostname: string; port: number } | null;
  /** Who connected (TCP): the peer (`server`) or the process (`client`). */
  readonly role?: "server" | "client";
  /** Why a closed connection closed ("closed by peer", "error: reset", …). */
  readonly closeReason?: string | null;
  readonly bytesIn?: number;
  readonly bytesOut?: number;
  readonly openedAt?: number | null;
}

/**
 * Sees every packet in full, and TCP connections and UDP flows opening and
 * closing: the hook a full-payload capture (pcapng) plugs into. Called on the
 * hot path, so an implementation copies what it keeps and returns.
 */
export interface PacketTap {
  /**
   * A read or write. `echo` is true when `bytes` is the very view the
   * source's previous read was recorded from, written back unchanged. `lend`
   * offers a read's whole buffer instead of a copy; true means the tap kept it.
   */
  packet(
    src: PacketSource,
    dir: PacketDir,
    bytes: Uint8Array,
    ts: number,
    echo?: boolean,
    lend?: Uint8Array | null,
  ): boolean | void;
  opened(src: PacketSource, ts: number): void;
  /** `reset` when the connection ended by RST rather than FIN (never for a UDP flow). */
  closed(src: PacketSource, reset: boolean, ts: number): void;
  /**
   * A TCP connection's peer half-closed (its FIN read as end of stream) while ours stays open:
   * writes may follow, and a capture orders them after the FIN.
   */
  halfClosed?(src: PacketSource, ts: number): void;
}

/** One tap that calls each of `taps` in turn; null when there are none. */
export function composeTaps(taps: readonly (PacketTap | null | undefined)[]): PacketTap | null {
  const list = taps.filter((t): t is PacketTap => t != null);
  if (list.length <= 1) return list[0] ?? null;
  return {
    packet(src, dir, bytes, ts, echo, lend) {
      // One tap at most keeps a lent buffer (the capture); the others only look.
      let kept = false;
      for (const t of list) {
        if (t.packet(src, dir, bytes, ts, echo, kept ? null : lend) === true) kept = true;
      }
      return kept;
    },
    opened(src, ts) {
      for (const t of list) t.opened(src, ts);
    },
    halfClosed(src, ts) {
      for (const t of list) t.halfClosed?.(src, ts);
    },
    closed(src, reset, ts) {
      for (const t of list) t.closed(src, reset, ts);
    },
  };
}

/** Direction of a packet, seen from the process: `in` was read, `out` was written. */
export type PacketDir = "in" | "out";

/** A decoded summary attached to a packet (an app frame, a framing error, …). */
export interface PacketNote {
  kind: string;
  summary: string;
  error?: boolean;
}

/** One packet-log entry as the API returns it. */
export interface PacketEntry {
  seq: number;
  /** Epoch milliseconds with sub-millisecond precision. */
  ts: number;
  conn: string;
  endpoint: string;
  dir: PacketDir;
  len: number;
  /** Base64 of the first `previewBytes` bytes. */
  data: string;
  truncated: boolean;
  decoded?: PacketNote[];
}

/** Filters for {@linkcode PacketLog.query}. */
export interface PacketQuery {
  /** Only entries with a larger `seq`; without it, the newest `limit` that match. */
  after?: number;
  /** @default 100 */
  limit?: number;
  conn?: string;
  endpoint?: string;
  dir?: PacketDir;
}

/** Defaults of {@linkcode PacketLogOptions}, declared once: `main.ts`'s flags show them. */
export const PACKET_LOG_DEFAULTS = { entries: 10_000, previewBytes: 64 } as const;

/** Sizing of the ring. */
export interface PacketLogOptions {
  /** How many entries the ring keeps. @default 10000 */
  entries?: number;
  /** How many bytes of each read or write are kept. @default 64 */
  previewBytes?: number;
  /** Entries set aside for each connection's first and latest, out of `entries`. @default a quarter of `entries` from 64 on, else 0 */
  keepEntries?: number;
  /** A connection's first entries kept. @default 16 */
  keepHead?: number;
  /** A connection's latest entries kept. @default 16 */
  keepTail?: number;
}

/** Which entries {@linkcode PacketLog.evicted} counts. */
export interface PacketLogFilter {
  conn?: string;
  endpoint?: string;
}

/** The `dir` byte of an entry: bit 0 the direction, bit 1 one of its connection's first. */
const D_OUT = 1;
const D_HEAD = 2;

/** Bounded ring of packet previews with increasing `seq` and a drop counter. */
export class PacketLog {
  readonly capacity: number;
  readonly previewBytes: number;
  // One slab of `capacity` slots: the ring first (`#main` slots), then the kept entries.
  #ts: Float64Array;
  #len: Uint32Array;
  #plen: Uint16Array;
  #dir: Uint8Array;
  #data: Uint8Array;
  #src: (PacketSource | undefined)[];
  #notes: (PacketNote[] | undefined)[];
  /** Each slot's source index. */
  #cidx: Int32Array;
  /** Each kept slot's seq (the ring's follow from theirs). */
  #seqOf: Float64Array;
  #main: number;
  #keep: number;
  /** The oldest kept entry, as an index into the kept slots, and how many there are. */
  #kStart = 0;
  #kCount = 0;
  #keepHead: number;
  #keepTail: number;
  /** The seq the next record gets; seqs start at 1. */
  #next = 1;
  #dropped = 0;
  // Sources by small index, as the capture does: counters in typed arrays, no object per entry.
  #ids = new Map<PacketSource, number>();
  #srcs: (PacketSource | undefined)[] = [];
  #free: number[] = [];
  #lastSrc: PacketSource | null = null;
  #lastIdx = 0;
  /** Entries each source ever recorded (up to `keepHead`, then it stops mattering). */
  #ord = new Uint32Array(64);
  /** Entries each source has in the ring, and in the ring and the kept ones together. */
  #held = new Int32Array(64);
  #refs = new Int32Array(64);
  /** Entries each source kept as its latest while open. */
  #tailUsed = new Int32Array(64);
  #closed = new Uint8Array(64);
  /** Entries of each source dropped for good. */
  #connDropped = new Float64Array(64);
  /** Each source's endpoint, by index into the endpoints' drop counters. */
  #ep = new Int32Array(64);
  #eps = new Map<string, number>();
  #epDropped: number[] = [];
  /** Full-payload observer (the capture), or null. */
  tap: PacketTap | null = null;
  /** Whether the tap kept the buffer the last {@linkcode record} lent it. */
  kept = false;
  /**
   * Masks a secret (the dashboard's token) in what is recorded, before the
   * ring or the tap sees it: every store of bytes and notes is fed from here.
   */
  redactor: Redactor | null = null;

  constructor(options: PacketLogOptions = {}) {
    const capacity = options.entries ?? PACKET_LOG_DEFAULTS.entries;
    const preview = options.previewBytes ?? PACKET_LOG_DEFAULTS.previewBytes;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot size packet log: entries "${capacity}" is not a positive integer`,
      );
    }
    if (!Number.isInteger(preview) || preview < 0 || preview > 65535) {
      throw new RangeError(`Cannot size packet log: preview "${preview}" is not in 0..65535`);
    }
    const keep = options.keepEntries ?? (capacity >= 64 ? capacity >> 2 : 0);
    if (!Number.isInteger(keep) || keep < 0 || keep > capacity >> 1) {
      throw new RangeError(
        `Cannot size packet log: keepEntries "${keep}" is not an integer in 0..${capacity >> 1}`,
      );
    }
    this.capacity = capacity;
    this.previewBytes = preview;
    this.#main = capacity - keep;
    this.#keep = keep;
    this.#keepHead = keep === 0 ? 0 : options.keepHead ?? 16;
    this.#keepTail = keep === 0 ? 0 : options.keepTail ?? 16;
    this.#ts = new Float64Array(capacity);
    this.#len = new Uint32Array(capacity);
    this.#plen = new Uint16Array(capacity);
    this.#dir = new Uint8Array(capacity);
    this.#data = new Uint8Array(capacity * preview);
    this.#src = new Array(capacity);
    this.#notes = new Array(capacity);
    this.#cidx = new Int32Array(capacity);
    this.#seqOf = new Float64Array(capacity);
  }

  /** Seq of the newest entry (0 when empty). */
  get lastSeq(): number {
    return this.#next - 1;
  }

  /** Entries dropped for good: overwritten and not kept, or kept and then dropped. */
  get dropped(): number {
    return this.#dropped;
  }

  /**
   * Entries of connection `conn` (while the log still knows it), of endpoint
   * `endpoint`, or of all, that were dropped for good: with none held, tells
   * "evicted" from "none yet".
   */
  evicted(filter: PacketLogFilter = {}): number {
    if (filter.conn !== undefined) {
      const idx = this.#srcs.findIndex((s) => s?.id === filter.conn);
      if (idx === -1) return 0;
      return filter.endpoint !== undefined && this.#srcs[idx]!.endpoint !== filter.endpoint
        ? 0
        : this.#connDropped[idx];
    }
    if (filter.endpoint !== undefined) {
      const ep = this.#eps.get(filter.endpoint);
      return ep === undefined ? 0 : this.#epDropped[ep];
    }
    return this.#dropped;
  }

  /** Bytes of preview the ring holds at most. */
  get bytesCapacity(): number {
    return this.#data.byteLength;
  }

  /**
   * Records one read or write; returns its seq. Hot path: no allocation beyond the copy.
   * `echo`: `bytes` is the view the source's previous read was recorded from, unchanged.
   * `lend`: the read's whole buffer, which the tap may keep instead of copying the bytes
   * (then {@linkcode kept} is true and the caller must not read into it again).
   */
  record(
    src: PacketSource,
    dir: PacketDir,
    bytes: Uint8Array,
    ts: number,
    echo = false,
    lend: Uint8Array | null = null,
  ): number {
    if (this.redactor !== null) {
      const masked = this.redactor.bytes(src, dir, bytes);
      // A masked copy is neither the read's buffer nor the view an echo refers to.
      if (masked !== bytes) {
        bytes = masked;
        echo = false;
        lend = null;
      }
    }
    const idx = src === this.#lastSrc ? this.#lastIdx : this.#index(src);
    const seq = this.#next++;
    const slot = seq % this.#main;
    if (seq > this.#main) this.#evict(slot, seq - this.#main);
    const n = bytes.length < this.previewBytes ? bytes.length : this.previewBytes;
    this.#ts[slot] = ts;
    this.#len[slot] = bytes.length;
    this.#plen[slot] = n;
    const ord = this.#ord[idx];
    this.#dir[slot] = (dir === "in" ? 0 : D_OUT) | (ord < this.#keepHead ? D_HEAD : 0);
    if (ord < this.#keepHead) this.#ord[idx] = ord + 1;
    if (n > 0) {
      this.#data.set(n === bytes.length ? bytes : bytes.subarray(0, n), slot * this.previewBytes);
    }
    this.#src[slot] = src;
    this.#cidx[slot] = idx;
    this.#notes[slot] = undefined;
    this.#held[idx]++;
    this.#refs[idx]++;
    // A link-layer frame is a frame already: the tap's synthesized TCP/UDP would misstate it.
    this.kept = this.tap !== null && src.linkLayer !== true &&
      this.tap.packet(src, dir, bytes, ts, echo, lend) === true;
    return seq;
  }

  /** A TCP connection (for the tap's synthesized handshake) or a UDP flow opened. */
  opened(src: PacketSource, ts: number): void {
    if (this.tap !== null) this.tap.opened(src, ts);
  }

  /** A TCP connection's peer half-closed: end of stream read (for the tap). */
  halfClosed(src: PacketSource, ts: number): void {
    this.tap?.halfClosed?.(src, ts);
  }

  /** A TCP connection closed, by FIN or by RST, or a UDP flow ended (for the tap). */
  closed(src: PacketSource, reset: boolean, ts: number): void {
    this.redactor?.forget(src);
    const idx = this.#ids.get(src);
    if (idx !== undefined) {
      this.#closed[idx] = 1;
      if (this.#refs[idx] === 0) this.#forget(idx);
    }
    if (this.tap !== null) this.tap.closed(src, reset, ts);
  }

  /** Attaches a decoded summary to an entry still in the ring. */
  annotate(seq: number, note: PacketNote): void {
    if (seq <= this.#next - 1 - this.#main || seq >= this.#next) return;
    if (this.redactor !== null) {
      // Summaries quote what clients sent (a request line with ?token=…).
      const summary = this.redactor.text(note.summary);
      if (summary !== note.summary) note = { ...note, summary };
    }
    const slot = seq % this.#main;
    const notes = this.#notes[slot];
    if (notes === undefined) this.#notes[slot] = [note];
    else if (notes.length < 32) notes.push(note);
  }

  /** Entries oldest first that match the query. */
  query(q: PacketQuery = {}): PacketEntry[] {
    const limit = q.limit ?? 100;
    const main = this.#main;
    const oldest = Math.max(1, this.#next - main);
    const out: PacketEntry[] = [];
    if (limit <= 0) return out;
    // The kept entries are older than the ring's and in seq order: they come first.
    if (q.after !== undefined) {
      for (let i = 0; i < this.#kCount && out.length < limit; i++) {
        const slot = main + (this.#kStart + i) % this.#keep;
        const seq = this.#seqOf[slot];
        if (seq > q.after && this.#matches(slot, q)) out.push(this.#entry(slot, seq));
      }
      for (let seq = Math.max(oldest, q.after + 1); seq < this.#next && out.length < limit; seq++) {
        if (this.#matches(seq % main, q)) out.push(this.#entry(seq % main, seq));
      }
      return out;
    }
    for (let seq = this.#next - 1; seq >= oldest && out.length < limit; seq--) {
      if (this.#matches(seq % main, q)) out.push(this.#entry(seq % main, seq));
    }
    for (let i = this.#kCount - 1; i >= 0 && out.length < limit; i--) {
      const slot = main + (this.#kStart + i) % this.#keep;
      if (this.#matches(slot, q)) out.push(this.#entry(slot, this.#seqOf[slot]));
    }
    return out.reverse();
  }

  #matches(slot: number, q: PacketQuery): boolean {
    const src = this.#src[slot];
    if (src === undefined) return false;
    if (q.conn !== undefined && src.id !== q.conn) return false;
    if (q.endpoint !== undefined && src.endpoint !== q.endpoint) return false;
    if (q.dir !== undefined && ((this.#dir[slot] & D_OUT) === 0 ? "in" : "out") !== q.dir) {
      return false;
    }
    return true;
  }

  #entry(slot: number, seq: number): PacketEntry {
    const src = this.#src[slot]!;
    const start = slot * this.previewBytes;
    const preview = this.#data.subarray(start, start + this.#plen[slot]);
    const entry: PacketEntry = {
      seq,
      ts: this.#ts[slot],
      conn: src.id,
      endpoint: src.endpoint,
      dir: (this.#dir[slot] & D_OUT) === 0 ? "in" : "out",
      len: this.#len[slot],
      data: preview.toBase64(),
      truncated: this.#plen[slot] < this.#len[slot],
    };
    const notes = this.#notes[slot];
    if (notes !== undefined) entry.decoded = notes.slice();
    return entry;
  }

  /** The ring's entry `seq` at `slot` is overwritten: moved to the kept ones, or dropped. */
  #evict(slot: number, seq: number): void {
    const idx = this.#cidx[slot];
    const held = this.#held[idx]--;
    const head = (this.#dir[slot] & D_HEAD) !== 0;
    const tail = !head && held <= this.#keepTail &&
      (this.#closed[idx] === 1 || this.#tailUsed[idx] < this.#keepTail);
    if (!head && !tail) {
      this.#drop(idx);
      return;
    }
    if (tail) this.#tailUsed[idx]++;
    if (this.#kCount === this.#keep) this.#evictKept();
    const to = this.#main + (this.#kStart + this.#kCount) % this.#keep;
    this.#kCount++;
    this.#ts[to] = this.#ts[slot];
    this.#len[to] = this.#len[slot];
    this.#plen[to] = this.#plen[slot];
    this.#dir[to] = this.#dir[slot];
    const p = this.previewBytes;
    this.#data.copyWithin(to * p, slot * p, slot * p + this.#plen[slot]);
    this.#src[to] = this.#src[slot];
    this.#notes[to] = this.#notes[slot];
    this.#cidx[to] = idx;
    this.#seqOf[to] = seq;
  }

  /** Drops the oldest kept entry for good. */
  #evictKept(): void {
    const slot = this.#main + this.#kStart;
    this.#kStart = (this.#kStart + 1) % this.#keep;
    this.#kCount--;
    this.#src[slot] = undefined;
    this.#notes[slot] = undefined;
    this.#drop(this.#cidx[slot]);
  }

  /** One entry of source `idx` dropped for good. */
  #drop(idx: number): void {
    this.#dropped++;
    this.#connDropped[idx]++;
    this.#epDropped[this.#ep[idx]]++;
    if (--this.#refs[idx] === 0 && this.#closed[idx] === 1) this.#forget(idx);
  }

  #index(src: PacketSource): number {
    let idx = this.#ids.get(src);
    if (idx === undefined) idx = this.#register(src);
    this.#lastSrc = src;
    this.#lastIdx = idx;
    return idx;
  }

  #register(src: PacketSource): number {
    let idx = this.#free.pop();
    if (idx === undefined) {
      idx = this.#srcs.length;
      this.#srcs.push(undefined);
      if (idx >= this.#ord.length) this.#grow();
    }
    let ep = this.#eps.get(src.endpoint);
    if (ep === undefined) {
      ep = this.#epDropped.length;
      this.#eps.set(src.endpoint, ep);
      this.#epDropped.push(0);
    }
    this.#ids.set(src, idx);
    this.#srcs[idx] = src;
    this.#ord[idx] = 0;
    this.#held[idx] = 0;
    this.#refs[idx] = 0;
    this.#tailUsed[idx] = 0;
    this.#closed[idx] = 0;
    this.#connDropped[idx] = 0;
    this.#ep[idx] = ep;
    return idx;
  }

  /** Forgets a closed source the log holds nothing of. */
  #forget(idx: number): void {
    const src = this.#srcs[idx]!;
    this.#ids.delete(src);
    this.#srcs[idx] = undefined;
    this.#free.push(idx);
    if (this.#lastSrc === src) this.#lastSrc = null;
  }

  #grow(): void {
    const n = this.#ord.length * 2;
    const ord = new Uint32Array(n);
    ord.set(this.#ord);
    this.#ord = ord;
    const held = new Int32Array(n);
    held.set(this.#held);
    this.#held = held;
    const refs = new Int32Array(n);
    refs.set(this.#refs);
    this.#refs = refs;
    const tailUsed = new Int32Array(n);
    tailUsed.set(this.#tailUsed);
    this.#tailUsed = tailUsed;
    const closed = new Uint8Array(n);
    closed.set(this.#closed);
    this.#closed = closed;
    const connDropped = new Float64Array(n);
    connDropped.set(this.#connDropped);
    this.#connDropped = connDropped;
    const ep = new Int32Array(n);
    ep.set(this.#ep);
    this.#ep = ep;
  }
}
