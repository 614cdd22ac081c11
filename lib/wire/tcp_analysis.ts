/**
 * Per-connection TCP analysis of captured segments, with the rules and names Wireshark users
 * know (`tcp.analysis.*`): relative sequence and acknowledgment numbers, the window scaled by
 * the handshake's shift, retransmissions, duplicate ACKs, zero windows and their probes, lost
 * segments. The rules follow Wireshark's `tcp_analyze_sequence_number()` (packet-tcp.c, as in
 * tshark 4.0) so both agree segment by segment. Pure code; O(1) work per segment, no
 * allocation except one object per new connection, the table bounded in connections.
 */

import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type WirePacket } from "./decode.ts";

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

/** One direction of a connection: what Wireshark keeps per flow. */
export class TcpFlow {
  /** Raw sequence number that relative numbers count from. */
  baseSeq = 0;
  baseSet = false;
  /** Window shift: -1 not known (yet), -2 not used, else the SYN's option. */
  winScale = -1;
  /** Last raw window (unscaled), 0xffffffff before the first segment. */
  window = 0xffffffff;
  /** Highest next sequence number seen (raw; 0 = none yet, as Wireshark). */
  nextSeq = 0;
  nextSeqTs = 0;
  maxSeqToBeAcked = 0;
  lastAck = 0;
  lastAckTs = 0;
  dupAcks = 0;
  /** Analysis bits of this direction's last segment. */
  lastFlags = 0;
  /** Segments, payload bytes, FIN seen. */
  segments = 0;
  bytes = 0;
  fin = false;

  reset(): void {
    this.baseSeq = 0;
    this.baseSet = false;
    this.winScale = -1;
    this.window = 0xffffffff;
    this.nextSeq = 0;
    this.nextSeqTs = 0;
    this.maxSeqToBeAcked = 0;
    this.lastAck = 0;
    this.lastAckTs = 0;
    this.dupAcks = 0;
    this.lastFlags = 0;
    this.segments = 0;
    this.bytes = 0;
    this.fin = false;
  }
}

/** A tracked connection, keyed by its 4-tuple; side A sent the first segment seen. */
export class TcpConnection {
  /** Stream number in the order connections were first seen (Wireshark's `tcp.stream`). */
  stream = 0;
  family = 4;
  readonly addrA = new Uint8Array(16);
  readonly addrB = new Uint8Array(16);
  portA = 0;
  portB = 0;
  /** Segments from A and from B. */
  readonly a = new TcpFlow();
  readonly b = new TcpFlow();
  firstTs = 0;
  lastTs = 0;
  /** Time of the last SYN without ACK, and the handshake's RTT (SYN to first pure ACK). */
  synTs = 0;
  firstRtt = 0;
  /** True once a RST was seen or both sides sent FIN. */
  closed = false;
  /** Who reset it: "A", "B" or "" (none). */
  resetBy: "" | "A" | "B" = "";
  hash = 0;
  /** Kernel time this connection last moved up the least-recently-active list. */
  touchedTs = 0;
  /** The tracker's user's own state for this connection (the wire view's store); null at first. */
  data: unknown = null;
  // Hash bucket chain and least-recently-active list.
  nextInBucket: TcpConnection | null = null;
  newer: TcpConnection | null = null;
  older: TcpConnection | null = null;

  reset(): void {
    this.a.reset();
    this.b.reset();
    this.synTs = 0;
    this.firstRtt = 0;
    this.closed = false;
    this.resetBy = "";
  }
}

/** What {@linkcode TcpTracker.track} found for one segment; overwritten for each. */
export class TcpSegmentInfo {
  conn: TcpConnection | null = null;
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

/** Tracks TCP connections from decoded segments and analyses each segment as Wireshark does. */
export class TcpTracker {
  readonly maxConnections: number;
  #buckets = new Map<number, TcpConnection>();
  #size = 0;
  #streams = 0;
  // Most and least recently active.
  #newest: TcpConnection | null = null;
  #oldest: TcpConnection | null = null;
  /** Connections dropped to stay within `maxConnections`. */
  evicted = 0;

  constructor(options: TcpTrackerOptions = {}) {
    const max = options.maxConnections ?? 4096;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot track TCP: maxConnections "${max}" is not a positive integer`);
    }
    this.maxConnections = max;
  }

  /** Connections tracked now. */
  get size(): number {
    return this.#size;
  }

  /** Finds the connection of a 4-tuple (either direction), or null. */
  find(p: WirePacket): TcpConnection | null {
    const hash = tupleHash(p);
    for (let c = this.#buckets.get(hash) ?? null; c !== null; c = c.nextInBucket) {
      if (matches(c, p) !== 0) return c;
    }
    return null;
  }

  /**
   * Analyses a decoded TCP segment (`p.protocol === 6`) into `out` and returns its
   * connection, creating it (and evicting the least recently active one) when new.
   */
  track(p: WirePacket, out: TcpSegmentInfo): TcpConnection {
    const hash = tupleHash(p);
    let conn: TcpConnection | null = null;
    let side = 0;
    for (let c = this.#buckets.get(hash) ?? null; c !== null; c = c.nextInBucket) {
      side = matches(c, p);
      if (side !== 0) {
        conn = c;
        break;
      }
    }
    let analysis = 0;
    if (conn === null) {
      conn = this.#create(p, hash);
      side = 1;
    } else {
      // Relinking on every segment costs more than the order is worth: a connection moves up
      // at most once per TOUCH_MS, so the list is ordered to within that.
      if (p.ts - conn.touchedTs >= TOUCH_MS) this.#touch(conn, p.ts);
      const fwd = side === 1 ? conn.a : conn.b;
      // A new SYN with another ISN on a known 4-tuple is a new connection (ports reused).
      if ((p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN && fwd.baseSet && p.seq !== fwd.baseSeq) {
        conn.reset();
        conn.stream = this.#streams++;
        conn.firstTs = p.ts;
        analysis |= A_REUSED_PORTS;
      }
    }
    conn.lastTs = p.ts;
    const fromA = side === 1;
    const fwd = fromA ? conn.a : conn.b;
    const rev = fromA ? conn.b : conn.a;
    const flags = p.flags;
    analysis |= analyse(conn, fwd, rev, p.seq, p.ack, p.payloadLength, flags, p.window, p.ts);
    if ((flags & TCP_SYN) !== 0) {
      if (p.wscale >= 0) fwd.winScale = p.wscale;
      // As Wireshark's verify_tcp_window_scaling(): scaling holds only if both SYNs offer it.
      if (fwd.winScale === -1) {
        fwd.winScale = -2;
        rev.winScale = -2;
      } else if ((flags & TCP_ACK) !== 0 && rev.winScale === -2) {
        fwd.winScale = -2;
      }
      if ((flags & TCP_ACK) === 0) conn.synTs = p.ts;
    } else if ((flags & TCP_ACK) !== 0 && conn.synTs !== 0 && conn.firstRtt === 0) {
      conn.firstRtt = p.ts - conn.synTs;
    }
    fwd.segments++;
    fwd.bytes += p.payloadLength;
    if ((flags & TCP_FIN) !== 0) fwd.fin = true;
    if ((flags & TCP_RST) !== 0 && !conn.closed) conn.resetBy = fromA ? "A" : "B";
    if ((flags & TCP_RST) !== 0 || (conn.a.fin && conn.b.fin)) conn.closed = true;
    out.conn = conn;
    out.fromA = fromA;
    out.relSeq = (p.seq - fwd.baseSeq) >>> 0;
    out.relAck = (flags & TCP_ACK) !== 0 ? (p.ack - rev.baseSeq) >>> 0 : p.ack;
    out.window = (flags & TCP_SYN) === 0 && fwd.winScale >= 0
      // The shift is at most 14: a multiply, not `2 **` (a libm pow() call per segment).
      ? p.window * (1 << fwd.winScale)
      : p.window;
    out.len = p.payloadLength;
    out.analysis = analysis;
    return conn;
  }

  /**
   * Drops connections inactive since before `beforeTs` (ms since the epoch); returns how many.
   * The list's order is kept to within a second: a connection active less than a second before
   * `beforeTs` may stay until the next sweep.
   */
  sweep(beforeTs: number): number {
    let n = 0;
    while (this.#oldest !== null && this.#oldest.lastTs < beforeTs) {
      this.#remove(this.#oldest);
      n++;
    }
    return n;
  }

  /** Connections from most to least recently active. */
  *connections(): IterableIterator<TcpConnection> {
    for (let c = this.#newest; c !== null; c = c.older) yield c;
  }

  #create(p: WirePacket, hash: number): TcpConnection {
    if (this.#size >= this.maxConnections && this.#oldest !== null) {
      this.#remove(this.#oldest);
      this.evicted++;
    }
    const conn = new TcpConnection();
    conn.stream = this.#streams++;
    conn.family = p.family;
    conn.addrA.set(p.src);
    conn.addrB.set(p.dst);
    conn.portA = p.srcPort;
    conn.portB = p.dstPort;
    conn.firstTs = p.ts;
    conn.touchedTs = p.ts;
    conn.hash = hash;
    conn.nextInBucket = this.#buckets.get(hash) ?? null;
    this.#buckets.set(hash, conn);
    this.#size++;
    conn.older = this.#newest;
    if (this.#newest !== null) this.#newest.newer = conn;
    this.#newest = conn;
    if (this.#oldest === null) this.#oldest = conn;
    return conn;
  }

  #touch(conn: TcpConnection, ts: number): void {
    conn.touchedTs = ts;
    if (this.#newest === conn) return;
    // Unlink, then put first.
    if (conn.newer !== null) conn.newer.older = conn.older;
    if (conn.older !== null) conn.older.newer = conn.newer;
    else this.#oldest = conn.newer;
    conn.newer = null;
    conn.older = this.#newest;
    if (this.#newest !== null) this.#newest.newer = conn;
    this.#newest = conn;
  }

  #remove(conn: TcpConnection): void {
    let c = this.#buckets.get(conn.hash) ?? null;
    if (c === conn) {
      if (conn.nextInBucket === null) this.#buckets.delete(conn.hash);
      else this.#buckets.set(conn.hash, conn.nextInBucket);
    } else {
      while (c !== null && c.nextInBucket !== conn) c = c.nextInBucket;
      if (c !== null) c.nextInBucket = conn.nextInBucket;
    }
    if (conn.newer !== null) conn.newer.older = conn.older;
    else this.#newest = conn.older;
    if (conn.older !== null) conn.older.newer = conn.newer;
    else this.#oldest = conn.newer;
    conn.newer = conn.older = conn.nextInBucket = null;
    this.#size--;
  }
}

// How stale the least-recently-active order may be, ms.
const TOUCH_MS = 1000;

// The same hash for both directions, so one lookup finds the connection either way; 30 bits,
// so the Map's keys stay small integers (a 32-bit key is a heap number: slower, and allocated).
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
function matches(c: TcpConnection, p: WirePacket): number {
  if (c.family !== p.family) return 0;
  const n = p.family === 4 ? 4 : 16;
  if (
    c.portA === p.srcPort && c.portB === p.dstPort && same(c.addrA, p.src, n) &&
    same(c.addrB, p.dst, n)
  ) {
    return 1;
  }
  if (
    c.portB === p.srcPort && c.portA === p.dstPort && same(c.addrB, p.src, n) &&
    same(c.addrA, p.dst, n)
  ) {
    return -1;
  }
  return 0;
}

function same(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Wireshark's sequence analysis of one segment (`seq`, `ack` raw; `window` unscaled); updates
 * both flows and returns the analysis bits.
 */
function analyse(
  conn: TcpConnection,
  fwd: TcpFlow,
  rev: TcpFlow,
  seq: number,
  ack: number,
  seglen: number,
  flags: number,
  window: number,
  ts: number,
): number {
  let ta = 0;
  // Relative numbers start at 0 on a SYN, at 1 when the SYN was not seen.
  if (!fwd.baseSet) {
    fwd.baseSeq = (flags & TCP_SYN) !== 0 ? seq : (seq - 1) >>> 0;
    fwd.baseSet = true;
  }
  if (!rev.baseSet && (flags & TCP_ACK) !== 0) {
    rev.baseSeq = (ack - 1) >>> 0;
    rev.baseSet = true;
  }
  const plain = (flags & SFR) === 0;
  checks: {
    if (seglen === 1 && seq === fwd.nextSeq && rev.window === 0) {
      ta |= A_ZERO_WINDOW_PROBE;
      break checks;
    }
    if (window === 0 && plain) ta |= A_ZERO_WINDOW;
    if (fwd.nextSeq !== 0 && gt(seq, fwd.nextSeq) && (flags & TCP_RST) === 0) {
      ta |= A_LOST_SEGMENT;
    }
    if (seglen <= 1 && seq === ((fwd.nextSeq - 1) >>> 0) && plain) ta |= A_KEEP_ALIVE;
    const sameAck = seglen === 0 && seq === fwd.nextSeq && ack === fwd.lastAck && plain;
    if (sameAck && window !== 0 && window !== fwd.window) ta |= A_WINDOW_UPDATE;
    if (seglen > 0 && rev.winScale !== -1 && plain) {
      const shift = rev.winScale === -2 ? 0 : rev.winScale;
      const edge = (rev.lastAck + ((rev.window << shift) >>> 0)) >>> 0;
      if (((seq + seglen) >>> 0) === edge) ta |= A_WINDOW_FULL;
    }
    if (sameAck && window !== 0 && window === fwd.window && (rev.lastFlags & A_KEEP_ALIVE) !== 0) {
      ta |= A_KEEP_ALIVE_ACK;
      break checks;
    }
    if (
      sameAck && window === 0 && fwd.window === 0 && (rev.lastFlags & A_ZERO_WINDOW_PROBE) !== 0
    ) {
      ta |= A_ZERO_WINDOW_PROBE_ACK;
      break checks;
    }
    if (sameAck && window !== 0 && window === fwd.window) {
      fwd.dupAcks++;
      ta |= A_DUPLICATE_ACK;
    }
  }
  if (ack !== fwd.lastAck) fwd.dupAcks = 0;
  if (rev.maxSeqToBeAcked !== 0 && gt(ack, rev.maxSeqToBeAcked) && (flags & TCP_ACK) !== 0) {
    ta |= A_ACK_LOST_SEGMENT;
    rev.maxSeqToBeAcked = rev.nextSeq;
  }
  const end = (seq + seglen) >>> 0;
  if ((seglen > 0 || (flags & (TCP_SYN | TCP_FIN)) !== 0) && (ta & A_KEEP_ALIVE) === 0) {
    let notAdvanced = fwd.nextSeq !== 0 && lt(seq, fwd.nextSeq);
    // One byte short of the highest: the byte a zero-window probe already sent.
    if (seglen > 1 && ((fwd.nextSeq - 1) >>> 0) === seq) notAdvanced = false;
    const oooMs = conn.firstRtt === 0 ? DEFAULT_OOO_MS : conn.firstRtt;
    if (
      notAdvanced && rev.dupAcks >= 2 && rev.lastAck === seq &&
      ts - rev.lastAckTs < FAST_RETRANSMISSION_MS
    ) {
      ta |= A_FAST_RETRANSMISSION | A_RETRANSMISSION;
    } else if (notAdvanced && ts - fwd.nextSeqTs < oooMs && fwd.nextSeq !== end) {
      ta |= A_OUT_OF_ORDER;
    } else if (seglen > 0 && rev.lastAck !== 0 && le(end, rev.lastAck)) {
      ta |= A_SPURIOUS_RETRANSMISSION | A_RETRANSMISSION;
    } else if (notAdvanced) {
      ta |= A_RETRANSMISSION;
    }
  }
  const next = (flags & (TCP_SYN | TCP_FIN)) !== 0 ? (end + 1) >>> 0 : end;
  if ((gt(next, fwd.nextSeq) || fwd.nextSeq === 0) && (ta & A_ZERO_WINDOW_PROBE) === 0) {
    fwd.nextSeq = next;
    fwd.nextSeqTs = ts;
  }
  if (
    (seq === fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked === 0) &&
    (ta & A_ZERO_WINDOW_PROBE) === 0
  ) {
    fwd.maxSeqToBeAcked = fwd.nextSeq;
  }
  fwd.window = window;
  fwd.lastAck = ack;
  fwd.lastAckTs = ts;
  fwd.lastFlags = ta;
  return ta;
}
