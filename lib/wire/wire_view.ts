/**
 * The wire view as a part of the service: the capture of the endpoints' ports on the interface
 * the service is bound to, every frame decoded and tracked as Wireshark would, and a bounded,
 * fair store of segments per connection that the API, the pcapng export and the diagnoses read.
 *
 * Retention (as the payload capture's, lib/capture/capture_ring.ts): each connection keeps its
 * first `headSegments` segments (the handshake and how it started) and its latest
 * `tailSegments` (how it is going or how it ended), each with its frame cut to the snap length;
 * a bulk transfer overwrites only its own middle. Past `maxSegments` kept in all, the store of
 * the connection first seen goes whole (closed ones first in practice: they were seen earliest).
 * Memory: 72 bytes per kept segment plus its frame (up to the snap length), no object per
 * segment; an idle connection (its handshake kept) costs about 1.35 KB of heap with the
 * tracker's state (0.55 KB of it), measured on 4,000 (bench-style synthetic handshakes).
 *
 * Per frame: one decode into a reused packet, one tracker step, one map lookup, nine numbers and
 * a copy of the frame into the connection's arrays, which grow (doubling) only while its head or
 * tail fills; then the tail's oldest slot is overwritten. Measured (bench/wire_view_cost.ts,
 * process CPU): decode + analysis 67 ns a frame, the whole ingest 127 ns (4 connections) to
 * 137 ns (64: the store leaves the caches).
 *
 * The query API (for the routes and the diagnoses): {@linkcode WireView.segments},
 * {@linkcode WireView.connection}, {@linkcode WireView.analysisCounts},
 * {@linkcode WireView.frames}, {@linkcode WireView.stats}.
 */

import type { Address } from "../net/types.ts";
import {
  type CapturedFrame,
  openWireCapture,
  type WireCapture,
  type WireCaptureOptions,
  type WireLibc,
} from "./capture.ts";
import { decodeFrame, formatAddress, tcpFlagNames, WirePacket } from "./decode.ts";
import {
  A_RETRANSMISSION,
  ANALYSIS_NAMES,
  analysisNames,
  type TcpConnection,
  TcpSegmentInfo,
  TcpTracker,
} from "./tcp_analysis.ts";

/** Defaults of {@linkcode WireViewOptions}; the server's flags show them. */
export const WIRE_VIEW_DEFAULTS = {
  snaplen: 256,
  ringBytes: 8 * 1024 * 1024,
  headSegments: 32,
  tailSegments: 224,
  maxSegments: 65_536,
  maxConnections: 4096,
} as const;

/** Options for {@linkcode WireView.open}. */
export interface WireViewOptions {
  /** Interface to capture on ("" every interface). @default "lo" */
  interface?: string;
  /** The service's ports. @default [] (every port) */
  ports?: readonly number[];
  /** Bytes kept of each frame. @default 256 */
  snaplen?: number;
  /** The capture ring's size. @default 8388608 */
  ringBytes?: number;
  /** First segments kept per connection. @default 32 */
  headSegments?: number;
  /** Latest segments kept per connection. @default 224 */
  tailSegments?: number;
  /** Segments kept in all; past it the oldest connection's store goes. @default 65536 */
  maxSegments?: number;
  /** Connections the analysis tracks at once. @default 4096 */
  maxConnections?: number;
  /** Injected libc (tests: a failing `socket`). */
  libc?: WireLibc;
}

/** The TCP options of a segment as the API shows them (absent ones left out). */
export interface WireSegmentOptions {
  mss?: number;
  wscale?: number;
  sackPerm?: boolean;
  /** SACK blocks as relative [left, right) edges of the receiver's sequence space. */
  sack?: [number, number][];
  /** Timestamp option: value and echo reply. */
  ts?: [number, number];
}

/** One captured TCP segment as seen from one side of its connection. */
export interface WireSegment {
  /** Order of capture across the service (increasing). */
  seq: number;
  /** The kernel's receive time, ms since the epoch. */
  ts: number;
  /** From the asking side: `out` it sent this segment, `in` it received it. */
  dir: "in" | "out";
  flags: string[];
  /** Relative sequence and acknowledgment numbers, as Wireshark shows them. */
  tcpSeq: number;
  tcpAck: number;
  /** The advertised window in bytes (scaled). */
  win: number;
  /** Payload bytes. */
  len: number;
  options: WireSegmentOptions;
  /** Wireshark's `tcp.analysis.*` names that apply. */
  analysis: string[];
}

/** What the wire says about one connection as a whole. */
export interface WireConnectionSummary {
  /** Segments seen, kept. */
  segments: number;
  kept: number;
  /** Who sent a RST, from the asking side: "" none seen. */
  resetBy: "" | "local" | "remote";
  /** A FIN seen from each side. */
  finLocal: boolean;
  finRemote: boolean;
}

/** The wire view's state as `/api/wire` shows it. */
export interface WireStatus {
  available: boolean;
  reason: string | null;
  interfaces: string[];
  snaplen: number | null;
  packets: number;
  bytes: number;
  drops: number;
}

/** A socket's 4-tuple as its row tells it: its own address and the other end's. */
export interface WireTuple {
  local: Address;
  remote: Address;
}

// A kept segment is META doubles in its store's meta array (no object per segment: an idle
// connection's three handshake segments cost about 400 bytes, not 1.5 KB): capture order, kernel
// time, flags | fromA << 9 | analysis << 10, relative seq and ack, scaled window, payload length,
// where its frame starts in its frame array, and wire length * 65536 + captured length.
const META = 9;
const M_SEQ = 0, M_TS = 1, M_BITS = 2, M_REL_SEQ = 3, M_REL_ACK = 4, M_WIN = 5, M_LEN = 6;
const M_AT = 7, M_LENGTHS = 8;

/**
 * One connection's kept segments and counters. The head grows by appending (frames packed end
 * to end); the tail is a ring of fixed slots (a snap length each), grown by doubling until it
 * holds `tailSegments`, then overwritten oldest first.
 */
class ConnStore {
  headMeta = new Float64Array(4 * META);
  headFrames = new Uint8Array(256);
  headCount = 0;
  headUsed = 0;
  tailMeta: Float64Array<ArrayBuffer> | null = null;
  tailFrames: Uint8Array<ArrayBuffer> | null = null;
  tailCount = 0;
  /** Slot of the tail's oldest segment once it is full. */
  tailStart = 0;
  seen = 0;
  /** Segments seen per analysis bit, in {@linkcode ANALYSIS_NAMES}'s order; made on the first. */
  counts: Uint32Array | null = null;
  resetBy: "" | "A" | "B" = "";
  finA = false;
  finB = false;
  /** Raw sequence numbers the relative ones count from (for SACK edges at query time). */
  baseA = 0;
  baseB = 0;
  constructor(
    readonly key: string,
    readonly stream: number,
    readonly hostA: string,
    readonly portA: number,
    readonly portB: number,
  ) {}

  get kept(): number {
    return this.headCount + this.tailCount;
  }
}

/** Where one kept segment lives: its meta array and index, its frame array. */
interface Slot {
  meta: Float64Array;
  m: number;
  frames: Uint8Array;
}

/** Normalizes an address as the socket rows spell it (`::ffff:1.2.3.4` is `1.2.3.4`). */
function host(hostname: string): string {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h.startsWith("::ffff:") && h.includes(".") ? h.slice(7) : h;
}

/** The same key for a 4-tuple from either side. */
export function tupleKey(aHost: string, aPort: number, bHost: string, bPort: number): string {
  const a = `${host(aHost)}|${aPort}`;
  const b = `${host(bHost)}|${bPort}`;
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

/**
 * The wire view: open with {@linkcode WireView.open}; unavailable ones answer every query
 * with nothing and keep their `reason`.
 */
export class WireView {
  /** False when the capture could not open (or failed later): see `reason`. */
  available: boolean;
  /** Why the wire view is off, in plain words; null when on. */
  reason: string | null;
  readonly interface: string;
  readonly snaplen: number;
  readonly headSegments: number;
  readonly tailSegments: number;
  readonly maxSegments: number;
  #capture: WireCapture | null;
  #ac = new AbortController();
  #running: Promise<void> | null = null;
  #packet = new WirePacket();
  #info = new TcpSegmentInfo();
  #tracker: TcpTracker;
  #stores = new Map<TcpConnection, ConnStore>();
  #byKey = new Map<string, ConnStore>();
  #kept = 0;
  #seq = 0;
  #payloadBytes = 0;
  #retransmittedBytes = 0;

  private constructor(
    capture: WireCapture | null,
    reason: string | null,
    options: WireViewOptions,
  ) {
    this.#capture = capture;
    this.available = capture !== null;
    this.reason = reason;
    this.interface = options.interface ?? "lo";
    this.snaplen = capture?.snaplen ?? options.snaplen ?? WIRE_VIEW_DEFAULTS.snaplen;
    this.headSegments = options.headSegments ?? WIRE_VIEW_DEFAULTS.headSegments;
    this.tailSegments = options.tailSegments ?? WIRE_VIEW_DEFAULTS.tailSegments;
    this.maxSegments = options.maxSegments ?? WIRE_VIEW_DEFAULTS.maxSegments;
    for (
      const [name, v, min] of [
        ["headSegments", this.headSegments, 0],
        ["tailSegments", this.tailSegments, 1],
        ["maxSegments", this.maxSegments, 1],
      ] as const
    ) {
      if (!Number.isInteger(v) || v < min) {
        throw new RangeError(`Cannot open wire view: ${name} "${v}" is not an integer from ${min}`);
      }
    }
    this.#tracker = new TcpTracker({
      maxConnections: options.maxConnections ?? WIRE_VIEW_DEFAULTS.maxConnections,
    });
  }

  /**
   * Opens the capture and starts reading it; never throws for the environment (no permission,
   * not Linux, no FFI: an unavailable view with the reason). Throws RangeError on bad options.
   */
  static open(options: WireViewOptions = {}): WireView {
    const captureOptions: WireCaptureOptions = {
      ports: options.ports ?? [],
      interface: options.interface ?? "lo",
      snaplen: options.snaplen ?? WIRE_VIEW_DEFAULTS.snaplen,
      ringBytes: options.ringBytes ?? WIRE_VIEW_DEFAULTS.ringBytes,
      libc: options.libc,
    };
    const opened = openWireCapture(captureOptions);
    const view = opened.available
      ? new WireView(opened.capture, null, options)
      : new WireView(null, opened.reason, options);
    view.#start();
    return view;
  }

  /** A view that is off for `reason` (`--no-wire`, not configured). */
  static off(reason: string, options: WireViewOptions = {}): WireView {
    return new WireView(null, reason, options);
  }

  #start(): void {
    const capture = this.#capture;
    if (capture === null) return;
    this.#running = capture.run(this.ingest, this.#ac.signal).catch((error) => {
      this.available = false;
      this.reason = `capture stopped: ${error instanceof Error ? error.message : error}`;
    });
  }

  /** Status for `/api/wire`, `/metrics` and the banner. */
  status(): WireStatus {
    const stats = this.#capture !== null && !this.#capture.closed
      ? this.#capture.stats()
      : { packets: 0, bytes: 0, drops: 0 };
    return {
      available: this.available,
      reason: this.reason,
      interfaces: this.#capture === null ? [] : [this.interface === "" ? "any" : this.interface],
      snaplen: this.#capture === null ? null : this.snaplen,
      ...stats,
    };
  }

  /** TCP payload bytes of every captured segment (retransmissions counted again). */
  get payloadBytes(): number {
    return this.#payloadBytes;
  }

  /** Payload bytes of the segments analysed as retransmissions (counted in `payloadBytes` too). */
  get retransmittedBytes(): number {
    return this.#retransmittedBytes;
  }

  /** Segments kept in all, connections with a store. */
  get size(): { segments: number; connections: number } {
    return { segments: this.#kept, connections: this.#stores.size };
  }

  /**
   * Takes one captured frame (valid only during the call), as the capture hands it over;
   * tests and benchmarks feed frames here directly.
   */
  ingest = (f: CapturedFrame): void => {
    const p = this.#packet;
    if (!decodeFrame(f.bytes, f.offset, f.capturedLength, f.wireLength, f.ts, p)) return;
    if (p.protocol !== 6) return;
    const info = this.#info;
    this.#payloadBytes += p.payloadLength;
    const conn = this.#tracker.track(p, info);
    // The store hangs on the connection (no map lookup per frame); a reused 4-tuple is a new
    // stream and gets a new store.
    let store = conn.data as ConnStore | null;
    if (store === null || store.stream !== conn.stream) store = this.#newStore(conn, store);
    store.seen++;
    const a = info.analysis;
    // Bit i of the mask is ANALYSIS_NAMES[i]: count each set bit.
    if (a !== 0) {
      if ((a & A_RETRANSMISSION) !== 0) this.#retransmittedBytes += p.payloadLength;
      const counts = store.counts ??= new Uint32Array(ANALYSIS_NAMES.length);
      for (let m = a; m !== 0; m &= m - 1) counts[31 - Math.clz32(m & -m)]++;
    }
    if (conn.resetBy !== "" && store.resetBy === "") store.resetBy = conn.resetBy;
    if (p.flags & 0x01) {
      if (info.fromA) store.finA = true;
      else store.finB = true;
    }
    store.baseA = conn.a.baseSeq;
    store.baseB = conn.b.baseSeq;
    const n = Math.min(f.capturedLength, this.snaplen);
    let meta: Float64Array;
    let frames: Uint8Array;
    let m: number;
    let at: number;
    if (store.headCount < this.headSegments) {
      m = store.headCount * META;
      if (m + META > store.headMeta.length) {
        store.headMeta = grow(
          store.headMeta,
          Math.min(2 * store.headMeta.length, this.headSegments * META),
        );
      }
      at = store.headUsed;
      if (at + n > store.headFrames.length) {
        store.headFrames = growBytes(
          store.headFrames,
          Math.max(2 * store.headFrames.length, at + n),
        );
      }
      meta = store.headMeta;
      frames = store.headFrames;
      store.headCount++;
      store.headUsed += n;
      this.#kept++;
    } else {
      const cap = store.tailMeta === null ? 0 : store.tailMeta.length / META;
      let slot: number;
      if (store.tailCount < cap) {
        slot = store.tailCount++;
        this.#kept++;
      } else if (cap < this.tailSegments) {
        const next = Math.min(Math.max(4, 2 * cap), this.tailSegments);
        store.tailMeta = store.tailMeta === null
          ? new Float64Array(next * META)
          : grow(store.tailMeta, next * META);
        store.tailFrames = store.tailFrames === null
          ? new Uint8Array(next * this.snaplen)
          : growBytes(store.tailFrames, next * this.snaplen);
        slot = store.tailCount++;
        this.#kept++;
      } else {
        slot = store.tailStart;
        if (++store.tailStart === cap) store.tailStart = 0;
      }
      meta = store.tailMeta!;
      frames = store.tailFrames!;
      m = slot * META;
      at = slot * this.snaplen;
    }
    meta[m + M_SEQ] = ++this.#seq;
    meta[m + M_TS] = p.ts;
    meta[m + M_BITS] = p.flags | (info.fromA ? 0x200 : 0) | (a << 10);
    meta[m + M_REL_SEQ] = info.relSeq;
    meta[m + M_REL_ACK] = info.relAck;
    meta[m + M_WIN] = info.window;
    meta[m + M_LEN] = info.len;
    meta[m + M_AT] = at;
    meta[m + M_LENGTHS] = f.wireLength * 65536 + n;
    // One short-lived view per frame: measured 3-5x cheaper than a byte loop (memcpy inside).
    frames.set(f.bytes.subarray(f.offset, f.offset + n), at);
    if (this.#kept > this.maxSegments) this.#evict();
  };

  #newStore(conn: TcpConnection, old: ConnStore | null): ConnStore {
    if (old !== null) this.#drop(conn, old);
    const hostA = formatAddress(conn.family, conn.addrA);
    const hostB = formatAddress(conn.family, conn.addrB);
    const store = new ConnStore(
      tupleKey(hostA, conn.portA, hostB, conn.portB),
      conn.stream,
      hostA,
      conn.portA,
      conn.portB,
    );
    this.#stores.set(conn, store);
    this.#byKey.set(store.key, store);
    conn.data = store;
    return store;
  }

  #drop(conn: TcpConnection, store: ConnStore): void {
    this.#stores.delete(conn);
    if (conn.data === store) conn.data = null;
    if (this.#byKey.get(store.key) === store) this.#byKey.delete(store.key);
    this.#kept -= store.kept;
  }

  // Drops whole stores, first seen first, until within the cap (the newest is never dropped).
  #evict(): void {
    for (const [conn, store] of this.#stores) {
      if (this.#kept <= this.maxSegments || this.#stores.size <= 1) return;
      this.#drop(conn, store);
    }
  }

  #store(tuple: WireTuple): { store: ConnStore; localIsA: boolean } | null {
    const store = this.#byKey.get(
      tupleKey(tuple.local.hostname, tuple.local.port, tuple.remote.hostname, tuple.remote.port),
    );
    if (store === undefined) return null;
    const localIsA = store.portA === tuple.local.port && store.hostA === host(tuple.local.hostname);
    return { store, localIsA };
  }

  /**
   * The kept segments of one connection seen from `tuple.local`'s side, oldest first: those
   * with `seq` above `after`, at most `limit`. Empty when the wire never saw it.
   */
  segments(tuple: WireTuple, options: { after?: number; limit?: number } = {}): WireSegment[] {
    const found = this.#store(tuple);
    if (found === null) return [];
    const { store, localIsA } = found;
    const after = options.after ?? 0;
    const limit = options.limit ?? Infinity;
    const out: WireSegment[] = [];
    const p = new WirePacket();
    for (const slot of ordered(store)) {
      if (out.length >= limit) break;
      if (slot.meta[slot.m + M_SEQ] > after) out.push(toSegment(slot, store, localIsA, p));
    }
    return out;
  }

  /** What the wire saw of one connection as a whole, from `tuple.local`'s side; null if nothing. */
  connection(tuple: WireTuple): WireConnectionSummary | null {
    const found = this.#store(tuple);
    if (found === null) return null;
    const { store, localIsA } = found;
    const resetBy = store.resetBy === ""
      ? ""
      : (store.resetBy === "A") === localIsA
      ? "local"
      : "remote";
    return {
      segments: store.seen,
      kept: store.kept,
      resetBy,
      finLocal: localIsA ? store.finA : store.finB,
      finRemote: localIsA ? store.finB : store.finA,
    };
  }

  /** Segments per Wireshark analysis name of one connection (names never seen left out). */
  analysisCounts(tuple: WireTuple): Record<string, number> {
    const found = this.#store(tuple);
    const out: Record<string, number> = {};
    if (found === null) return out;
    const counts = found.store.counts;
    if (counts === null) return out;
    ANALYSIS_NAMES.forEach(([, name], i) => {
      if (counts[i] > 0) out[name] = counts[i];
    });
    return out;
  }

  /**
   * SYNs toward `port` (a listener's) that the analysis calls retransmissions, captured at or
   * after `since` (epoch ms): a client's SYN repeated because the listener dropped the first
   * (a full accept queue). Reads only the connections' heads, where handshakes are kept.
   */
  synRetransmits(port: number, since = 0): number {
    let n = 0;
    for (const store of this.#stores.values()) {
      if (store.portA !== port && store.portB !== port) continue;
      const meta = store.headMeta;
      for (let i = 0; i < store.headCount; i++) {
        const m = i * META;
        const bits = meta[m + M_BITS];
        // A SYN without ACK, sent toward `port`: from A when B holds the port.
        if ((bits & 0x12) !== 0x02 || meta[m + M_TS] < since) continue;
        const toPort = (bits & 0x200) !== 0 ? store.portB : store.portA;
        if (toPort === port && ((bits >>> 10) & A_RETRANSMISSION) !== 0) n++;
      }
    }
    return n;
  }

  /**
   * Every kept frame in capture order (copies), with its connection's key and whether it went
   * from side A, for the pcapng export. `tuple` keeps one connection's.
   */
  frames(tuple?: WireTuple): { ts: number; bytes: Uint8Array; wireLength: number; key: string }[] {
    const stores = tuple === undefined
      ? [...this.#stores.values()]
      : [this.#store(tuple)?.store].filter((s) => s !== undefined);
    const out: { seq: number; ts: number; bytes: Uint8Array; wireLength: number; key: string }[] =
      [];
    for (const store of stores) {
      for (const { meta, m, frames } of ordered(store)) {
        const at = meta[m + M_AT];
        const lengths = meta[m + M_LENGTHS];
        out.push({
          seq: meta[m + M_SEQ],
          ts: meta[m + M_TS],
          bytes: frames.slice(at, at + (lengths % 65536)),
          wireLength: Math.floor(lengths / 65536),
          key: store.key,
        });
      }
    }
    out.sort((x, y) => x.seq - y.seq);
    return out;
  }

  /** Stops the capture and frees its ring. */
  async close(): Promise<void> {
    this.#ac.abort();
    await this.#capture?.close();
    await this.#running;
  }
}

function grow(a: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(size);
  b.set(a);
  return b;
}

function growBytes(a: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(size);
  b.set(a);
  return b;
}

// The kept segments of a store in capture order: the head, then the tail from its oldest.
function* ordered(store: ConnStore): IterableIterator<Slot> {
  for (let i = 0; i < store.headCount; i++) {
    yield { meta: store.headMeta, m: i * META, frames: store.headFrames };
  }
  const n = store.tailCount;
  for (let i = 0; i < n; i++) {
    const slot = (store.tailStart + i) % n;
    yield { meta: store.tailMeta!, m: slot * META, frames: store.tailFrames! };
  }
}

// A kept segment as the API shows it; its options decoded again from its frame.
function toSegment(slot: Slot, store: ConnStore, localIsA: boolean, p: WirePacket): WireSegment {
  const { meta, m, frames } = slot;
  const bits = meta[m + M_BITS];
  const fromA = (bits & 0x200) !== 0;
  const at = meta[m + M_AT];
  const lengths = meta[m + M_LENGTHS];
  const options: WireSegmentOptions = {};
  if (decodeFrame(frames, at, lengths % 65536, Math.floor(lengths / 65536), 0, p)) {
    if (p.mss >= 0) options.mss = p.mss;
    if (p.wscale >= 0) options.wscale = p.wscale;
    if (p.sackPerm) options.sackPerm = true;
    if (p.sackBlocks > 0) {
      // Relative to the sequence space they acknowledge: the other side's.
      const base = fromA ? store.baseB : store.baseA;
      options.sack = [];
      for (let i = 0; i < p.sackBlocks; i++) {
        options.sack.push([(p.sack[2 * i] - base) >>> 0, (p.sack[2 * i + 1] - base) >>> 0]);
      }
    }
    if (p.hasTimestamp) options.ts = [p.tsVal, p.tsEcr];
  }
  return {
    seq: meta[m + M_SEQ],
    ts: meta[m + M_TS],
    dir: fromA === localIsA ? "out" : "in",
    flags: tcpFlagNames(bits & 0x1ff),
    tcpSeq: meta[m + M_REL_SEQ],
    tcpAck: meta[m + M_REL_ACK],
    win: meta[m + M_WIN],
    len: meta[m + M_LEN],
    options,
    analysis: analysisNames(bits >>> 10),
  };
}
