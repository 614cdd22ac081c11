/**
 * Per-connection TCP analysis of captured segments, with the rules and names Wireshark users
 * know (`tcp.analysis.*`): relative sequence and acknowledgment numbers, the window scaled by
 * the handshake's shift, retransmissions, duplicate ACKs, zero windows and their probes, lost
 * segments. The rules follow Wireshark's `tcp_analyze_sequence_number()` (packet-tcp.c, as in
 * tshark 4.0) so both agree segment by segment. Pure code; O(1) work per segment, no
 * allocation, the table bounded in connections.
 *
 * Memory: no object per connection. A connection is a slot in a few typed arrays (a record of
 * 14 doubles, one of 28 32-bit words, 32 bytes of addresses, a hash bucket and a pointer for
 * the user's state: about 300 bytes), slots reused through a free list. As objects (two flows
 * of 15 fields, two address arrays, sequence numbers past the small-integer range boxed as heap
 * numbers) one took about 1.2 KB of heap.
 */

import { formatAddress, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type WirePacket } from "./decode.ts";

/** Analysis bits of one segment, one per `tcp.analysis.*` flag. */
export const A_RETRANSMISSION = 1 << 0,
  A_FAST_RETRANSMISSION = 1 << 1,
  A_SPURIOUS_RETRANSMISSION = 1 << 2,
  A_OUT_OF_ORDER = 1 << 3,
  A_DUPLICATE_ACK = 1 << 4,
  A_ZERO_WINDOW = 1 << 5,
  A_ZERO_WINDOW_PROBE = 1 << 6,
  A_ZERO_WINDOW_PROBE_ACK = 1 << 7,
  A_WINDOW_FULL = 1 << 8,
  A_WINDOW_UPDATE = 1 << 9,
  A_KEEP_ALIVE = 1 << 10,
  A_KEEP_ALIVE_ACK = 1 << 11,
  A_LOST_SEGMENT = 1 << 12,
  A_ACK_LOST_SEGMENT = 1 << 13,
  A_REUSED_PORTS = 1 << 14;

/**
 * Each analysis bit with its name as in Wireshark's `tcp.analysis.<name>` field. As there, a
 * fast or spurious retransmission is also a `retransmission`.
 */
export const ANALYSIS_NAMES: readonly (readonly [number, string])[] = [
  [A_RETRANSMISSION, "retransmission"],
  [A_FAST_RETRANSMISSION, "fast_retransmission"],
  [A_SPURIOUS_RETRANSMISSION, "spurious_retransmission"],
  [A_OUT_OF_ORDER, "out_of_order"],
  [A_DUPLICATE_ACK, "duplicate_ack"],
  [A_ZERO_WINDOW, "zero_window"],
  [A_ZERO_WINDOW_PROBE, "zero_window_probe"],
  [A_ZERO_WINDOW_PROBE_ACK, "zero_window_probe_ack"],
  [A_WINDOW_FULL, "window_full"],
  [A_WINDOW_UPDATE, "window_update"],
  [A_KEEP_ALIVE, "keep_alive"],
  [A_KEEP_ALIVE_ACK, "keep_alive_ack"],
  [A_LOST_SEGMENT, "lost_segment"],
  [A_ACK_LOST_SEGMENT, "ack_lost_segment"],
  [A_REUSED_PORTS, "reused_ports"],
];

/** The `tcp.analysis.*` names of the bits set in `mask`. */
export function analysisNames(mask: number): string[] {
  const out: string[] = [];
  if (mask === 0) return out;
  for (const [bit, name] of ANALYSIS_NAMES) if (mask & bit) out.push(name);
  return out;
}

const SFR = TCP_SYN | TCP_FIN | TCP_RST;
// Wireshark's thresholds: a fast retransmission follows the duplicate ACKs within 20 ms; an
// out-of-order segment comes within the first RTT (3 ms before one is known) of the highest.
const FAST_RETRANSMISSION_MS = 20;
const DEFAULT_OOO_MS = 3;

// Sequence-space comparisons modulo 2^32 (Wireshark's GT_SEQ, LT_SEQ, LE_SEQ).
function gt(a: number, b: number): boolean {
  return ((b - a) | 0) < 0;
}
function lt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
function le(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

// A connection's doubles, at slot * F64 in the tracker's Float64Array: its stream number and
// times, then each flow's (A's at FA64, B's at FB64) times and counters.
const F64 = 14;
const D_STREAM = 0, D_FIRST_TS = 1, D_LAST_TS = 2, D_SYN_TS = 3, D_FIRST_RTT = 4, D_TOUCHED = 5;
const FA64 = 6, FB64 = 10;
const D_NEXT_SEQ_TS = 0, D_LAST_ACK_TS = 1, D_SEGMENTS = 2, D_BYTES = 3;
// A connection's 32-bit words, at slot * W32 in the tracker's Int32Array (sequence numbers as
// int32: comparisons and sums modulo 2^32 need nothing else).
const W32 = 28;
const W_PORT_A = 0, W_PORT_B = 1, W_HASH = 2, W_NEXT_IN_BUCKET = 3, W_NEWER = 4, W_OLDER = 5;
const W_FAMILY = 6, W_STATE = 7;
const FA32 = 8, FB32 = 18;
// Per flow: the raw sequence number relative ones count from and whether it is set; the window
// shift (-1 not known yet, -2 not used, else the SYN's option); the last raw window (unscaled,
// -1, Wireshark's 0xffffffff, before the first segment); the highest next sequence number (raw; 0 = none yet,
// as Wireshark); the highest to be acknowledged; the last ACK; duplicate ACKs in a row; the
// analysis bits of the flow's last segment; FIN seen.
const F_BASE_SEQ = 0, F_BASE_SET = 1, F_WIN_SCALE = 2, F_WINDOW = 3, F_NEXT_SEQ = 4;
const F_MAX_SEQ_TO_BE_ACKED = 5, F_LAST_ACK = 6, F_DUP_ACKS = 7, F_LAST_FLAGS = 8, F_FIN = 9;
// W_STATE bits: closed (a RST seen or both sides' FIN), reset by A, reset by B.
const S_CLOSED = 1, S_RESET_A = 2, S_RESET_B = 4;
const NONE = -1;

/** One tracked connection as {@linkcode TcpTracker.connection} reports it (a copy). */
export interface TcpConnectionInfo {
  /** Stream number in the order connections were first seen (Wireshark's `tcp.stream`). */
  stream: number;
  family: number;
  /** Side A sent the first segment seen. */
  hostA: string;
  portA: number;
  hostB: string;
  portB: number;
  firstTs: number;
  lastTs: number;
  /** The handshake's RTT (SYN to first pure ACK), 0 unknown. */
  firstRtt: number;
  /** True once a RST was seen or both sides sent FIN. */
  closed: boolean;
  /** Who reset it: "A", "B" or "" (none). */
  resetBy: "" | "A" | "B";
  /** Segments, payload bytes and whether a FIN was seen, per side. */
  segmentsA: number;
  segmentsB: number;
  bytesA: number;
  bytesB: number;
  finA: boolean;
  finB: boolean;
}

/** What {@linkcode TcpTracker.track} found for one segment; overwritten for each. */
export class TcpSegmentInfo {
  /** The connection's slot (see {@linkcode TcpTracker.track}). */
  slot = -1;
  /** True when the segment went from side A to side B. */
  fromA = true;
  /** Sequence and acknowledgment numbers relative to each side's first (raw ack without ACK). */
  relSeq = 0;
  relAck = 0;
  /** The window in bytes, scaled by the sender's shift once the handshake agreed on one. */
  window = 0;
  /** Payload bytes. */
  len = 0;
  /** Analysis bits (`A_*`). */
  analysis = 0;
}

/** Options for {@linkcode TcpTracker}. */
export interface TcpTrackerOptions {
  /** Connections tracked at once; the least recently active goes first. @default 4096 */
  maxConnections?: number;
}

// The columns of `capacity` slots; replaced (copied) when the tracker grows.
class Columns {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly addr: Uint8Array;
  /** Heads of the hash chains (a power of two of them, twice the slots), NONE when empty. */
  readonly buckets: Int32Array;
  constructor(readonly capacity: number) {
    this.f64 = new Float64Array(capacity * F64);
    this.i32 = new Int32Array(capacity * W32);
    this.addr = new Uint8Array(capacity * 32);
    this.buckets = new Int32Array(2 ** Math.ceil(Math.log2(2 * capacity))).fill(NONE);
  }
}

/**
 * Tracks TCP connections from decoded segments and analyses each segment as Wireshark does.
 * A connection is named by its slot, a small integer that {@linkcode TcpTracker.track}
 * returns; a slot is reused once its connection is dropped (see `stream` to tell them apart).
 */
export class TcpTracker {
  readonly maxConnections: number;
  #c: Columns;
  #data: unknown[] = [];
  #size = 0;
  /** Slots ever used; those below it not in use are on the free list. */
  #top = 0;
  #free = NONE;
  #streams = 0;
  // Most and least recently active.
  #newest = NONE;
  #oldest = NONE;
  /** Connections dropped to stay within `maxConnections`. */
  evicted = 0;

  constructor(options: TcpTrackerOptions = {}) {
    const max = options.maxConnections ?? 4096;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot track TCP: maxConnections "${max}" is not a positive integer`);
    }
    this.maxConnections = max;
    this.#c = new Columns(Math.min(max, 64));
  }

  /** Connections tracked now. */
  get size(): number {
    return this.#size;
  }

  /** The slot of a 4-tuple's connection (either direction), or -1. */
  find(p: WirePacket): number {
    const c = this.#c;
    const hash = tupleHash(p);
    for (let s = c.buckets[hash & (c.buckets.length - 1)]; s !== NONE;) {
      if (c.i32[s * W32 + W_HASH] === hash && matches(c, s, p) !== 0) return s;
      s = c.i32[s * W32 + W_NEXT_IN_BUCKET];
    }
    return NONE;
  }

  /**
   * Analyses a decoded TCP segment (`p.protocol === 6`) into `out` and returns its
   * connection's slot, creating it (and evicting the least recently active one) when new.
   */
  track(p: WirePacket, out: TcpSegmentInfo): number {
    let c = this.#c;
    const hash = tupleHash(p);
    let slot = NONE;
    let side = 0;
    for (let s = c.buckets[hash & (c.buckets.length - 1)]; s !== NONE;) {
      if (c.i32[s * W32 + W_HASH] === hash) {
        side = matches(c, s, p);
        if (side !== 0) {
          slot = s;
          break;
        }
      }
      s = c.i32[s * W32 + W_NEXT_IN_BUCKET];
    }
    let analysis = 0;
    if (slot === NONE) {
      slot = this.#create(p, hash);
      c = this.#c;
      side = 1;
    } else {
      const d = slot * F64;
      // Relinking on every segment costs more than the order is worth: a connection moves up
      // at most once per TOUCH_MS, so the list is ordered to within that.
      if (p.ts - c.f64[d + D_TOUCHED] >= TOUCH_MS) this.#touch(slot, p.ts);
      const fw = slot * W32 + (side === 1 ? FA32 : FB32);
      // A new SYN with another ISN on a known 4-tuple is a new connection (ports reused).
      if (
        (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && c.i32[fw + F_BASE_SET] !== 0 &&
        (p.seq | 0) !== c.i32[fw + F_BASE_SEQ]
      ) {
        resetState(c, slot);
        c.f64[d + D_STREAM] = this.#streams++;
        c.f64[d + D_FIRST_TS] = p.ts;
        analysis |= A_REUSED_PORTS;
      }
    }
    const { f64, i32 } = c;
    const d = slot * F64;
    const w = slot * W32;
    f64[d + D_LAST_TS] = p.ts;
    const fromA = side === 1;
    const fw = w + (fromA ? FA32 : FB32);
    const rw = w + (fromA ? FB32 : FA32);
    const fd = d + (fromA ? FA64 : FB64);
    const flags = p.flags;
    analysis |= analyse(c, d, fw, rw, fd, d + (fromA ? FB64 : FA64), p, flags);
    if ((flags & TCP_SYN) !== 0) {
      if (p.wscale >= 0) i32[fw + F_WIN_SCALE] = p.wscale;
      // As Wireshark's verify_tcp_window_scaling(): scaling holds only if both SYNs offer it.
      if (i32[fw + F_WIN_SCALE] === -1) {
        i32[fw + F_WIN_SCALE] = -2;
        i32[rw + F_WIN_SCALE] = -2;
      } else if ((flags & TCP_ACK) !== 0 && i32[rw + F_WIN_SCALE] === -2) {
        i32[fw + F_WIN_SCALE] = -2;
      }
      if ((flags & TCP_ACK) === 0) f64[d + D_SYN_TS] = p.ts;
    } else if (
      (flags & TCP_ACK) !== 0 && f64[d + D_SYN_TS] !== 0 && f64[d + D_FIRST_RTT] === 0
    ) {
      f64[d + D_FIRST_RTT] = p.ts - f64[d + D_SYN_TS];
    }
    f64[fd + D_SEGMENTS]++;
    f64[fd + D_BYTES] += p.payloadLength;
    // Only a FIN or a RST closes a connection.
    if ((flags & (TCP_FIN | TCP_RST)) !== 0) {
      if ((flags & TCP_FIN) !== 0) i32[fw + F_FIN] = 1;
      let state = i32[w + W_STATE];
      if ((flags & TCP_RST) !== 0 && (state & S_CLOSED) === 0) {
        state = (state & ~(S_RESET_A | S_RESET_B)) | (fromA ? S_RESET_A : S_RESET_B);
      }
      if (
        (flags & TCP_RST) !== 0 || (i32[w + FA32 + F_FIN] !== 0 && i32[w + FB32 + F_FIN] !== 0)
      ) {
        state |= S_CLOSED;
      }
      i32[w + W_STATE] = state;
    }
    out.slot = slot;
    out.fromA = fromA;
    out.relSeq = (p.seq - i32[fw + F_BASE_SEQ]) >>> 0;
    out.relAck = (flags & TCP_ACK) !== 0 ? (p.ack - i32[rw + F_BASE_SEQ]) >>> 0 : p.ack;
    const scale = i32[fw + F_WIN_SCALE];
    out.window = (flags & TCP_SYN) === 0 && scale >= 0
      // The shift is at most 14: a multiply, not `2 **` (a libm pow() call per segment).
      ? p.window * (1 << scale)
      : p.window;
    out.len = p.payloadLength;
    out.analysis = analysis;
    return slot;
  }

  /** The stream number of the connection in `slot` (a reused slot or 4-tuple gets a new one). */
  stream(slot: number): number {
    return this.#c.f64[slot * F64 + D_STREAM];
  }

  /** Who reset the connection in `slot`: "A", "B" or "" (none). */
  resetBy(slot: number): "" | "A" | "B" {
    const state = this.#c.i32[slot * W32 + W_STATE];
    return (state & S_RESET_A) !== 0 ? "A" : (state & S_RESET_B) !== 0 ? "B" : "";
  }

  /** The raw sequence number side A's (or B's) relative numbers count from. */
  baseSeq(slot: number, sideA: boolean): number {
    return this.#c.i32[slot * W32 + (sideA ? FA32 : FB32) + F_BASE_SEQ] >>> 0;
  }

  /** The user's own state for the connection in `slot` (the wire view's store); null at first. */
  data(slot: number): unknown {
    return this.#data[slot];
  }

  /** Sets what {@linkcode TcpTracker.data} gives for `slot` until its connection is dropped. */
  setData(slot: number, value: unknown): void {
    this.#data[slot] = value;
  }

  /** The connection in `slot` as a plain object (a copy). */
  connection(slot: number): TcpConnectionInfo {
    const { f64, i32, addr } = this.#c;
    const d = slot * F64;
    const w = slot * W32;
    const family = i32[w + W_FAMILY];
    const state = i32[w + W_STATE];
    return {
      stream: f64[d + D_STREAM],
      family,
      hostA: formatAddress(family, addr.subarray(slot * 32, slot * 32 + 16)),
      portA: i32[w + W_PORT_A],
      hostB: formatAddress(family, addr.subarray(slot * 32 + 16, slot * 32 + 32)),
      portB: i32[w + W_PORT_B],
      firstTs: f64[d + D_FIRST_TS],
      lastTs: f64[d + D_LAST_TS],
      firstRtt: f64[d + D_FIRST_RTT],
      closed: (state & S_CLOSED) !== 0,
      resetBy: this.resetBy(slot),
      segmentsA: f64[d + FA64 + D_SEGMENTS],
      segmentsB: f64[d + FB64 + D_SEGMENTS],
      bytesA: f64[d + FA64 + D_BYTES],
      bytesB: f64[d + FB64 + D_BYTES],
      finA: i32[w + FA32 + F_FIN] !== 0,
      finB: i32[w + FB32 + F_FIN] !== 0,
    };
  }

  /**
   * Drops connections inactive since before `beforeTs` (ms since the epoch); returns how many.
   * The list's order is kept to within a second: a connection active less than a second before
   * `beforeTs` may stay until the next sweep.
   */
  sweep(beforeTs: number): number {
    let n = 0;
    while (this.#oldest !== NONE && this.#c.f64[this.#oldest * F64 + D_LAST_TS] < beforeTs) {
      this.#remove(this.#oldest);
      n++;
    }
    return n;
  }

  /** The slots of the connections from most to least recently active. */
  *connections(): IterableIterator<number> {
    for (let s = this.#newest; s !== NONE; s = this.#c.i32[s * W32 + W_OLDER]) yield s;
  }

  #create(p: WirePacket, hash: number): number {
    if (this.#size >= this.maxConnections && this.#oldest !== NONE) {
      this.#remove(this.#oldest);
      this.evicted++;
    }
    let slot = this.#free;
    if (slot !== NONE) {
      this.#free = this.#c.i32[slot * W32 + W_NEXT_IN_BUCKET];
    } else {
      if (this.#top === this.#c.capacity) this.#grow();
      slot = this.#top++;
    }
    const c = this.#c;
    const { f64, i32, addr } = c;
    const d = slot * F64;
    const w = slot * W32;
    resetState(c, slot);
    f64[d + D_STREAM] = this.#streams++;
    f64[d + D_FIRST_TS] = p.ts;
    f64[d + D_LAST_TS] = p.ts;
    f64[d + D_TOUCHED] = p.ts;
    i32[w + W_FAMILY] = p.family;
    addr.set(p.src, slot * 32);
    addr.set(p.dst, slot * 32 + 16);
    i32[w + W_PORT_A] = p.srcPort;
    i32[w + W_PORT_B] = p.dstPort;
    i32[w + W_HASH] = hash;
    const b = hash & (c.buckets.length - 1);
    i32[w + W_NEXT_IN_BUCKET] = c.buckets[b];
    c.buckets[b] = slot;
    this.#data[slot] = null;
    this.#size++;
    i32[w + W_NEWER] = NONE;
    i32[w + W_OLDER] = this.#newest;
    if (this.#newest !== NONE) i32[this.#newest * W32 + W_NEWER] = slot;
    this.#newest = slot;
    if (this.#oldest === NONE) this.#oldest = slot;
    return slot;
  }

  // Doubles the slots (up to maxConnections) and rebuilds the hash chains for the new buckets.
  #grow(): void {
    const old = this.#c;
    const c = new Columns(Math.min(2 * old.capacity, this.maxConnections));
    c.f64.set(old.f64);
    c.i32.set(old.i32);
    c.addr.set(old.addr);
    for (let s = this.#newest; s !== NONE; s = c.i32[s * W32 + W_OLDER]) {
      const b = c.i32[s * W32 + W_HASH] & (c.buckets.length - 1);
      c.i32[s * W32 + W_NEXT_IN_BUCKET] = c.buckets[b];
      c.buckets[b] = s;
    }
    this.#c = c;
  }

  #touch(slot: number, ts: number): void {
    const { f64, i32 } = this.#c;
    f64[slot * F64 + D_TOUCHED] = ts;
    if (this.#newest === slot) return;
    // Unlink, then put first.
    const w = slot * W32;
    const newer = i32[w + W_NEWER];
    const older = i32[w + W_OLDER];
    if (newer !== NONE) i32[newer * W32 + W_OLDER] = older;
    if (older !== NONE) i32[older * W32 + W_NEWER] = newer;
    else this.#oldest = newer;
    i32[w + W_NEWER] = NONE;
    i32[w + W_OLDER] = this.#newest;
    if (this.#newest !== NONE) i32[this.#newest * W32 + W_NEWER] = slot;
    this.#newest = slot;
  }

  #remove(slot: number): void {
    const { i32, buckets } = this.#c;
    const w = slot * W32;
    const b = i32[w + W_HASH] & (buckets.length - 1);
    let s = buckets[b];
    if (s === slot) {
      buckets[b] = i32[w + W_NEXT_IN_BUCKET];
    } else {
      while (s !== NONE && i32[s * W32 + W_NEXT_IN_BUCKET] !== slot) {
        s = i32[s * W32 + W_NEXT_IN_BUCKET];
      }
      if (s !== NONE) i32[s * W32 + W_NEXT_IN_BUCKET] = i32[w + W_NEXT_IN_BUCKET];
    }
    const newer = i32[w + W_NEWER];
    const older = i32[w + W_OLDER];
    if (newer !== NONE) i32[newer * W32 + W_OLDER] = older;
    else this.#newest = older;
    if (older !== NONE) i32[older * W32 + W_NEWER] = newer;
    else this.#oldest = newer;
    i32[w + W_NEWER] = i32[w + W_OLDER] = NONE;
    i32[w + W_FAMILY] = 0;
    this.#data[slot] = null;
    // On the free list, chained through the bucket link.
    i32[w + W_NEXT_IN_BUCKET] = this.#free;
    this.#free = slot;
    this.#size--;
  }
}

// Back to a connection's first state (a new slot, or a 4-tuple reused by a new SYN): both flows
// as before their first segment, no SYN time, RTT, close or reset; identity and links kept.
function resetState(c: Columns, slot: number): void {
  const { f64, i32 } = c;
  const d = slot * F64;
  f64[d + D_SYN_TS] = 0;
  f64[d + D_FIRST_RTT] = 0;
  f64.fill(0, d + FA64, d + F64);
  const w = slot * W32;
  i32[w + W_STATE] = 0;
  for (const fw of [w + FA32, w + FB32]) {
    i32.fill(0, fw, fw + (FB32 - FA32));
    i32[fw + F_WIN_SCALE] = -1;
    i32[fw + F_WINDOW] = -1;
  }
}

// How stale the least-recently-active order may be, ms.
const TOUCH_MS = 1000;

// The same hash for both directions, so one lookup finds the connection either way; 30 bits.
function tupleHash(p: WirePacket): number {
  const n = p.family === 4 ? 4 : 16;
  let s = 0x811c9dc5;
  let d = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    s = Math.imul(s ^ p.src[i], 0x01000193);
    d = Math.imul(d ^ p.dst[i], 0x01000193);
  }
  s = Math.imul(s ^ p.srcPort, 0x01000193);
  d = Math.imul(d ^ p.dstPort, 0x01000193);
  return (s + d) & 0x3fffffff;
}

// 1: the packet goes A to B; -1: B to A; 0: another connection.
function matches(c: Columns, slot: number, p: WirePacket): number {
  const w = slot * W32;
  if (c.i32[w + W_FAMILY] !== p.family) return 0;
  const n = p.family === 4 ? 4 : 16;
  const a = slot * 32;
  const portA = c.i32[w + W_PORT_A];
  const portB = c.i32[w + W_PORT_B];
  if (
    portA === p.srcPort && portB === p.dstPort && same(c.addr, a, p.src, n) &&
    same(c.addr, a + 16, p.dst, n)
  ) {
    return 1;
  }
  if (
    portB === p.srcPort && portA === p.dstPort && same(c.addr, a + 16, p.src, n) &&
    same(c.addr, a, p.dst, n)
  ) {
    return -1;
  }
  return 0;
}

function same(a: Uint8Array, at: number, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[at + i] !== b[i]) return false;
  return true;
}

/**
 * Wireshark's sequence analysis of one segment (`p.seq`, `p.ack` raw; `p.window` unscaled);
 * updates both flows (words at `fw`, `rw`, doubles at `fd`, `rd`) and returns the bits.
 */
function analyse(
  c: Columns,
  d: number,
  fw: number,
  rw: number,
  fd: number,
  rd: number,
  p: WirePacket,
  flags: number,
): number {
  const { f64, i32 } = c;
  // Sequence numbers as int32 (the words hold them so): the same modulo 2^32, and no double
  // arithmetic on numbers past 2^31.
  const seq = p.seq | 0;
  const ack = p.ack | 0;
  const seglen = p.payloadLength;
  const window = p.window;
  const ts = p.ts;
  let ta = 0;
  // Relative numbers start at 0 on a SYN, at 1 when the SYN was not seen.
  if (i32[fw + F_BASE_SET] === 0) {
    i32[fw + F_BASE_SEQ] = (flags & TCP_SYN) !== 0 ? seq : (seq - 1) | 0;
    i32[fw + F_BASE_SET] = 1;
  }
  if (i32[rw + F_BASE_SET] === 0 && (flags & TCP_ACK) !== 0) {
    i32[rw + F_BASE_SEQ] = (ack - 1) | 0;
    i32[rw + F_BASE_SET] = 1;
  }
  const fNextSeq = i32[fw + F_NEXT_SEQ];
  const fLastAck = i32[fw + F_LAST_ACK];
  const fWindow = i32[fw + F_WINDOW];
  const rWindow = i32[rw + F_WINDOW];
  const rLastAck = i32[rw + F_LAST_ACK];
  const rLastFlags = i32[rw + F_LAST_FLAGS];
  const plain = (flags & SFR) === 0;
  checks: {
    if (seglen === 1 && seq === fNextSeq && rWindow === 0) {
      ta |= A_ZERO_WINDOW_PROBE;
      break checks;
    }
    if (window === 0 && plain) ta |= A_ZERO_WINDOW;
    if (fNextSeq !== 0 && gt(seq, fNextSeq) && (flags & TCP_RST) === 0) {
      ta |= A_LOST_SEGMENT;
    }
    if (seglen <= 1 && seq === ((fNextSeq - 1) | 0) && plain) ta |= A_KEEP_ALIVE;
    const sameAck = seglen === 0 && seq === fNextSeq && ack === fLastAck && plain;
    if (sameAck && window !== 0 && window !== fWindow) ta |= A_WINDOW_UPDATE;
    const rScale = i32[rw + F_WIN_SCALE];
    if (seglen > 0 && rScale !== -1 && plain) {
      const shift = rScale === -2 ? 0 : rScale;
      const edge = (rLastAck + (rWindow << shift)) | 0;
      if (((seq + seglen) | 0) === edge) ta |= A_WINDOW_FULL;
    }
    if (sameAck && window !== 0 && window === fWindow && (rLastFlags & A_KEEP_ALIVE) !== 0) {
      ta |= A_KEEP_ALIVE_ACK;
      break checks;
    }
    if (
      sameAck && window === 0 && fWindow === 0 && (rLastFlags & A_ZERO_WINDOW_PROBE) !== 0
    ) {
      ta |= A_ZERO_WINDOW_PROBE_ACK;
      break checks;
    }
    if (sameAck && window !== 0 && window === fWindow) {
      i32[fw + F_DUP_ACKS]++;
      ta |= A_DUPLICATE_ACK;
    }
  }
  if (ack !== fLastAck) i32[fw + F_DUP_ACKS] = 0;
  const rMax = i32[rw + F_MAX_SEQ_TO_BE_ACKED];
  if (rMax !== 0 && gt(ack, rMax) && (flags & TCP_ACK) !== 0) {
    ta |= A_ACK_LOST_SEGMENT;
    i32[rw + F_MAX_SEQ_TO_BE_ACKED] = i32[rw + F_NEXT_SEQ];
  }
  const end = (seq + seglen) | 0;
  if ((seglen > 0 || (flags & (TCP_SYN | TCP_FIN)) !== 0) && (ta & A_KEEP_ALIVE) === 0) {
    let notAdvanced = fNextSeq !== 0 && lt(seq, fNextSeq);
    // One byte short of the highest: the byte a zero-window probe already sent.
    if (seglen > 1 && ((fNextSeq - 1) | 0) === seq) notAdvanced = false;
    const firstRtt = f64[d + D_FIRST_RTT];
    const oooMs = firstRtt === 0 ? DEFAULT_OOO_MS : firstRtt;
    if (
      notAdvanced && i32[rw + F_DUP_ACKS] >= 2 && rLastAck === seq &&
      ts - f64[rd + D_LAST_ACK_TS] < FAST_RETRANSMISSION_MS
    ) {
      ta |= A_FAST_RETRANSMISSION | A_RETRANSMISSION;
    } else if (notAdvanced && ts - f64[fd + D_NEXT_SEQ_TS] < oooMs && fNextSeq !== end) {
      ta |= A_OUT_OF_ORDER;
    } else if (seglen > 0 && rLastAck !== 0 && le(end, rLastAck)) {
      ta |= A_SPURIOUS_RETRANSMISSION | A_RETRANSMISSION;
    } else if (notAdvanced) {
      ta |= A_RETRANSMISSION;
    }
  }
  const next = (flags & (TCP_SYN | TCP_FIN)) !== 0 ? (end + 1) | 0 : end;
  if ((gt(next, fNextSeq) || fNextSeq === 0) && (ta & A_ZERO_WINDOW_PROBE) === 0) {
    i32[fw + F_NEXT_SEQ] = next;
    f64[fd + D_NEXT_SEQ_TS] = ts;
  }
  const fMax = i32[fw + F_MAX_SEQ_TO_BE_ACKED];
  if ((seq === fMax || fMax === 0) && (ta & A_ZERO_WINDOW_PROBE) === 0) {
    i32[fw + F_MAX_SEQ_TO_BE_ACKED] = i32[fw + F_NEXT_SEQ];
  }
  i32[fw + F_WINDOW] = window;
  i32[fw + F_LAST_ACK] = ack;
  f64[fd + D_LAST_ACK_TS] = ts;
  i32[fw + F_LAST_FLAGS] = ta;
  return ta;
}
