/**
 * The packet log: a preallocated ring of the most recent reads and writes.
 *
 * The hot path (`record`) copies only a preview of the bytes into a slab that
 * was allocated once, so observing a connection costs a few stores and one
 * `subarray` copy per read or write, whatever the traffic.
 */
import type { Redactor } from "./redact.ts";

/** Who a packet belongs to: the socket id and its endpoint (and, where known, its addresses). */
export interface PacketSource {
  readonly id: string;
  readonly endpoint: string;
  readonly transport?: "tcp" | "udp";
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
}

/** Bounded ring of packet previews with increasing `seq` and a drop counter. */
export class PacketLog {
  readonly capacity: number;
  readonly previewBytes: number;
  #ts: Float64Array;
  #len: Uint32Array;
  #plen: Uint16Array;
  #dir: Uint8Array;
  #data: Uint8Array;
  #src: (PacketSource | undefined)[];
  #notes: (PacketNote[] | undefined)[];
  /** The seq the next record gets; seqs start at 1. */
  #next = 1;
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
    this.capacity = capacity;
    this.previewBytes = preview;
    this.#ts = new Float64Array(capacity);
    this.#len = new Uint32Array(capacity);
    this.#plen = new Uint16Array(capacity);
    this.#dir = new Uint8Array(capacity);
    this.#data = new Uint8Array(capacity * preview);
    this.#src = new Array(capacity);
    this.#notes = new Array(capacity);
  }

  /** Seq of the newest entry (0 when empty). */
  get lastSeq(): number {
    return this.#next - 1;
  }

  /** Entries overwritten before anyone could read them off the ring. */
  get dropped(): number {
    return Math.max(0, this.#next - 1 - this.capacity);
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
    const seq = this.#next++;
    const slot = seq % this.capacity;
    const n = bytes.length < this.previewBytes ? bytes.length : this.previewBytes;
    this.#ts[slot] = ts;
    this.#len[slot] = bytes.length;
    this.#plen[slot] = n;
    this.#dir[slot] = dir === "in" ? 0 : 1;
    if (n > 0) {
      this.#data.set(n === bytes.length ? bytes : bytes.subarray(0, n), slot * this.previewBytes);
    }
    this.#src[slot] = src;
    this.#notes[slot] = undefined;
    this.kept = this.tap !== null && this.tap.packet(src, dir, bytes, ts, echo, lend) === true;
    return seq;
  }

  /** A TCP connection (for the tap's synthesized handshake) or a UDP flow opened. */
  opened(src: PacketSource, ts: number): void {
    if (this.tap !== null) this.tap.opened(src, ts);
  }

  /** A TCP connection closed, by FIN or by RST, or a UDP flow ended (for the tap). */
  closed(src: PacketSource, reset: boolean, ts: number): void {
    this.redactor?.forget(src);
    if (this.tap !== null) this.tap.closed(src, reset, ts);
  }

  /** Attaches a decoded summary to an entry still in the ring. */
  annotate(seq: number, note: PacketNote): void {
    if (seq <= this.#next - 1 - this.capacity || seq >= this.#next) return;
    if (this.redactor !== null) {
      // Summaries quote what clients sent (a request line with ?token=…).
      const summary = this.redactor.text(note.summary);
      if (summary !== note.summary) note = { ...note, summary };
    }
    const slot = seq % this.capacity;
    const notes = this.#notes[slot];
    if (notes === undefined) this.#notes[slot] = [note];
    else if (notes.length < 32) notes.push(note);
  }

  /** Entries oldest first that match the query. */
  query(q: PacketQuery = {}): PacketEntry[] {
    const limit = q.limit ?? 100;
    const oldest = Math.max(1, this.#next - this.capacity);
    const out: PacketEntry[] = [];
    if (limit <= 0) return out;
    if (q.after !== undefined) {
      for (let seq = Math.max(oldest, q.after + 1); seq < this.#next && out.length < limit; seq++) {
        if (this.#matches(seq, q)) out.push(this.#entry(seq));
      }
      return out;
    }
    for (let seq = this.#next - 1; seq >= oldest && out.length < limit; seq--) {
      if (this.#matches(seq, q)) out.push(this.#entry(seq));
    }
    return out.reverse();
  }

  #matches(seq: number, q: PacketQuery): boolean {
    const slot = seq % this.capacity;
    const src = this.#src[slot];
    if (src === undefined) return false;
    if (q.conn !== undefined && src.id !== q.conn) return false;
    if (q.endpoint !== undefined && src.endpoint !== q.endpoint) return false;
    if (q.dir !== undefined && (this.#dir[slot] === 0 ? "in" : "out") !== q.dir) return false;
    return true;
  }

  #entry(seq: number): PacketEntry {
    const slot = seq % this.capacity;
    const src = this.#src[slot]!;
    const start = slot * this.previewBytes;
    const preview = this.#data.subarray(start, start + this.#plen[slot]);
    const entry: PacketEntry = {
      seq,
      ts: this.#ts[slot],
      conn: src.id,
      endpoint: src.endpoint,
      dir: this.#dir[slot] === 0 ? "in" : "out",
      len: this.#len[slot],
      data: preview.toBase64(),
      truncated: this.#plen[slot] < this.#len[slot],
    };
    const notes = this.#notes[slot];
    if (notes !== undefined) entry.decoded = notes.slice();
    return entry;
  }
}
