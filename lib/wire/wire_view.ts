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
 * Memory: at most `maxSegments` records of about 250 bytes plus their frame (up to the snap
 * length); an idle connection (its handshake kept) costs about 3 KB of heap with the tracker's
 * state, measured on 4,000 connections.
 *
 * Per frame: one decode into a reused packet, one tracker step, one map lookup, and a copy of
 * the frame into a record; records and their frame buffers are allocated only while a
 * connection's head or tail is still filling, then the tail's oldest record is reused.
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

/** One kept segment; reused once it has left its connection's tail. */
class SegmentRecord {
  seq = 0;
  ts = 0;
  fromA = true;
  flags = 0;
  relSeq = 0;
  relAck = 0;
  win = 0;
  len = 0;
  analysis = 0;
  mss = -1;
  wscale = -1;
  sackPerm = false;
  sack: Uint32Array | null = null;
  sackBlocks = 0;
  hasTs = false;
  tsVal = 0;
  tsEcr = 0;
  frameLength = 0;
  wireLength = 0;
  /** Sized to its first frame (a handshake's is about 70 bytes), grown when a larger one comes. */
  frame: Uint8Array = EMPTY;
}

const EMPTY = new Uint8Array(0);

/** One connection's kept segments and counters. */
class ConnStore {
  readonly head: SegmentRecord[] = [];
  readonly tail: SegmentRecord[] = [];
  /** Index in `tail` of its oldest record once it is full. */
  tailStart = 0;
  seen = 0;
  /** Segments seen per analysis bit, in {@linkcode ANALYSIS_NAMES}'s order; made on the first. */
  counts: Uint32Array | null = null;
  resetBy: "" | "A" | "B" = "";
  finA = false;
  finB = false;
  constructor(
    readonly key: string,
    readonly stream: number,
    readonly hostA: string,
    readonly portA: number,
  ) {}

  get kept(): number {
    return this.head.length + this.tail.length;
  }
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
    let store = this.#stores.get(conn);
    if (store === undefined || store.stream !== conn.stream) store = this.#newStore(conn, store);
    store.seen++;
    const a = info.analysis;
    // Bit i of the mask is ANALYSIS_NAMES[i]: count each set bit.
    if (a !== 0) {
      const counts = store.counts ??= new Uint32Array(ANALYSIS_NAMES.length);
      for (let m = a; m !== 0; m &= m - 1) counts[31 - Math.clz32(m & -m)]++;
    }
    if (conn.resetBy !== "" && store.resetBy === "") store.resetBy = conn.resetBy;
    if (p.flags & 0x01) {
      if (info.fromA) store.finA = true;
      else store.finB = true;
    }
    let rec: SegmentRecord;
    if (store.head.length < this.headSegments) {
      rec = new SegmentRecord();
      store.head.push(rec);
      this.#kept++;
    } else if (store.tail.length < this.tailSegments) {
      rec = new SegmentRecord();
      store.tail.push(rec);
      this.#kept++;
    } else {
      rec = store.tail[store.tailStart];
      if (++store.tailStart === store.tail.length) store.tailStart = 0;
    }
    rec.seq = ++this.#seq;
    rec.ts = p.ts;
    rec.fromA = info.fromA;
    rec.flags = p.flags;
    rec.relSeq = info.relSeq;
    rec.relAck = info.relAck;
    rec.win = info.window;
    rec.len = info.len;
    rec.analysis = a;
    rec.mss = p.mss;
    rec.wscale = p.wscale;
    rec.sackPerm = p.sackPerm;
    rec.sackBlocks = p.sackBlocks;
    if (p.sackBlocks > 0) {
      // Relative to the sequence space they acknowledge: the other side's.
      const base = info.fromA ? conn.b.baseSeq : conn.a.baseSeq;
      const sack = rec.sack ??= new Uint32Array(p.sack.length);
      for (let i = 0; i < 2 * p.sackBlocks; i++) sack[i] = (p.sack[i] - base) >>> 0;
    }
    rec.hasTs = p.hasTimestamp;
    rec.tsVal = p.tsVal;
    rec.tsEcr = p.tsEcr;
    const n = Math.min(f.capturedLength, this.snaplen);
    // Exact for an idle connection's few small frames; a reused tail record stops growing at
    // the largest frame its connection sends (the snap length), so bulk allocates nothing.
    if (rec.frame.length < n) rec.frame = new Uint8Array(n);
    // One short-lived view per frame: measured 3-5x cheaper than a byte loop (memcpy inside).
    rec.frame.set(f.bytes.subarray(f.offset, f.offset + n));
    rec.frameLength = n;
    rec.wireLength = f.wireLength;
    if (this.#kept > this.maxSegments) this.#evict();
  };

  #newStore(conn: TcpConnection, old: ConnStore | undefined): ConnStore {
    if (old !== undefined) this.#drop(conn, old);
    const hostA = formatAddress(conn.family, conn.addrA);
    const hostB = formatAddress(conn.family, conn.addrB);
    const store = new ConnStore(
      tupleKey(hostA, conn.portA, hostB, conn.portB),
      conn.stream,
      hostA,
      conn.portA,
    );
    this.#stores.set(conn, store);
    this.#byKey.set(store.key, store);
    return store;
  }

  #drop(conn: TcpConnection, store: ConnStore): void {
    this.#stores.delete(conn);
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
    for (const rec of ordered(store)) {
      if (out.length >= limit) break;
      if (rec.seq > after) out.push(toSegment(rec, localIsA));
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
      for (const rec of ordered(store)) {
        out.push({
          seq: rec.seq,
          ts: rec.ts,
          bytes: rec.frame.slice(0, rec.frameLength),
          wireLength: rec.wireLength,
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

function* ordered(store: ConnStore): IterableIterator<SegmentRecord> {
  yield* store.head;
  const n = store.tail.length;
  for (let i = 0; i < n; i++) yield store.tail[(store.tailStart + i) % n];
}

function toSegment(rec: SegmentRecord, localIsA: boolean): WireSegment {
  const options: WireSegmentOptions = {};
  if (rec.mss >= 0) options.mss = rec.mss;
  if (rec.wscale >= 0) options.wscale = rec.wscale;
  if (rec.sackPerm) options.sackPerm = true;
  if (rec.sackBlocks > 0 && rec.sack !== null) {
    options.sack = [];
    for (let i = 0; i < rec.sackBlocks; i++) {
      options.sack.push([rec.sack[2 * i], rec.sack[2 * i + 1]]);
    }
  }
  if (rec.hasTs) options.ts = [rec.tsVal, rec.tsEcr];
  return {
    seq: rec.seq,
    ts: rec.ts,
    dir: rec.fromA === localIsA ? "out" : "in",
    flags: tcpFlagNames(rec.flags),
    tcpSeq: rec.relSeq,
    tcpAck: rec.relAck,
    win: rec.win,
    len: rec.len,
    options,
    analysis: analysisNames(rec.analysis),
  };
}
