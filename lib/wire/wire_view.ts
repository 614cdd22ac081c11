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
 * Memory: a kept segment is a 48-byte record plus its frame (up to the snap length) padded to
 * 8 bytes, no object per segment. An idle connection (its handshake kept) costs a 384-byte
 * block of a 64 KiB page shared with other connections (no buffer of its own), one store object
 * of 14 fields and, while the tracker holds it (its 4,096 most recently active), a tracker slot
 * of about 300 bytes in typed arrays. Measured with bench/wire_mem.ts (synthetic Linux
 * handshakes, real-sized sequence numbers): 0.25 KB of heap and 0.49 KB off it per connection on
 * 10,000 (0.27 + 0.66 KB on 4,000, each with its slot); 2.0 + 0.58 KB before the shared pages and
 * the slots (TcpConnection objects, two typed arrays per store, a key string).
 *
 * Per frame: one decode into a reused packet, one tracker step, a record (two doubles, seven
 * words) and a copy of the frame into the connection's head block (moved to a bigger one as it
 * fills) or tail buffer (grown by doubling until it holds `tailSegments`); then the tail's
 * oldest slot is overwritten. Measured (bench/wire_view_cost.ts, process CPU, medians of
 * alternating runs): decode + analysis 67 ns a frame, the whole ingest 113-120 ns with 4 or 64
 * connections, as before the shared pages and the tracker's slots; with sequence numbers past
 * 2^30 (real ISNs, which boxed as heap numbers before) 122 ns against 161 (4 connections).
 *
 * The query API (for the routes and the diagnoses): {@linkcode WireView.segments},
 * {@linkcode WireView.connection}, {@linkcode WireView.analysisCounts},
 * {@linkcode WireView.frames}, {@linkcode WireView.stats}.
 */

import type { Address } from "../net/types.ts";
import {
  type CapturedFrame,
  type FrameSource,
  openWireCapture,
  type WireCaptureOptions,
  type WireLibc,
} from "./capture.ts";
import { openTcxCapture, type TcxLibc } from "./tcx_capture.ts";
import { decodeFrame, tcpFlagNames, WirePacket } from "./decode.ts";
import {
  A_RETRANSMISSION,
  A_REUSED_PORTS,
  ANALYSIS_NAMES,
  analysisNames,
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
  /**
   * How frames are taken: "tcx" an eBPF program on lo's egress (Linux 6.6+, CAP_BPF and
   * CAP_NET_ADMIN), "packet" an `AF_PACKET` ring (CAP_NET_RAW), "auto" the first where it can.
   * @default "auto"
   */
  capture?: WireCaptureMethod;
  /** Injected libc (tests: a failing `socket`). */
  libc?: WireLibc;
  /** Injected libc of the eBPF capture (tests: a failing `syscall`). */
  tcxLibc?: TcxLibc;
}

/** The choices of {@linkcode WireViewOptions.capture}. */
export const WIRE_CAPTURE_METHODS = ["auto", "tcx", "packet"] as const;
export type WireCaptureMethod = typeof WIRE_CAPTURE_METHODS[number];

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
  /** How frames are taken: "tcx" (eBPF on lo's egress) or "packet" (AF_PACKET ring); null off. */
  method: "tcx" | "packet" | null;
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

// A kept segment is a record of REC bytes (no object per segment) followed by its frame cut to
// the snap length and padded to 8 bytes: capture order and kernel time (doubles), then as
// 32-bit words flags | fromA << 9 | analysis << 10, relative seq and ack, scaled window, payload
// length, wire length, captured length (a GSO frame's lengths pass 64 KiB).
const REC = 48;
const R_SEQ = 0, R_TS = 1; // Float64 index from the record's start / 8
const W_BITS = 4, W_REL_SEQ = 5, W_REL_ACK = 6, W_WIN = 7, W_LEN = 8, W_WIRE = 9, W_CAP = 10;

/** Views of one buffer of records; every record and block starts 8-byte aligned. */
class Region {
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  readonly f64: Float64Array;
  constructor(bytes: number) {
    const buffer = new ArrayBuffer(bytes);
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
  }
}

// A head block starts with the raw sequence numbers the relative ones count from (two words:
// for SACK edges at query time; kept here, not as object fields that box as heap numbers).
const HEAD_HDR = 8;

// Block sizes the shared pages hand out to heads. An idle connection's handshake (three frames
// of 66-94 bytes and their records) takes one block of 384 or 512 bytes in a page shared with
// other connections: no buffer or typed array of its own (each costs ~250 bytes of heap and
// malloc besides its data). A head that outgrows the last size gets a buffer of its own.
const BLOCK_SIZES = [128, 192, 256, 384, 512, 768, 1024, 1536, 2048];
const PAGE_BYTES = 64 * 1024;

/**
 * Shared pages carved into blocks of the sizes above, freed blocks reused per size (a page is
 * never given back: the kept segments are bounded by `maxSegments`, so is the high water).
 */
class Slab {
  #page: (Region | null)[] = BLOCK_SIZES.map(() => null);
  #next: number[] = BLOCK_SIZES.map(() => PAGE_BYTES);
  #freeRegion: Region[][] = BLOCK_SIZES.map(() => []);
  #freeAt: number[][] = BLOCK_SIZES.map(() => []);
  /** The block `alloc` found. */
  region: Region = EMPTY;
  at = 0;

  /** Takes a block of size class `c` into `region` and `at`. */
  alloc(c: number): void {
    const free = this.#freeRegion[c];
    if (free.length > 0) {
      this.region = free.pop()!;
      this.at = this.#freeAt[c].pop()!;
      return;
    }
    const size = BLOCK_SIZES[c];
    if (this.#next[c] + size > PAGE_BYTES) {
      this.#page[c] = new Region(PAGE_BYTES);
      this.#next[c] = 0;
    }
    this.region = this.#page[c]!;
    this.at = this.#next[c];
    this.#next[c] += size;
  }

  free(c: number, region: Region, at: number): void {
    this.#freeRegion[c].push(region);
    this.#freeAt[c].push(at);
  }
}

const EMPTY = new Region(0);

/** The smallest block size class holding `bytes`, or -1 past the last. */
function sizeClass(bytes: number): number {
  for (let c = 0; c < BLOCK_SIZES.length; c++) if (BLOCK_SIZES[c] >= bytes) return c;
  return -1;
}

/** `n` rounded up to a multiple of 8. */
function pad8(n: number): number {
  return (n + 7) & ~7;
}

// A store's `bits`: who reset it, FIN seen from each side, dropped from the view, the sides
// seen and whether the base sequence numbers are final (see `WireView.ingest`).
const B_RESET_A = 1, B_RESET_B = 2, B_FIN_A = 4, B_FIN_B = 8, B_DROPPED = 16;
const B_SEEN_A = 32, B_SEEN_B = 64, B_BASED = 128;

/** A connection's tail: a buffer of `cap` fixed slots, made once its head is full. */
class Tail {
  count = 0;
  /** Slot of the oldest segment once full. */
  start = 0;
  constructor(public r: Region, public cap: number) {}
}

/**
 * One connection's kept segments and counters. The head is one block of records packed end to
 * end (in a shared page while small; moved to a bigger block as it fills); the tail is a buffer
 * of fixed slots (a record and a snap length each), grown by doubling until it holds
 * `tailSegments`, then overwritten oldest first. Few fields (each is 8 bytes): an idle
 * connection's store is one object of 14.
 */
class ConnStore {
  head: Region = EMPTY;
  headAt = 0;
  /** The head block's size class, -1 when the head has a buffer of its own (or none). */
  headClass = -1;
  headUsed = HEAD_HDR;
  headCount = 0;
  tail: Tail | null = null;
  seen = 0;
  /** Segments seen per analysis bit, in {@linkcode ANALYSIS_NAMES}'s order; made on the first. */
  counts: Uint32Array | null = null;
  bits = 0;
  /** The next store in its hash chain (see `WireView.#byTuple`). */
  nextSameHash: ConnStore | null = null;
  constructor(
    readonly hostA: string,
    readonly portA: number,
    readonly hostB: string,
    readonly portB: number,
  ) {}

  get kept(): number {
    return this.headCount + (this.tail?.count ?? 0);
  }

  get headSize(): number {
    return this.headClass >= 0 ? BLOCK_SIZES[this.headClass] : this.head.u8.length;
  }
}

/** Where one kept segment's record lives. */
interface Slot {
  r: Region;
  at: number;
}

/** Normalizes an address as the socket rows spell it (`::ffff:1.2.3.4` is `1.2.3.4`). */
function host(hostname: string): string {
  const h = hostname.replace(/^\[|\]$/g, "");
  return h.startsWith("::ffff:") && h.includes(".") ? h.slice(7) : h;
}

// The same 30-bit hash for a 4-tuple from either side (hosts normalized as `host` does).
function tupleHash(aHost: string, aPort: number, bHost: string, bPort: number): number {
  return (endHash(aHost, aPort) + endHash(bHost, bPort)) & 0x3fffffff;
}

function endHash(h: string, port: number): number {
  let x = 0x811c9dc5;
  for (let i = 0; i < h.length; i++) x = Math.imul(x ^ h.charCodeAt(i), 0x01000193);
  return Math.imul(x ^ port, 0x01000193);
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
  #capture: FrameSource | null;
  #ac = new AbortController();
  #running: Promise<void> | null = null;
  #packet = new WirePacket();
  #info = new TcpSegmentInfo();
  #tracker: TcpTracker;
  // Stores in the order first seen (the eviction order); not keyed by the tracker's connection,
  // which would keep every connection the tracker let go alive with its store.
  #stores = new Set<ConnStore>();
  #slab = new Slab();
  #slotBytes: number;
  #headMax: number;
  // Stores by a hash of their 4-tuple (either direction), chained on collision; at most one
  // per 4-tuple, the newest. A number key, not the tuple's string: that string was a third of
  // an idle connection's heap.
  #byTuple = new Map<number, ConnStore>();
  // Hosts as formatted, one string each (a service's connections share its few addresses).
  #hosts = new Map<string, string>();
  #kept = 0;
  #seq = 0;
  #payloadBytes = 0;
  #retransmittedBytes = 0;

  private constructor(
    capture: FrameSource | null,
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
    this.#slotBytes = REC + pad8(this.snaplen);
    this.#headMax = HEAD_HDR + this.headSegments * this.#slotBytes;
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
    const method = options.capture ?? "auto";
    // eBPF first (it answers unavailable off lo): the kernel does less per packet than for a
    // packet socket. Then the packet socket, unless eBPF was asked for by name.
    let opened: { available: true; capture: FrameSource } | { available: false; reason: string } =
      method === "packet"
        ? { available: false, reason: "" }
        : openTcxCapture({ ...captureOptions, libc: options.tcxLibc });
    if (!opened.available) {
      opened = method !== "tcx" ? openWireCapture(captureOptions) : {
        available: false,
        reason: `eBPF capture on ${
          captureOptions.interface || "every interface"
        }: ${opened.reason}`,
      };
    }
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
      method: this.method,
      interfaces: this.#capture === null ? [] : [this.interface === "" ? "any" : this.interface],
      snaplen: this.#capture === null ? null : this.snaplen,
      ...stats,
    };
  }

  /** How frames are taken: "tcx" (eBPF on lo's egress), "packet" (AF_PACKET ring); null off. */
  get method(): "tcx" | "packet" | null {
    return this.#capture?.method ?? null;
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
    const tracker = this.#tracker;
    const conn = tracker.track(p, info);
    // The store hangs on the connection (no map lookup per frame); a reused 4-tuple is a new
    // stream and gets a new store.
    let store = tracker.data(conn) as ConnStore | null;
    const a = info.analysis;
    // The tracker clears a dropped connection's data, and starts a new stream on the same slot
    // only for a reused 4-tuple (analysed as such).
    if (store === null || (store.bits & B_DROPPED) !== 0 || (a & A_REUSED_PORTS) !== 0) {
      store = this.#newStore(conn, store);
    }
    store.seen++;
    // Bit i of the mask is ANALYSIS_NAMES[i]: count each set bit.
    if (a !== 0) {
      if ((a & A_RETRANSMISSION) !== 0) this.#retransmittedBytes += p.payloadLength;
      const counts = store.counts ??= new Uint32Array(ANALYSIS_NAMES.length);
      for (let m = a; m !== 0; m &= m - 1) counts[31 - Math.clz32(m & -m)]++;
    }
    // Only a RST changes who reset it (a new store takes what its connection had).
    if (
      (store.bits & (B_RESET_A | B_RESET_B)) === 0 && ((p.flags & 0x04) !== 0 || store.seen === 1)
    ) {
      const by = tracker.resetBy(conn);
      if (by !== "") store.bits |= by === "A" ? B_RESET_A : B_RESET_B;
    }
    if (p.flags & 0x01) store.bits |= info.fromA ? B_FIN_A : B_FIN_B;
    const n = Math.min(f.capturedLength, this.snaplen);
    let r: Region;
    let at: number;
    if (store.headCount < this.headSegments) {
      const used = store.headUsed + REC + pad8(n);
      if (used > store.headSize) this.#growHead(store, used);
      r = store.head;
      at = store.headAt + store.headUsed;
      store.headUsed = used;
      store.headCount++;
      this.#kept++;
    } else {
      let tail = store.tail;
      let slot: number;
      if (tail !== null && tail.count < tail.cap) {
        slot = tail.count++;
        this.#kept++;
      } else if (tail === null || tail.cap < this.tailSegments) {
        const next = Math.min(Math.max(4, 2 * (tail?.cap ?? 0)), this.tailSegments);
        const grown = new Region(next * this.#slotBytes);
        if (tail === null) {
          tail = store.tail = new Tail(grown, next);
        } else {
          grown.u8.set(tail.r.u8);
          tail.r = grown;
          tail.cap = next;
        }
        slot = tail.count++;
        this.#kept++;
      } else {
        slot = tail.start;
        if (++tail.start === tail.cap) tail.start = 0;
      }
      r = tail.r;
      at = slot * this.#slotBytes;
    }
    // The tracker sets a side's base on its first segment, the other's too on an ACK: both are
    // final once both sides were seen or an ACK was. The head block may move: copy after.
    if ((store.bits & B_BASED) === 0) {
      const hw = store.headAt >>> 2;
      store.head.u32[hw] = tracker.baseSeq(conn, true);
      store.head.u32[hw + 1] = tracker.baseSeq(conn, false);
      const bits = store.bits | (info.fromA ? B_SEEN_A : B_SEEN_B);
      const both = (bits & (B_SEEN_A | B_SEEN_B)) === (B_SEEN_A | B_SEEN_B);
      store.bits = (p.flags & 0x10) !== 0 || both ? bits | B_BASED : bits;
    }
    const d = at >>> 3;
    r.f64[d + R_SEQ] = ++this.#seq;
    r.f64[d + R_TS] = p.ts;
    const u = r.u32;
    const w = at >>> 2;
    u[w + W_BITS] = p.flags | (info.fromA ? 0x200 : 0) | (a << 10);
    u[w + W_REL_SEQ] = info.relSeq;
    u[w + W_REL_ACK] = info.relAck;
    u[w + W_WIN] = info.window;
    u[w + W_LEN] = info.len;
    u[w + W_WIRE] = f.wireLength;
    u[w + W_CAP] = n;
    // One short-lived view per frame: measured 3-5x cheaper than a byte loop (memcpy inside).
    r.u8.set(f.bytes.subarray(f.offset, f.offset + n), at + REC);
    if (this.#kept > this.maxSegments) this.#evict();
  };

  // Moves the head to a block of at least `used` bytes: the next size in the shared pages, past
  // them a buffer of its own (doubling, up to what `headSegments` full records take).
  #growHead(store: ConnStore, used: number): void {
    // The first block fits a handshake (what most idle connections keep) so it is rarely
    // moved: three records like the first SYN's, less the 8 option bytes its last ACK lacks.
    const want = store.headCount === 0 && this.headSegments >= 3 ? 3 * (used - HEAD_HDR) : used;
    const c = sizeClass(Math.max(want, used));
    let region: Region;
    let at: number;
    let size: number;
    if (c >= 0) {
      this.#slab.alloc(c);
      region = this.#slab.region;
      at = this.#slab.at;
      size = BLOCK_SIZES[c];
    } else {
      size = pad8(Math.min(Math.max(2 * store.headSize, used), Math.max(this.#headMax, used)));
      region = new Region(size);
      at = 0;
    }
    region.u8.set(store.head.u8.subarray(store.headAt, store.headAt + store.headUsed), at);
    this.#freeHead(store);
    store.head = region;
    store.headAt = at;
    store.headClass = c;
  }

  #freeHead(store: ConnStore): void {
    if (store.headClass >= 0) this.#slab.free(store.headClass, store.head, store.headAt);
    store.head = EMPTY;
    store.headAt = 0;
    store.headClass = -1;
  }

  #newStore(conn: number, old: ConnStore | null): ConnStore {
    if (old !== null && (old.bits & B_DROPPED) === 0) this.#drop(old);
    const c = this.#tracker.connection(conn);
    const store = new ConnStore(
      this.#host(c.hostA),
      c.portA,
      this.#host(c.hostB),
      c.portB,
    );
    this.#stores.add(store);
    const hash = tupleHash(store.hostA, store.portA, store.hostB, store.portB);
    const first = this.#byTuple.get(hash);
    // An older store of the same 4-tuple (a reused port) is no longer found by it.
    if (first !== undefined) {
      this.#unlink(hash, first, store.hostA, store.portA, store.hostB, store.portB);
    }
    store.nextSameHash = this.#byTuple.get(hash) ?? null;
    this.#byTuple.set(hash, store);
    this.#tracker.setData(conn, store);
    // The head block also holds the base sequence numbers: one even without a head.
    if (this.headSegments === 0) this.#growHead(store, HEAD_HDR);
    return store;
  }

  #drop(store: ConnStore): void {
    this.#stores.delete(store);
    const hash = tupleHash(store.hostA, store.portA, store.hostB, store.portB);
    const first = this.#byTuple.get(hash);
    if (first !== undefined) {
      this.#unlink(hash, first, store.hostA, store.portA, store.hostB, store.portB);
    }
    this.#kept -= store.kept;
    this.#freeHead(store);
    store.tail = null;
    store.headCount = 0;
    store.bits |= B_DROPPED;
  }

  // Drops whole stores, first seen first, until within the cap (the newest is never dropped).
  #evict(): void {
    for (const store of this.#stores) {
      if (this.#kept <= this.maxSegments || this.#stores.size <= 1) return;
      this.#drop(store);
    }
  }

  #host(formatted: string): string {
    const known = this.#hosts.get(formatted);
    if (known !== undefined) return known;
    // Bounded: past it strings are only shared less.
    if (this.#hosts.size >= 4096) this.#hosts.clear();
    this.#hosts.set(formatted, formatted);
    return formatted;
  }

  // Takes the store of this 4-tuple (as stored: A, then B) out of the chain starting at `first`.
  #unlink(
    hash: number,
    first: ConnStore,
    hostA: string,
    portA: number,
    hostB: string,
    portB: number,
  ): void {
    let prev: ConnStore | null = null;
    for (let s: ConnStore | null = first; s !== null; prev = s, s = s.nextSameHash) {
      if (s.portA !== portA || s.portB !== portB || s.hostA !== hostA || s.hostB !== hostB) {
        continue;
      }
      if (prev !== null) prev.nextSameHash = s.nextSameHash;
      else if (s.nextSameHash !== null) this.#byTuple.set(hash, s.nextSameHash);
      else this.#byTuple.delete(hash);
      s.nextSameHash = null;
      return;
    }
  }

  #store(tuple: WireTuple): { store: ConnStore; localIsA: boolean } | null {
    const lh = host(tuple.local.hostname);
    const lp = tuple.local.port;
    const rh = host(tuple.remote.hostname);
    const rp = tuple.remote.port;
    for (let s = this.#byTuple.get(tupleHash(lh, lp, rh, rp)) ?? null; s !== null;) {
      if (s.portA === lp && s.portB === rp && s.hostA === lh && s.hostB === rh) {
        return { store: s, localIsA: true };
      }
      if (s.portA === rp && s.portB === lp && s.hostA === rh && s.hostB === lh) {
        return { store: s, localIsA: false };
      }
      s = s.nextSameHash;
    }
    return null;
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
      if (slot.r.f64[(slot.at >>> 3) + R_SEQ] > after) {
        out.push(toSegment(slot, store, localIsA, p));
      }
    }
    return out;
  }

  /** What the wire saw of one connection as a whole, from `tuple.local`'s side; null if nothing. */
  connection(tuple: WireTuple): WireConnectionSummary | null {
    const found = this.#store(tuple);
    if (found === null) return null;
    const { store, localIsA } = found;
    const bits = store.bits;
    const resetBy = (bits & (B_RESET_A | B_RESET_B)) === 0
      ? ""
      : ((bits & B_RESET_A) !== 0) === localIsA
      ? "local"
      : "remote";
    return {
      segments: store.seen,
      kept: store.kept,
      resetBy,
      finLocal: (bits & (localIsA ? B_FIN_A : B_FIN_B)) !== 0,
      finRemote: (bits & (localIsA ? B_FIN_B : B_FIN_A)) !== 0,
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
      const { u32, f64 } = store.head;
      for (let i = 0, at = store.headAt + HEAD_HDR; i < store.headCount; i++) {
        const w = at >>> 2;
        const bits = u32[w + W_BITS];
        const ts = f64[(at >>> 3) + R_TS];
        at += REC + pad8(u32[w + W_CAP]);
        // A SYN without ACK, sent toward `port`: from A when B holds the port.
        if ((bits & 0x12) !== 0x02 || ts < since) continue;
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
      const key = tupleKey(store.hostA, store.portA, store.hostB, store.portB);
      for (const { r, at } of ordered(store)) {
        const w = at >>> 2;
        out.push({
          seq: r.f64[(at >>> 3) + R_SEQ],
          ts: r.f64[(at >>> 3) + R_TS],
          bytes: r.u8.slice(at + REC, at + REC + r.u32[w + W_CAP]),
          wireLength: r.u32[w + W_WIRE],
          key,
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

// The kept segments of a store in capture order: the head, then the tail from its oldest.
function* ordered(store: ConnStore): IterableIterator<Slot> {
  for (let i = 0, at = store.headAt + HEAD_HDR; i < store.headCount; i++) {
    yield { r: store.head, at };
    at += REC + pad8(store.head.u32[(at >>> 2) + W_CAP]);
  }
  const tail = store.tail;
  if (tail === null) return;
  const bytes = tail.r.u8.length / tail.cap;
  for (let i = 0; i < tail.count; i++) {
    yield { r: tail.r, at: ((tail.start + i) % tail.count) * bytes };
  }
}

// A kept segment as the API shows it; its options decoded again from its frame.
function toSegment(slot: Slot, store: ConnStore, localIsA: boolean, p: WirePacket): WireSegment {
  const { r, at } = slot;
  const w = at >>> 2;
  const d = at >>> 3;
  const bits = r.u32[w + W_BITS];
  const fromA = (bits & 0x200) !== 0;
  const options: WireSegmentOptions = {};
  if (decodeFrame(r.u8, at + REC, r.u32[w + W_CAP], r.u32[w + W_WIRE], 0, p)) {
    if (p.mss >= 0) options.mss = p.mss;
    if (p.wscale >= 0) options.wscale = p.wscale;
    if (p.sackPerm) options.sackPerm = true;
    if (p.sackBlocks > 0) {
      // Relative to the sequence space they acknowledge: the other side's.
      const base = store.head.u32[(store.headAt >>> 2) + (fromA ? 1 : 0)];
      options.sack = [];
      for (let i = 0; i < p.sackBlocks; i++) {
        options.sack.push([(p.sack[2 * i] - base) >>> 0, (p.sack[2 * i + 1] - base) >>> 0]);
      }
    }
    if (p.hasTimestamp) options.ts = [p.tsVal, p.tsEcr];
  }
  return {
    seq: r.f64[d + R_SEQ],
    ts: r.f64[d + R_TS],
    dir: fromA === localIsA ? "out" : "in",
    flags: tcpFlagNames(bits & 0x1ff),
    tcpSeq: r.u32[w + W_REL_SEQ],
    tcpAck: r.u32[w + W_REL_ACK],
    win: r.u32[w + W_WIN],
    len: r.u32[w + W_LEN],
    options,
    analysis: analysisNames(bits >>> 10),
  };
}
