/**
 * Full-payload capture: a bounded byte ring that keeps every read and write
 * whole, with TCP opens and closes, and exports any part of it as pcapng.
 *
 * The hot path (`packet`) copies the bytes once into a preallocated ring
 * behind a 32-byte header written through a DataView: no object per packet.
 * A large read can be lent instead of copied: with a `release` hook, a quarter
 * of the size is kept for whole read buffers the ring holds by reference and
 * hands back through the hook when their record is evicted (copying bulk reads
 * cost the observed echo ~10% of its throughput).
 * Each record carries its connection's byte offsets in both directions, so
 * any subset of records (one connection, one endpoint, what is left after
 * the oldest were evicted, one rotated file) exports with sequence numbers
 * consistent with the byte stream: a connection whose beginning was evicted
 * starts with a synthesized handshake at its first kept byte (marked by a
 * packet comment), and bytes evicted in the middle of an export show as a gap
 * ("previous segment not captured") rather than as wrong numbers.
 *
 * Retention is fair per connection: a record the ring evicts is moved, not
 * dropped, into a smaller FIFO of kept records (an eighth of the capacity)
 * when it holds its connection's first `keepHead` bytes of a direction, the
 * latest `keepTail` bytes of a direction (the connection holds no more than
 * that of it in the ring; while open, once more at most, so a connection busy
 * between floods cannot keep its whole history as "latest"), or its open or
 * close; the part of a record outside those bytes is trimmed off. A bulk transfer then evicts its own middle and everyone's middles, while
 * every conversation keeps its beginning and its end until the kept records
 * overflow (many connections), oldest first. The kept records are older than
 * every record of the ring, so readers visit them first and stay in seq order.
 */
import type { PacketDir, PacketSource, PacketTap } from "./packet_log.ts";
import { concat } from "../bytes.ts";
import { type ConnInfo, PcapngEncoder } from "./pcapng.ts";

/** Defaults of {@linkcode CaptureRingOptions}, declared once: `main.ts`'s flags show them. */
export const CAPTURE_RING_DEFAULTS = { bytes: 64 * 1024 * 1024 } as const;

/** Sizing of the ring. */
export interface CaptureRingOptions {
  /** Bytes the ring holds, headers included; at least 4096. @default 67108864 */
  bytes?: number;
  /** Endpoints whose sources are UDP flows when a source does not say its transport. */
  udpEndpoints?: Iterable<string>;
  /**
   * Takes back a buffer lent to {@linkcode CaptureRing.packet} once its record is evicted.
   * Without it nothing is lent: every payload is copied into the ring.
   */
  release?: (buffer: Uint8Array) => void;
  /** Reads of at least this many bytes are kept by reference when lent. @default 8192 */
  lendMin?: number;
  /**
   * Bytes set aside for each connection's first and latest bytes, out of `bytes`.
   * @default an eighth of `bytes` from 64 KiB on, else 0 (no per-connection retention)
   */
  keepBytes?: number;
  /** Bytes of each direction of a connection kept from its start. @default a 64th of `keepBytes`, at most 4096 */
  keepHead?: number;
  /** Latest bytes (records, headers included) of each direction kept. @default as `keepHead` */
  keepTail?: number;
}

/** Which records an export or a reader wants. */
export interface CaptureFilter {
  /** A connection or flow id (`c12`, `u3`). */
  conn?: string;
  /** An endpoint name. */
  endpoint?: string;
}

/** The capture's counters, for `/metrics` and the API. */
export interface CaptureStats {
  capacityBytes: number;
  /** Bytes of the ring in use (headers and payload). */
  usedBytes: number;
  /** Records held: packets, opens and closes. */
  records: number;
  /** Packets (reads, writes, datagrams; large ones count once per stored piece) ever captured. */
  packets: number;
  /** Payload bytes ever captured. */
  bytes: number;
  /** Packets evicted by newer ones. */
  droppedPackets: number;
  /** Payload bytes evicted by newer ones. */
  droppedBytes: number;
}

/** A connection or flow as the capture knows it. */
export interface CaptureConn extends ConnInfo {
  endpoint: string;
}

/** One record, as a reader sees it; the object and its payload are reused after the visit. */
export interface CaptureRecord {
  /** `fin`: the peer half-closed (its FIN read) before the connection closed. */
  kind: "in" | "out" | "open" | "fin" | "close";
  conn: CaptureConn;
  /** Epoch milliseconds. */
  ts: number;
  /** Bytes read on this connection before this record (mod 2^32). */
  offIn: number;
  /** Bytes written on this connection before this record (mod 2^32). */
  offOut: number;
  /** A view into the ring: valid only during the visit. */
  payload: Uint8Array;
  /** For `close`: ended by RST. */
  reset: boolean;
  /** For `close`: who closed (or reset) first. */
  closer: "local" | "remote";
}

/** Where a reader is in the ring: the next record's seq and position. */
export interface CaptureCursor {
  seq: number;
  pos: number;
  /** Where it is in the kept records: the next one's number and position. */
  keptN: number;
  keptPos: number;
  /** Records evicted before this reader got to them. */
  skipped: number;
}

const HEADER = 32;
const K_IN = 1, K_OUT = 2, K_OPEN = 3, K_CLOSE = 4, K_FIN = 5;
const F_RESET = 1, F_REMOTE_CLOSER = 2;
/** An `out` record whose payload is its connection's previous `in` record's (an echo). */
const F_REF = 4;
/** An `in` record an `out` record refers to: evicting it loses that one too. */
const F_ECHOED = 8;
/** An echo record holds, after its header, where its payload lives: position and seq. */
const REF_SIZE = HEADER + 16;
/** An `in` record whose payload is a lent buffer (slot number after the header). */
const F_LENT = 16;
/** A kept record that is the first piece of a packet whose last piece follows (same seq). */
const F_SPLIT = 32;
const KINDS = ["", "in", "out", "open", "close", "fin"] as const;
/** A kept record: the ring's header, then its seq (f64), then the payload, always a copy. */
const KEPT_HEADER = HEADER + 8;
const EMPTY = new Uint8Array(0);

/** The bounded full-payload capture; plugs into the packet log as its tap. */
export class CaptureRing implements PacketTap {
  readonly capacity: number;
  #ring: Uint8Array;
  /** Bytes of the byte ring (the capacity less the budget for lent buffers). */
  #size: number;
  // Lent buffers by slot, their bytes (whole buffers) and the budget for them.
  #lent: (Uint8Array | undefined)[] = [];
  #lentFree: number[] = [];
  #lentBytes = 0;
  #lentBudget: number;
  #lendMin: number;
  #release: ((buffer: Uint8Array) => void) | null;
  // Aligned views of the ring for the hot path: records start on 8-byte boundaries.
  #u32: Uint32Array;
  #f64: Float64Array;
  /** Largest payload in one record. */
  #maxChunk: number;
  #head = 0;
  #tail = 0;
  /** Seq of the next record written, and of the oldest still held. */
  #headSeq = 0;
  #tailSeq = 0;
  /** Seq of the first record written at position 0 after the latest wrap. */
  #wrapSeq = -1;
  #count = 0;
  #used = 0;
  #packets = 0;
  #bytes = 0;
  #droppedPackets = 0;
  #droppedBytes = 0;
  // Sources by small index: records store the index, not the object.
  #ids = new Map<PacketSource, number>();
  #srcs: (PacketSource | undefined)[] = [];
  #conns: (CaptureConn | undefined)[] = [];
  #refs = new Int32Array(64);
  #offIn = new Uint32Array(64);
  #offOut = new Uint32Array(64);
  #closed = new Uint8Array(64);
  // Each source's newest `in` record, so an echo of it is stored once.
  #lastInPos = new Int32Array(64);
  #lastInSeq = new Float64Array(64);
  #lastIn: (Uint8Array | undefined)[] = [];
  /**
   * Bytes (headers included) each source holds in the ring, per direction (`2 * idx` for
   * reads, `2 * idx + 1` for writes): an echo reads all before it writes the last.
   */
  #ringCost = new Float64Array(128);
  /** Bytes of kept records each source's head took, so tiny records cannot take thousands. */
  #keptCost = new Float64Array(64);
  /**
   * Bytes of kept records each source's latest bytes took while it was open, per direction:
   * a connection active between floods would otherwise keep its whole history as "latest".
   */
  #tailCost = new Float64Array(128);
  // An `in` record moved to the kept records while its echo is still in the ring: its seq and
  // position there (the echo refers to the read by ring position, which is gone), else -1.
  #pendSeq = new Float64Array(64).fill(-1);
  #pendPos = new Int32Array(64);
  /** How much of that read was kept (its first bytes), and its whole length. */
  #pendLen = new Int32Array(64);
  #pendFull = new Float64Array(64);
  #free: number[] = [];
  #lastSrc: PacketSource | null = null;
  #lastIdx = 0;
  /** The source being appended to: eviction must not forget it mid-append. */
  #pinned = -1;
  #udp: Set<string>;
  #record: CaptureRecord;
  // The kept records: a FIFO byte ring like the main one, numbered by `n` instead of seq.
  #keep: Uint8Array;
  #kU32: Uint32Array;
  #kF64: Float64Array;
  #kSize: number;
  #kHead = 0;
  #kTail = 0;
  #kHeadN = 0;
  #kTailN = 0;
  #kWrapN = -1;
  #kUsed = 0;
  #keepHead: number;
  #keepTail: number;

  constructor(options: CaptureRingOptions = {}) {
    const bytes = options.bytes ?? CAPTURE_RING_DEFAULTS.bytes;
    if (!Number.isInteger(bytes) || bytes < 4096 || bytes > 2 ** 31) {
      throw new RangeError(`Cannot size capture ring: "${bytes}" is not an integer in 4096..2^31`);
    }
    this.capacity = bytes & ~7;
    this.#release = options.release ?? null;
    this.#lendMin = options.lendMin ?? 8192;
    // A quarter for lent buffers when they can be given back, and never less than two of them.
    this.#lentBudget = this.#release === null || this.capacity < 1 << 20
      ? 0
      : (this.capacity >> 2) & ~7;
    const keep = options.keepBytes ?? (this.capacity >= 65536 ? this.capacity >> 3 : 0);
    if (!Number.isInteger(keep) || keep < 0 || keep > this.capacity >> 1) {
      throw new RangeError(
        `Cannot size capture ring: keepBytes "${keep}" is not an integer in 0..${
          this.capacity >> 1
        }`,
      );
    }
    this.#kSize = keep & ~7;
    this.#keep = new Uint8Array(this.#kSize);
    this.#kU32 = new Uint32Array(this.#keep.buffer);
    this.#kF64 = new Float64Array(this.#keep.buffer);
    // A kept record holds at most a quarter of the kept bytes, like the ring's records. By
    // default one connection keeps at most about 7 * 1/64 of them (first bytes with headers,
    // latest of each direction while open and once closed): 4 KiB each from 2 MiB captures on.
    const most = Math.max(0, (this.#kSize >> 2) - KEPT_HEADER);
    const unit = Math.min(4096, (this.#kSize >> 6) & ~7);
    this.#keepHead = Math.min(options.keepHead ?? unit, most);
    this.#keepTail = Math.min(options.keepTail ?? unit, most);
    this.#size = this.capacity - this.#lentBudget - this.#kSize;
    this.#ring = new Uint8Array(this.#size);
    this.#u32 = new Uint32Array(this.#ring.buffer);
    this.#f64 = new Float64Array(this.#ring.buffer);
    // A record never takes more than a quarter of the ring, so one write cannot empty it; a
    // datagram (at most 65507 bytes) stays one record, TCP segments are cut when exported.
    this.#maxChunk = Math.min(65536, (this.#size >> 2) - HEADER);
    this.#udp = new Set(options.udpEndpoints ?? []);
    this.#record = {
      kind: "in",
      conn: { id: "", endpoint: "", transport: "tcp" },
      ts: 0,
      offIn: 0,
      offOut: 0,
      payload: EMPTY,
      reset: false,
      closer: "local",
    };
  }

  /** The counters. */
  stats(): CaptureStats {
    return {
      capacityBytes: this.capacity,
      usedBytes: this.#used + this.#kUsed + this.#lentBytes,
      records: this.#count + this.#kHeadN - this.#kTailN,
      packets: this.#packets,
      bytes: this.#bytes,
      droppedPackets: this.#droppedPackets,
      droppedBytes: this.#droppedBytes,
    };
  }

  /** Seq the next record will get: a reader stops here to read a snapshot. */
  get endSeq(): number {
    return this.#headSeq;
  }

  /**
   * Records a read or write in full. Hot path: one copy, no allocation. With
   * `echo`, `bytes` is the very view the source's previous read was recorded
   * from, written back unchanged: it is stored once, the write referring to it.
   * With `lend`, a read's whole buffer (`bytes` viewing it from its start): if
   * the read is large, the ring keeps the buffer itself instead of a copy and
   * returns true; the caller must not read into it again, and the ring hands it
   * to `release` once evicted.
   */
  packet(
    src: PacketSource,
    dir: PacketDir,
    bytes: Uint8Array,
    ts: number,
    echo = false,
    lend: Uint8Array | null = null,
  ): boolean {
    const idx = src === this.#lastSrc ? this.#lastIdx : this.#index(src);
    const kind = dir === "in" ? K_IN : K_OUT;
    const n = bytes.length;
    if (n <= this.#maxChunk) {
      if (kind === K_IN) {
        const kept = lend !== null && n >= this.#lendMin &&
          this.#lentBudget >= 2 * lend.byteLength &&
          bytes.buffer === lend.buffer && bytes.byteOffset === lend.byteOffset;
        const at = kept
          ? this.#appendLent(idx, ts, n, lend)
          : this.#append(kind, 0, idx, ts, bytes);
        this.#lastInPos[idx] = at;
        this.#lastInSeq[idx] = this.#headSeq - 1;
        this.#lastIn[idx] = bytes;
        return kept;
      } else if (!echo || this.#lastIn[idx] !== bytes || !this.#appendEcho(idx, ts, n)) {
        this.#append(kind, 0, idx, ts, bytes);
      }
    } else {
      this.#lastIn[idx] = undefined;
      for (let at = 0; at < n; at += this.#maxChunk) {
        this.#append(kind, 0, idx, ts, bytes.subarray(at, at + this.#maxChunk));
      }
    }
    return false;
  }

  /** A TCP connection or a UDP flow opened. */
  opened(src: PacketSource, ts: number): void {
    this.#append(K_OPEN, 0, this.#index(src), ts, EMPTY);
  }

  /** A TCP connection's peer half-closed: the export puts its FIN here, before later writes. */
  halfClosed(src: PacketSource, ts: number): void {
    this.#append(K_FIN, F_REMOTE_CLOSER, this.#index(src), ts, EMPTY);
  }

  /** A TCP connection or a UDP flow ended. */
  closed(src: PacketSource, reset: boolean, ts: number): void {
    const idx = this.#index(src);
    // The peer went first when we read its FIN or its RST; otherwise the process closed.
    const reason = src.closeReason ?? "";
    const remote = reason === "closed by peer" || (reset && reason === "error: reset");
    this.#append(K_CLOSE, (reset ? F_RESET : 0) | (remote ? F_REMOTE_CLOSER : 0), idx, ts, EMPTY);
    this.#closed[idx] = 1;
  }

  /** True if any held record matches `filter`. */
  has(filter: CaptureFilter): boolean {
    for (const conn of this.#conns) {
      if (conn !== undefined && matches(conn, filter)) return true;
    }
    return false;
  }

  /** A reader positioned at the oldest record held. */
  cursor(): CaptureCursor {
    const kept = this.#kHeadN > this.#kTailN;
    return {
      seq: kept ? this.#kF64[(this.#kTail >> 3) + 4] : this.#tailSeq,
      pos: this.#tail,
      keptN: this.#kTailN,
      keptPos: this.#kTail,
      skipped: 0,
    };
  }

  /** A reader positioned after the newest record: it sees only what comes next. */
  cursorAtEnd(): CaptureCursor {
    return {
      seq: this.#headSeq,
      pos: this.#head,
      keptN: this.#kHeadN,
      keptPos: this.#kHead,
      skipped: 0,
    };
  }

  /**
   * Visits records from `cursor` on, oldest first, up to `endSeq` (exclusive)
   * or until `visit` has been called `maxRecords` times; advances the cursor.
   * Records evicted since the cursor last moved are skipped (and counted in
   * `cursor.skipped`). Returns true when the cursor reached `endSeq` or the
   * newest record.
   */
  read(
    cursor: CaptureCursor,
    endSeq: number,
    visit: (record: CaptureRecord) => void,
    maxRecords = Infinity,
  ): boolean {
    const end = Math.min(endSeq, this.#headSeq);
    let n = 0;
    if (cursor.seq < this.#tailSeq) {
      // Behind the ring: what is left of those records is among the kept ones, in seq order.
      if (cursor.keptN < this.#kTailN) {
        cursor.keptN = this.#kTailN;
        cursor.keptPos = this.#kTail;
      }
      let full = false;
      while (cursor.keptN < this.#kHeadN) {
        if (cursor.keptN === this.#kWrapN) cursor.keptPos = 0;
        const at = cursor.keptPos;
        const seq = this.#kF64[(at >> 3) + 4];
        if (seq >= end) break;
        if (seq >= cursor.seq) {
          if (n >= maxRecords) {
            full = true;
            break;
          }
          cursor.skipped += seq - cursor.seq;
          this.#decodeKept(at);
          visit(this.#record);
          n++;
          // The first piece of a record kept in two: the reader is not past its seq yet.
          const nextN = cursor.keptN + 1;
          const next = nextN === this.#kWrapN ? 0 : at + this.#kU32[at >> 2];
          cursor.seq = nextN < this.#kHeadN && this.#kF64[(next >> 3) + 4] === seq ? seq : seq + 1;
        }
        cursor.keptPos = at + this.#kU32[at >> 2];
        cursor.keptN++;
      }
      // What the kept records do not hold up to the ring's oldest record was dropped.
      const to = Math.min(end, this.#tailSeq);
      if (!full && cursor.seq < to) {
        cursor.skipped += to - cursor.seq;
        cursor.seq = to;
      }
      if (cursor.seq < this.#tailSeq) return cursor.seq >= end;
      cursor.pos = this.#tail;
    }
    // In the ring: records moved to the kept ones from now on go after those kept now.
    cursor.keptN = this.#kHeadN;
    cursor.keptPos = this.#kHead;
    for (; cursor.seq < end && n < maxRecords;) {
      if (cursor.seq === this.#wrapSeq) cursor.pos = 0;
      const at = cursor.pos;
      if (this.#decode(at)) {
        visit(this.#record);
        n++;
      } else {
        cursor.skipped++;
      }
      cursor.pos = at + this.#u32[at >> 2];
      cursor.seq++;
    }
    return cursor.seq >= end;
  }

  /**
   * Visits the records of one connection or flow held now, oldest first, with
   * each record's seq. The others are stepped over undecoded: a full 64 MiB
   * ring of 64-byte records takes about 15 ms. Echoes whose read was evicted
   * are skipped, as {@linkcode read} does.
   */
  readConn(conn: string, visit: (record: CaptureRecord, seq: number) => void): void {
    const idx = this.#conns.findIndex((c) => c?.id === conn);
    if (idx === -1) return;
    const kU32 = this.#kU32;
    let at = this.#kTail;
    for (let k = this.#kTailN; k < this.#kHeadN; k++) {
      if (k === this.#kWrapN) at = 0;
      if (kU32[(at >> 2) + 2] === idx) {
        this.#decodeKept(at);
        visit(this.#record, this.#kF64[(at >> 3) + 4]);
      }
      at += kU32[at >> 2];
    }
    const u32 = this.#u32;
    const end = this.#headSeq;
    const wrap = this.#wrapSeq;
    let pos = this.#tail;
    for (let seq = this.#tailSeq; seq < end; seq++) {
      if (seq === wrap) pos = 0;
      const w = pos >> 2;
      if (u32[w + 2] === idx && this.#decode(pos)) visit(this.#record, seq);
      pos += u32[w];
    }
  }

  /** Fills the reused record from the one at `at`; false for an echo whose read was evicted. */
  #decode(at: number): boolean {
    const u32 = this.#u32;
    const rec = this.#record;
    const w = at >> 2;
    const flags = this.#ring[at + 5];
    const idx = u32[w + 2];
    const len = u32[w + 3];
    // Where the payload is: after this header, or in the record an echo refers to.
    let holder = at;
    if ((flags & F_REF) !== 0) {
      // An echo: its payload is the read it refers to, unless that one was evicted.
      const refSeq = this.#f64[(at >> 3) + 5];
      if (refSeq < this.#tailSeq) {
        // Moved to the kept records (whole) or dropped.
        if (this.#pendSeq[idx] !== refSeq || this.#pendLen[idx] !== len) return false;
        const kept = this.#pendPos[idx];
        this.#fill(at, idx);
        rec.payload = this.#keep.subarray(kept + KEPT_HEADER, kept + KEPT_HEADER + len);
        return true;
      }
      holder = u32[w + 8];
    }
    this.#fill(at, idx);
    rec.payload = len === 0
      ? EMPTY
      : (this.#ring[holder + 5] & F_LENT) !== 0
      ? this.#lent[u32[(holder >> 2) + 8]]!.subarray(0, len)
      : this.#ring.subarray(holder + HEADER, holder + HEADER + len);
    return true;
  }

  /** Fills the reused record's fields but the payload from the ring's header at `at`. */
  #fill(at: number, idx: number): void {
    const rec = this.#record;
    const u32 = this.#u32;
    const w = at >> 2;
    const flags = this.#ring[at + 5];
    rec.kind = KINDS[this.#ring[at + 4]] as CaptureRecord["kind"];
    rec.conn = this.#conns[idx]!;
    rec.ts = this.#f64[(at >> 3) + 2];
    rec.offIn = u32[w + 6];
    rec.offOut = u32[w + 7];
    rec.reset = (flags & F_RESET) !== 0;
    rec.closer = flags & F_REMOTE_CLOSER ? "remote" : "local";
  }

  /** Fills the reused record from the kept record at `at`. */
  #decodeKept(at: number): void {
    const rec = this.#record;
    const u32 = this.#kU32;
    const w = at >> 2;
    const flags = this.#keep[at + 5];
    const len = u32[w + 3];
    rec.kind = KINDS[this.#keep[at + 4]] as CaptureRecord["kind"];
    rec.conn = this.#conns[u32[w + 2]]!;
    rec.ts = this.#kF64[(at >> 3) + 2];
    rec.offIn = u32[w + 6];
    rec.offOut = u32[w + 7];
    rec.payload = len === 0 ? EMPTY : this.#keep.subarray(at + KEPT_HEADER, at + KEPT_HEADER + len);
    rec.reset = (flags & F_RESET) !== 0;
    rec.closer = flags & F_REMOTE_CLOSER ? "remote" : "local";
  }

  /**
   * The records held now that match `filter`, as a pcapng byte stream,
   * produced as the reader pulls (about 256 KiB per chunk).
   */
  export(filter: CaptureFilter = {}): ReadableStream<Uint8Array> {
    const cursor = this.cursor();
    const endSeq = this.#headSeq;
    const encoder = new PcapngEncoder();
    let started = false;
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        const blocks: Uint8Array[] = started ? [] : encoder.header();
        started = true;
        let done = false;
        let size = 0;
        // Each pull stops at about 256 KiB of output, so no export holds the whole ring twice.
        while (!done && size < 262_144) {
          const before = blocks.length;
          done = this.read(cursor, endSeq, (rec) => {
            if (matches(rec.conn, filter)) encodeRecord(encoder, rec, blocks);
          }, 4);
          for (let i = before; i < blocks.length; i++) size += blocks[i].length;
        }
        if (blocks.length > 0) controller.enqueue(concat(blocks));
        if (done) controller.close();
      },
    }, { highWaterMark: 0 });
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
      this.#conns.push(undefined);
      this.#lastIn.push(undefined);
      if (idx >= this.#refs.length) this.#grow();
    }
    this.#ids.set(src, idx);
    this.#srcs[idx] = src;
    const udp = src.transport === "udp" ||
      src.transport === undefined && this.#udp.has(src.endpoint);
    // A source that says everything itself (a TCP connection: its identity never changes) is
    // its own entry, held anyway in #srcs: 10,000 connections, 10,000 objects fewer. `in`, not a
    // read: a connection makes its address objects only when an export first asks for them.
    this.#conns[idx] = src.transport !== undefined && src.role !== undefined &&
        "local" in src && "remote" in src
      ? src as CaptureConn
      : {
        id: src.id,
        endpoint: src.endpoint,
        transport: udp ? "udp" : "tcp",
        local: src.local,
        remote: src.remote ?? null,
        role: src.role,
      };
    this.#refs[idx] = 0;
    this.#lastIn[idx] = undefined;
    this.#offIn[idx] = 0;
    this.#offOut[idx] = 0;
    this.#closed[idx] = 0;
    this.#ringCost[2 * idx] = this.#ringCost[2 * idx + 1] = 0;
    this.#keptCost[idx] = 0;
    this.#tailCost[2 * idx] = this.#tailCost[2 * idx + 1] = 0;
    this.#pendSeq[idx] = -1;
    return idx;
  }

  #grow(): void {
    const n = this.#refs.length * 2;
    const refs = new Int32Array(n);
    refs.set(this.#refs);
    this.#refs = refs;
    const offIn = new Uint32Array(n);
    offIn.set(this.#offIn);
    this.#offIn = offIn;
    const offOut = new Uint32Array(n);
    offOut.set(this.#offOut);
    this.#offOut = offOut;
    const closed = new Uint8Array(n);
    closed.set(this.#closed);
    this.#closed = closed;
    const lastInPos = new Int32Array(n);
    lastInPos.set(this.#lastInPos);
    this.#lastInPos = lastInPos;
    const lastInSeq = new Float64Array(n);
    lastInSeq.set(this.#lastInSeq);
    this.#lastInSeq = lastInSeq;
    const ringCost = new Float64Array(2 * n);
    ringCost.set(this.#ringCost);
    this.#ringCost = ringCost;
    const keptCost = new Float64Array(n);
    keptCost.set(this.#keptCost);
    this.#keptCost = keptCost;
    const tailCost = new Float64Array(2 * n);
    tailCost.set(this.#tailCost);
    this.#tailCost = tailCost;
    const pendSeq = new Float64Array(n).fill(-1);
    pendSeq.set(this.#pendSeq);
    this.#pendSeq = pendSeq;
    const pendPos = new Int32Array(n);
    pendPos.set(this.#pendPos);
    this.#pendPos = pendPos;
    const pendLen = new Int32Array(n);
    pendLen.set(this.#pendLen);
    this.#pendLen = pendLen;
    const pendFull = new Float64Array(n);
    pendFull.set(this.#pendFull);
    this.#pendFull = pendFull;
  }

  /** Appends a record with its payload copied; returns its position. */
  #append(kind: number, flags: number, idx: number, ts: number, bytes: Uint8Array): number {
    const len = bytes.length;
    const size = (HEADER + len + 7) & ~7;
    this.#pinned = idx;
    const at = this.#reserve(size);
    this.#header(at, size, kind, flags, idx, len, ts);
    if (len > 0) this.#ring.set(bytes, at + HEADER);
    this.#commit(at, size, kind, idx, len);
    return at;
  }

  /** Writes a record's header at `at` with the source's offsets before it. */
  #header(
    at: number,
    size: number,
    kind: number,
    flags: number,
    idx: number,
    len: number,
    ts: number,
  ): void {
    const u32 = this.#u32;
    const w = at >> 2;
    u32[w] = size;
    this.#ring[at + 4] = kind;
    this.#ring[at + 5] = flags;
    u32[w + 2] = idx;
    u32[w + 3] = len;
    this.#f64[(at >> 3) + 2] = ts;
    u32[w + 6] = this.#offIn[idx];
    u32[w + 7] = this.#offOut[idx];
  }

  /** Counts a record of `size` bytes written at `at`: the head, the offsets, the totals. */
  #commit(at: number, size: number, kind: number, idx: number, len: number): void {
    if (kind === K_IN) {
      this.#offIn[idx] += len;
      this.#packets++;
      this.#bytes += len;
      this.#ringCost[2 * idx] += size;
    } else if (kind === K_OUT) {
      this.#offOut[idx] += len;
      this.#packets++;
      this.#bytes += len;
      this.#ringCost[2 * idx + 1] += size;
    }
    this.#refs[idx]++;
    this.#head = at + size;
    this.#headSeq++;
    this.#count++;
    this.#used += size;
  }

  /** Appends a read of `len` bytes kept in the lent `buffer`; returns the record's position. */
  #appendLent(idx: number, ts: number, len: number, buffer: Uint8Array): number {
    this.#pinned = idx;
    // Room for the buffer first (evicting the oldest records, lent or not), then the header.
    while (this.#lentBytes + buffer.byteLength > this.#lentBudget && this.#count > 0) {
      this.#evict();
    }
    const at = this.#reserve(REF_SIZE);
    const slot = this.#lentFree.pop() ?? this.#lent.length;
    this.#lent[slot] = buffer;
    this.#lentBytes += buffer.byteLength;
    this.#header(at, REF_SIZE, K_IN, F_LENT, idx, len, ts);
    this.#u32[(at >> 2) + 8] = slot;
    this.#commit(at, REF_SIZE, K_IN, idx, len);
    return at;
  }

  /**
   * Appends an echo of source `idx`'s newest read, `len` bytes, as a
   * reference to it; false (nothing appended) when that read is gone.
   */
  #appendEcho(idx: number, ts: number, len: number): boolean {
    const refSeq = this.#lastInSeq[idx];
    const refPos = this.#lastInPos[idx];
    this.#lastIn[idx] = undefined;
    const ring = this.#ring;
    if (refSeq < this.#tailSeq || (ring[refPos + 5] & F_ECHOED) !== 0) return false;
    this.#pinned = idx;
    const at = this.#reserve(REF_SIZE);
    // Making room may have evicted the read itself: then the caller copies after all.
    if (refSeq < this.#tailSeq) return false;
    this.#header(at, REF_SIZE, K_OUT, F_REF, idx, len, ts);
    this.#u32[(at >> 2) + 8] = refPos;
    this.#f64[(at >> 3) + 5] = refSeq;
    ring[refPos + 5] |= F_ECHOED;
    this.#commit(at, REF_SIZE, K_OUT, idx, len);
    return true;
  }

  /** Where `size` bytes fit next, evicting the oldest records until they do. */
  #reserve(size: number): number {
    for (;;) {
      if (this.#count === 0 || this.#tail < this.#head) {
        // Free space is the rest of this lap, then the start of the ring up to the tail.
        if (this.#head + size <= this.#size) return this.#head;
        this.#head = 0;
        this.#wrapSeq = this.#headSeq;
        if (this.#count === 0) {
          this.#tail = 0;
          return 0;
        }
      }
      // The held records wrap around: free space is between head and tail.
      if (this.#head + size <= this.#tail) return this.#head;
      this.#evict();
    }
  }

  /** Evicts the ring's oldest record: moved to the kept records if its connection keeps it. */
  #evict(): void {
    const at = this.#tail;
    const w = at >> 2;
    const size = this.#u32[w];
    const kind = this.#ring[at + 4];
    const idx = this.#u32[w + 2];
    const flags = this.#ring[at + 5];
    const seq = this.#tailSeq;
    const d = 2 * idx + (kind === K_OUT ? 1 : 0);
    const cost = kind === K_IN || kind === K_OUT ? this.#ringCost[d] : 0;
    if (kind === K_IN || kind === K_OUT) this.#ringCost[d] = cost - size;
    // Most evictions in a flood keep nothing: the middle of a stream, decided without a call.
    const kept = this.#kSize > 0 &&
      (kind > K_OUT || cost - size < this.#keepTail ||
        this.#u32[w + (kind === K_IN ? 6 : 7)] < this.#keepHead) &&
      this.#keepRecord(at, seq, cost);
    if (kind === K_IN || kind === K_OUT) {
      const len = this.#u32[w + 3];
      if ((flags & F_REF) === 0) {
        // A read dropped with its echo still in the ring loses both: counted now, once.
        const lost = kept ? 0 : (flags & F_ECHOED) !== 0 ? 2 : 1;
        this.#droppedPackets += lost;
        this.#droppedBytes += len * lost;
      } else if (this.#pendSeq[idx] === this.#f64[(at >> 3) + 5]) {
        // An echo of a read that was kept: dropped now unless kept too.
        this.#pendSeq[idx] = -1;
        if (!kept) {
          this.#droppedPackets++;
          this.#droppedBytes += len;
        }
      }
    }
    if ((flags & F_LENT) !== 0) {
      const slot = this.#u32[w + 8];
      const buffer = this.#lent[slot]!;
      this.#lent[slot] = undefined;
      this.#lentFree.push(slot);
      this.#lentBytes -= buffer.byteLength;
      this.#release!(buffer);
    }
    this.#tail = at + size;
    this.#tailSeq++;
    this.#count--;
    this.#used -= size;
    if (this.#tailSeq === this.#wrapSeq) this.#tail = 0;
    if (!kept) this.#unref(idx);
  }

  /** One record fewer of source `idx` held: one with none left is forgotten once it is done. */
  #unref(idx: number): void {
    // A source with nothing left in the ring is forgotten once it can send nothing more.
    if (
      --this.#refs[idx] === 0 && idx !== this.#pinned &&
      (this.#closed[idx] === 1 || this.#conns[idx]!.transport === "udp")
    ) {
      const src = this.#srcs[idx]!;
      this.#ids.delete(src);
      this.#srcs[idx] = undefined;
      this.#conns[idx] = undefined;
      this.#lastIn[idx] = undefined;
      this.#free.push(idx);
      if (this.#lastSrc === src) this.#lastSrc = null;
    }
  }

  /**
   * Copies the parts of the ring's record at `at` (seq `seq`) that its
   * connection keeps into the kept records; false when it keeps none of it.
   * `cost` is what the connection holds in the ring, this record included.
   * A record that holds both the first bytes and the latest of a connection
   * and more between is kept as two pieces with the same seq.
   */
  #keepRecord(at: number, seq: number, cost: number): boolean {
    const u32 = this.#u32;
    const w = at >> 2;
    const size = u32[w];
    const kind = this.#ring[at + 4];
    const flags = this.#ring[at + 5];
    const idx = u32[w + 2];
    const len = u32[w + 3];
    let headN = 0;
    let tailN = 0;
    if (kind === K_IN || kind === K_OUT) {
      // The connection's first bytes of this direction (offsets wrap at 4 GiB: a long transfer
      // keeps 4 KiB more per 4 GiB), within a budget that bounds the headers of tiny records
      // (64 of them, besides the bytes).
      const off = u32[w + (kind === K_IN ? 6 : 7)];
      if (off < this.#keepHead && this.#keptCost[idx] < 2 * this.#keepHead + 64 * KEPT_HEADER) {
        headN = Math.min(len, this.#keepHead - off);
      }
      // The latest bytes: the end of the oldest record within them. An open connection keeps
      // that much once more at most; a closed one (or an ended flow) its last ones in any case.
      const d = 2 * idx + (kind === K_OUT ? 1 : 0);
      const tail = this.#keepTail - (cost - size);
      if (tail > 0 && (this.#closed[idx] === 1 || this.#tailCost[d] < this.#keepTail)) {
        tailN = Math.min(len, tail);
      }
      // An echo is never cut in two: it refers to a read kept whole or by its first bytes.
      if (headN > 0 && tailN > 0 && (headN + tailN >= len || (flags & F_REF) !== 0)) {
        headN = len;
        tailN = 0;
      }
      if (headN === 0 && tailN === 0) return false;
    } else {
      headN = len;
    }
    // Where the payload is: after the header, a lent buffer, or the read an echo refers to.
    let src: Uint8Array = this.#ring;
    let start = at + HEADER;
    if ((flags & F_REF) !== 0) {
      const refSeq = this.#f64[(at >> 3) + 5];
      if (this.#pendSeq[idx] !== refSeq) return false;
      // Of a read kept in part (its first bytes), only as much of the echo's first bytes.
      const have = this.#pendLen[idx];
      if (have < len) {
        headN = Math.min(headN, have);
        tailN = 0;
        if (headN === 0) return false;
      }
      src = this.#keep;
      start = this.#pendPos[idx] + KEPT_HEADER;
    } else if ((flags & F_LENT) !== 0) {
      src = this.#lent[u32[w + 8]]!;
      start = 0;
    }
    let k = -1;
    if (headN > 0 || tailN === 0) {
      k = this.#writeKept(at, seq, 0, headN, src, start, tailN > 0 ? F_SPLIT : 0);
      if (k === -1) return false;
      this.#keptCost[idx] += this.#kU32[k >> 2];
    }
    if (tailN > 0) {
      // Only an echo's copy can fail, and an echo is one piece: this is its only one.
      k = this.#writeKept(at, seq, len - tailN, tailN, src, start, 0);
      if (k === -1) return false;
      this.#tailCost[2 * idx + (kind === K_OUT ? 1 : 0)] += this.#kU32[k >> 2];
    }
    // The bytes cut off are dropped; a whole kept read its echo still refers to is found here.
    const n = headN + tailN;
    this.#droppedBytes += len - n;
    // A read its echo still refers to (whole, or its first bytes): the echo finds it here.
    if ((flags & F_ECHOED) !== 0) {
      if (tailN === 0) {
        this.#pendSeq[idx] = seq;
        this.#pendPos[idx] = k;
        this.#pendLen[idx] = n;
        this.#pendFull[idx] = len;
      } else {
        this.#droppedPackets++;
        this.#droppedBytes += len;
      }
    }
    return true;
  }

  /**
   * Writes bytes `from`..`from + n` of the ring's record at `at`, whose
   * payload is `src` from `start`, as a kept record; returns its position, or
   * -1 when making room dropped the read an echo's payload is taken from.
   */
  #writeKept(
    at: number,
    seq: number,
    from: number,
    n: number,
    src: Uint8Array,
    start: number,
    split: number,
  ): number {
    const u32 = this.#u32;
    const w = at >> 2;
    const kind = this.#ring[at + 4];
    const flags = this.#ring[at + 5];
    const idx = u32[w + 2];
    const ksize = (KEPT_HEADER + n + 7) & ~7;
    const k = this.#reserveKept(ksize);
    if ((flags & F_REF) !== 0 && this.#pendSeq[idx] !== this.#f64[(at >> 3) + 5]) return -1;
    const ku32 = this.#kU32;
    const kw = k >> 2;
    ku32[kw] = ksize;
    this.#keep[k + 4] = kind;
    this.#keep[k + 5] = (flags & (F_RESET | F_REMOTE_CLOSER)) | split;
    ku32[kw + 2] = idx;
    ku32[kw + 3] = n;
    this.#kF64[(k >> 3) + 2] = this.#f64[(at >> 3) + 2];
    // A piece from the record's middle starts that many bytes later in its direction.
    ku32[kw + 6] = kind === K_IN ? (u32[w + 6] + from) >>> 0 : u32[w + 6];
    ku32[kw + 7] = kind === K_OUT ? (u32[w + 7] + from) >>> 0 : u32[w + 7];
    this.#kF64[(k >> 3) + 4] = seq;
    if (n > 0) this.#keep.set(src.subarray(start + from, start + from + n), k + KEPT_HEADER);
    this.#kHead = k + ksize;
    this.#kHeadN++;
    this.#kUsed += ksize;
    return k;
  }

  /** Where `size` bytes fit next among the kept records, dropping the oldest until they do. */
  #reserveKept(size: number): number {
    for (;;) {
      const count = this.#kHeadN - this.#kTailN;
      if (count === 0 || this.#kTail < this.#kHead) {
        if (this.#kHead + size <= this.#kSize) return this.#kHead;
        this.#kHead = 0;
        this.#kWrapN = this.#kHeadN;
        if (count === 0) {
          this.#kTail = 0;
          return 0;
        }
      }
      if (this.#kHead + size <= this.#kTail) return this.#kHead;
      this.#evictKept();
    }
  }

  /** Drops the oldest kept record for good. */
  #evictKept(): void {
    const at = this.#kTail;
    const w = at >> 2;
    const size = this.#kU32[w];
    const kind = this.#keep[at + 4];
    const idx = this.#kU32[w + 2];
    if (kind === K_IN || kind === K_OUT) {
      const len = this.#kU32[w + 3];
      // A read whose echo is still in the ring takes the echo with it; a packet kept in two
      // pieces is counted with its last.
      const pend = this.#pendSeq[idx] === this.#kF64[(at >> 3) + 4];
      if (pend) this.#pendSeq[idx] = -1;
      this.#droppedPackets += ((this.#keep[at + 5] & F_SPLIT) !== 0 ? 0 : 1) + (pend ? 1 : 0);
      this.#droppedBytes += len + (pend ? this.#pendFull[idx] : 0);
    }
    this.#kTail = at + size;
    this.#kTailN++;
    this.#kUsed -= size;
    if (this.#kTailN === this.#kWrapN) this.#kTail = 0;
    this.#unref(idx);
  }
}

function matches(conn: CaptureConn, filter: CaptureFilter): boolean {
  return (filter.conn === undefined || conn.id === filter.conn) &&
    (filter.endpoint === undefined || conn.endpoint === filter.endpoint);
}

/** Appends the pcapng blocks of one record. */
export function encodeRecord(encoder: PcapngEncoder, rec: CaptureRecord, out: Uint8Array[]): void {
  switch (rec.kind) {
    case "in":
    case "out":
      encoder.packet(rec.conn, rec.kind, rec.payload, rec.ts, rec.offIn, rec.offOut, out);
      return;
    case "open":
      encoder.opened(rec.conn, rec.ts, out);
      return;
    case "fin":
      encoder.finReceived(rec.conn, rec.ts, rec.offIn, rec.offOut, out);
      return;
    case "close":
      encoder.closed(rec.conn, rec.reset, rec.closer, rec.ts, rec.offIn, rec.offOut, out);
      return;
    default: {
      const never: never = rec.kind;
      throw new TypeError(`Cannot encode record: unknown kind "${never}"`);
    }
  }
}
