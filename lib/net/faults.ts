/**
 * Fault modes: the things that make sockets hard, switched on per endpoint
 * and wrapped around the observed connection and its handler rather than
 * written into endpoints. Write-side faults (delay, drip, half-close,
 * bandwidth, slice, reset) live in {@linkcode FaultConn}, read-side ones
 * (stall, close with unread data, and the directed modes with `direction`
 * "in" or "both") in {@linkcode FaultSwitch.wrap}, and pause-accept in the
 * endpoint's accept loop through {@linkcode FaultSwitch.acceptGate}. A fault
 * with a `probability` applies to that share of connections, drawn once per
 * connection (at accept, or at its first check after the fault was set).
 * With no fault set, a read costs one property check and a write two.
 */
import type { PacketNote } from "../capture/packet_log.ts";
import { type Fault, faultDirection, type FaultMode, type TcpFault } from "../view/fault.ts";
import { type ConnContext, type ConnHandler, errorKind, ObservedConn } from "./observed_conn.ts";
import { resetSocket, resetUnavailable } from "./tcp_reset.ts";

/** The fault in force on an endpoint, with a generation that changes on every switch. */
export interface ActiveFault {
  readonly fault: Exclude<TcpFault, { mode: "none" }>;
  readonly generation: number;
}

/** Where a switch reports: the endpoint's current fault and its per-mode counters. */
export interface FaultTarget {
  fault: Fault | null;
  /** Times each fault acted (writes held, connections stalled, reset or half-closed, pauses). */
  faults: Record<string, number>;
}

/** A bandwidth fault writes pieces of this share of a second's bytes. */
const PIECE_SECONDS = 0.02;
/** Its bucket holds two pieces: a timer that fires late loses no bytes, bursts stay short. */
const BUCKET_PIECES = 2;

/** A token bucket of one connection and direction under a bandwidth fault. */
interface Bucket {
  generation: number;
  tokens: number;
  at: number;
}

/** A uniformly drawn offset in -jitter..+jitter (0 without jitter). */
function jitterOf(jitter: number | undefined): number {
  return jitter ? (Math.random() * 2 - 1) * jitter : 0;
}

/** A uniformly drawn integer in min..max. */
function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/**
 * Takes what the bucket holds for a piece of at most `want` bytes at `rate`
 * bytes/s: the piece's size, or 0 and how long to wait for a piece.
 */
function takeTokens(b: Bucket, rate: number, want: number, now: number): [number, number] {
  const piece = Math.max(1, Math.floor(rate * PIECE_SECONDS));
  b.tokens = Math.min(piece * BUCKET_PIECES, b.tokens + (now - b.at) * rate / 1000);
  b.at = now;
  const need = Math.min(want, piece);
  if (b.tokens >= need) {
    const n = Math.min(want, Math.floor(b.tokens));
    b.tokens -= n;
    return [n, 0];
  }
  return [0, Math.max(1, (need - b.tokens) * 1000 / rate)];
}

const NONE: Fault = Object.freeze({ mode: "none" });

/** One endpoint's fault: what is in force, and the wrappers that apply it. */
export class FaultSwitch {
  /** The fault in force, or null: the one check the hot path makes. */
  active: ActiveFault | null = null;
  #target: FaultTarget;
  #generation = 0;
  #sleepers = new Set<() => void>();
  #stalled = new WeakSet<ObservedConn>();
  #gate: PromiseWithResolvers<void> | null = null;
  /** Per connection, the generation its probability draw belongs to, and the draw. */
  #drawn = new WeakMap<ObservedConn, { generation: number; on: boolean }>();
  #readBuckets = new WeakMap<ObservedConn, Bucket>();
  /** Why the fault in force cannot act as asked (a reset without FFI); null when it can. */
  note: string | null = null;

  /** Creates a switch with no fault, reporting into `target`. */
  constructor(target: FaultTarget) {
    this.#target = target;
    target.fault = NONE;
  }

  /** The fault in force (`none` when cleared). */
  get fault(): Fault {
    return this.active?.fault ?? NONE;
  }

  /**
   * Switches to `fault` and applies it to the live `conns` where that makes
   * sense: a stall stops their reads, clearing it resumes them when
   * `canResume` (the sink keeps its own connections held), and held writes
   * re-check the new fault at once.
   */
  set(fault: Fault, conns: Iterable<ObservedConn>, canResume = true): void {
    const previous = this.fault.mode;
    this.#generation++;
    if (fault.mode === "loss" || fault.mode === "duplicate" || fault.mode === "reorder") {
      throw new TypeError(`Cannot set fault: "${fault.mode}" is a UDP mode`);
    }
    this.active = fault.mode === "none" ? null : { fault, generation: this.#generation };
    const why = fault.mode === "reset" ? resetUnavailable() : null;
    this.note = why === null ? null : `reset unavailable: ${why}`;
    this.#target.fault = fault.mode === "none" ? NONE : fault;
    for (const wake of [...this.#sleepers]) wake();
    if (previous === "stall" && fault.mode !== "stall") {
      for (const conn of conns) {
        if (!this.#stalled.has(conn)) continue;
        this.#stalled.delete(conn);
        if (canResume && !conn.closed) conn.resume();
      }
    }
    if (fault.mode === "stall") {
      for (const conn of conns) if (this.appliesTo(conn)) this.#stall(conn);
    }
    if (fault.mode === "pause-accept" && this.#gate === null) {
      this.#gate = Promise.withResolvers<void>();
      this.count("pause-accept");
    } else if (fault.mode !== "pause-accept") {
      this.#openGate();
    }
  }

  /** Counts one action of a fault. */
  count(mode: FaultMode | "reset-unavailable"): void {
    const faults = this.#target.faults;
    faults[mode] = (faults[mode] ?? 0) + 1;
  }

  /**
   * Whether the fault in force applies to `conn`: always without a
   * `probability`, else drawn once per connection and fault.
   */
  appliesTo(conn: ObservedConn): boolean {
    const active = this.active;
    if (active === null) return false;
    const p = active.fault.probability;
    if (p === undefined || p >= 1) return true;
    const drawn = this.#drawn.get(conn);
    if (drawn !== undefined && drawn.generation === active.generation) return drawn.on;
    const on = Math.random() < p;
    this.#drawn.set(conn, { generation: active.generation, on });
    return on;
  }

  /** Whether the fault in force acts on `conn`'s writes. */
  actsOnWrites(conn: ObservedConn): boolean {
    const active = this.active;
    return active !== null && faultDirection(active.fault) !== "in" && this.appliesTo(conn);
  }

  /**
   * Resets `conn` (RST without FIN), or closes it normally where a reset
   * cannot be made, counting "reset" or "reset-unavailable".
   */
  async reset(conn: ObservedConn, at: "read" | "write"): Promise<void> {
    if (conn.closed) return;
    conn.annotate({
      kind: "fault",
      summary: `reset fault: RST without FIN at the next ${at}`,
      error: true,
    });
    const why = await resetSocket(conn, "fault: reset (RST without FIN)");
    this.count(why === null ? "reset" : "reset-unavailable");
  }

  /** While pause-accept is on, a promise that settles when accepting may go on; else null. */
  acceptGate(): Promise<void> | null {
    return this.#gate?.promise ?? null;
  }

  /** Releases everything waiting on the switch (the endpoint is closing). */
  dispose(): void {
    this.#openGate();
    for (const wake of [...this.#sleepers]) wake();
  }

  /** Wraps a handler so each read consults the fault in force. */
  wrap(inner: ConnHandler): ConnHandler {
    const data = (conn: ObservedConn, chunk: Uint8Array): void | Promise<unknown> => {
      const active = this.active;
      if (active === null || !this.appliesTo(conn)) return inner.data(conn, chunk);
      switch (active.fault.mode) {
        case "stall": {
          const result = inner.data(conn, chunk);
          this.#stall(conn);
          return result;
        }
        case "close-unread": {
          const result = inner.data(conn, chunk);
          const next = () => this.#closeUnread(conn, inner);
          return result === undefined ? next() : result.then(next);
        }
        default:
          if (faultDirection(active.fault) === "out") return inner.data(conn, chunk);
          return this.#faultedRead(conn, chunk, inner, active);
      }
    };
    if (inner.end === undefined) return { data };
    return { data, end: (conn) => inner.end!(conn) };
  }

  /**
   * Starts a new connection's serve loop under the fault in force: a stall
   * starts it held, close-unread reads one byte and closes on the rest.
   */
  start(conn: ObservedConn, handler: ConnHandler, paused: boolean): void {
    // Drawn at accept: the connection's share of a probable fault is settled from the start.
    const mode = this.active !== null && this.appliesTo(conn) ? this.active.fault.mode : undefined;
    if (mode === "stall") {
      conn.serve(handler, { paused: true });
      this.#stall(conn);
      return;
    }
    if (mode !== "close-unread") {
      conn.serve(handler, { paused });
      return;
    }
    conn.serve(handler, { paused: true });
    this.#closeUnread(conn, handler).then(() => {
      if (!conn.closed && !paused && !this.#stalled.has(conn)) conn.resume();
    }, (err) => failConn(conn, err));
  }

  /** Sleeps `ms`, waking early when the fault changes or `wakeOn` registers a close. */
  sleep(ms: number, wakeOn: (wake: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#sleepers.add(wake);
      wakeOn(wake);
    });
  }

  /** A read under a directed fault acting on reads: held, cut or spaced before the handler sees it. */
  async #faultedRead(
    conn: ObservedConn,
    chunk: Uint8Array,
    inner: ConnHandler,
    active: ActiveFault,
  ): Promise<unknown> {
    const fault = active.fault;
    const wake = (_: () => void) => {};
    switch (fault.mode) {
      case "delay":
        await this.sleep(Math.max(0, fault.ms + jitterOf(fault.jitter)), wake);
        this.count("delay");
        return conn.closed ? undefined : inner.data(conn, chunk);
      case "reset":
        return this.reset(conn, "read");
      case "drip":
      case "slice":
      case "bandwidth": {
        this.count(fault.mode);
        let view = chunk;
        while (view.length > 0 && !conn.closed) {
          if (this.active !== active) return inner.data(conn, view);
          let size: number;
          let wait = 0;
          if (fault.mode === "drip") {
            size = fault.bytes;
            wait = fault.interval;
          } else if (fault.mode === "slice") {
            size = between(fault.minBytes, fault.maxBytes);
            wait = fault.interval ?? 0;
          } else {
            let b = this.#readBuckets.get(conn);
            if (b === undefined || b.generation !== active.generation) {
              b = { generation: active.generation, tokens: 0, at: performance.now() };
              this.#readBuckets.set(conn, b);
            }
            const [n, ms] = takeTokens(b, fault.bytesPerSecond, view.length, performance.now());
            if (n === 0) {
              await this.sleep(ms, wake);
              continue;
            }
            size = n;
          }
          const piece = view.subarray(0, size);
          view = view.subarray(piece.length);
          await inner.data(conn, piece);
          if (view.length > 0 && wait > 0) await this.sleep(wait, wake);
        }
        return;
      }
      default:
        return inner.data(conn, chunk);
    }
  }

  #stall(conn: ObservedConn): void {
    conn.pause();
    if (this.#stalled.has(conn) || conn.closed) return;
    this.#stalled.add(conn);
    this.count("stall");
    if (conn.lastInSeq > 0) {
      conn.annotate({
        kind: "fault",
        summary: "stall fault: stopped reading; the kernel's receive queue fills from here",
      });
    }
  }

  /**
   * Waits for the peer's next bytes, reads just one, and closes with the
   * rest unread so the kernel answers with RST; if the fault was cleared
   * meanwhile, the byte goes to the handler as usual.
   */
  async #closeUnread(conn: ObservedConn, handler: ConnHandler): Promise<unknown> {
    if (conn.closed) return;
    const one = new Uint8Array(1);
    const n = await conn.read(one);
    // End of stream: the serve loop's next read sees it too and ends the connection.
    if (n === null || conn.closed) return;
    if (this.active?.fault.mode !== "close-unread") return handler.data(conn, one);
    this.count("close-unread");
    conn.annotate({
      kind: "fault",
      summary: "close-unread fault: read 1 byte, closing with the rest unread, so the kernel " +
        "sends RST",
      error: true,
    });
    conn.close("fault: closed with unread data (RST)");
  }

  #openGate(): void {
    this.#gate?.resolve();
    this.#gate = null;
  }
}

/**
 * The observed connection with the write-side faults: each write consults
 * the endpoint's fault; faulted writes queue so they stay in order, and the
 * bytes they hold count as the app's send buffer.
 */
export class FaultConn extends ObservedConn {
  #faults: FaultSwitch;
  // Made at the first faulted write: one field rather than five on every idle connection.
  #f: FaultedWrites | null = null;

  /** Wraps an accepted connection; `faults` is its endpoint's switch. */
  constructor(conn: Deno.Conn, ctx: ConnContext, faults: FaultSwitch) {
    super(conn, ctx);
    this.#faults = faults;
  }

  /** Writes all of `data`, held, split or cut short by the fault in force. */
  override write(data: Uint8Array, notes?: readonly PacketNote[]): Promise<number> {
    if (this.#faults.active === null && this.#f?.tail == null) return super.write(data, notes);
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("Connection is closed"));
    const f = this.#f ??= {
      tail: null,
      wake: null,
      halfCloseGeneration: -1,
      halfCloseSent: 0,
      halfClosed: false,
      bucket: null,
    };
    const queuedAt = performance.now();
    const jitter = this.#faults.active?.fault.mode === "delay"
      ? jitterOf((this.#faults.active.fault as { jitter?: number }).jitter)
      : 0;
    this.txBuffered += data.length;
    const go = () => this.#faultedWrite(f, data, notes, queuedAt + jitter);
    const run = f.tail === null ? go() : f.tail.then(go, go);
    f.tail = run;
    const clear = () => {
      if (f.tail === run) f.tail = null;
    };
    run.then(clear, clear);
    return run;
  }

  /** Writes back the chunk being handled: stored once by the capture unless a fault holds it. */
  override echo(chunk: Uint8Array): Promise<number> {
    if (this.#faults.active === null && this.#f?.tail == null) return super.echo(chunk);
    return this.write(chunk);
  }

  /** Closes now, waking a held write so it fails instead of waiting out its timer. */
  override close(reason?: string): void {
    super.close(reason);
    this.#f?.wake?.();
  }

  async #faultedWrite(
    f: FaultedWrites,
    data: Uint8Array,
    notes: readonly PacketNote[] | undefined,
    queuedAt: number,
  ): Promise<number> {
    let view = data;
    let first = true;
    const put = (piece: Uint8Array, extra?: PacketNote): Promise<number> => {
      this.txBuffered -= piece.length;
      view = view.subarray(piece.length);
      const these = first ? withNote(notes, extra) : extra === undefined ? undefined : [extra];
      first = false;
      return super.write(piece, these);
    };
    try {
      while (view.length > 0) {
        if (this.closed) throw new Deno.errors.BadResource("Connection is closed");
        // Past a half-close the write side is shut for good: the rest is dropped.
        if (f.halfClosed) break;
        const active = this.#faults.active;
        // Not this connection's share of the fault, or one acting on reads only: written as is.
        const fault = this.#faults.actsOnWrites(this) ? active?.fault : undefined;
        if (fault?.mode === "delay") {
          const wait = queuedAt + fault.ms - performance.now();
          if (wait >= 1) {
            await this.#sleep(f, wait);
            continue;
          }
          this.#faults.count("delay");
          await put(view, {
            kind: "fault",
            summary: `delay fault: held ${Math.round(performance.now() - queuedAt)} ms`,
          });
        } else if (fault?.mode === "drip") {
          if (first) this.#faults.count("drip");
          const note: PacketNote | undefined = first
            ? {
              kind: "fault",
              summary:
                `drip fault: ${data.length} B as ${fault.bytes}-byte pieces every ${fault.interval} ms`,
            }
            : undefined;
          await put(view.subarray(0, fault.bytes), note);
          if (view.length > 0) await this.#sleep(f, fault.interval);
        } else if (fault?.mode === "half-close") {
          if (f.halfCloseGeneration !== active!.generation) {
            f.halfCloseGeneration = active!.generation;
            f.halfCloseSent = 0;
          }
          const left = Math.max(0, fault.bytes - f.halfCloseSent);
          const piece = view.subarray(0, Math.min(left, view.length));
          const closing = f.halfCloseSent + piece.length >= fault.bytes;
          const note: PacketNote | undefined = closing
            ? { kind: "fault", summary: `half-close fault: FIN after ${fault.bytes} B written` }
            : undefined;
          if (piece.length > 0) {
            f.halfCloseSent += piece.length;
            await put(piece, note);
          } else if (note !== undefined && this.lastInSeq > 0) {
            this.annotate(note);
          }
          if (closing) await this.#halfClose(f);
        } else if (fault?.mode === "bandwidth") {
          if (f.bucket === null || f.bucket.generation !== active!.generation) {
            f.bucket = { generation: active!.generation, tokens: 0, at: performance.now() };
          }
          const [n, ms] = takeTokens(
            f.bucket,
            fault.bytesPerSecond,
            view.length,
            performance.now(),
          );
          if (n === 0) {
            await this.#sleep(f, ms);
            continue;
          }
          if (first) this.#faults.count("bandwidth");
          await put(
            view.subarray(0, n),
            first
              ? { kind: "fault", summary: `bandwidth fault: ${fault.bytesPerSecond} B/s` }
              : undefined,
          );
        } else if (fault?.mode === "slice") {
          if (first) this.#faults.count("slice");
          const note: PacketNote | undefined = first
            ? {
              kind: "fault",
              summary:
                `slice fault: ${data.length} B in pieces of ${fault.minBytes}..${fault.maxBytes} B`,
            }
            : undefined;
          await put(view.subarray(0, between(fault.minBytes, fault.maxBytes)), note);
          if (view.length > 0 && fault.interval) await this.#sleep(f, fault.interval);
        } else if (fault?.mode === "reset") {
          // The write's bytes never go out: the peer's next read fails with ECONNRESET.
          this.txBuffered -= view.length;
          view = view.subarray(view.length);
          await this.#faults.reset(this, "write");
          break;
        } else {
          await put(view);
        }
      }
    } finally {
      if (view.length > 0 && !this.closed) this.txBuffered -= view.length;
    }
    return data.length;
  }

  async #halfClose(f: FaultedWrites): Promise<void> {
    f.halfClosed = true;
    this.#faults.count("half-close");
    try {
      await this.closeWrite();
    } catch {
      // The peer is gone already; the serve loop's next read reports how.
    }
  }

  #sleep(f: FaultedWrites, ms: number): Promise<void> {
    return this.#faults.sleep(ms, (wake) => {
      f.wake = () => {
        f.wake = null;
        wake();
      };
    });
  }
}

/** A connection's faulted writes: their queue, a held write's wake-up, the half-close's progress. */
interface FaultedWrites {
  /** The last queued write; null once the queue drained. */
  tail: Promise<number> | null;
  /** Ends the sleep of a held write (set while one sleeps). */
  wake: (() => void) | null;
  /** The half-close fault generation the count below belongs to. */
  halfCloseGeneration: number;
  halfCloseSent: number;
  /** The write side was shut by a half-close fault: later writes are dropped. */
  halfClosed: boolean;
  /** The bandwidth fault's token bucket for the writes. */
  bucket: Bucket | null;
}

function withNote(
  notes: readonly PacketNote[] | undefined,
  extra: PacketNote | undefined,
): readonly PacketNote[] | undefined {
  if (extra === undefined) return notes;
  return notes === undefined ? [extra] : [...notes, extra];
}

/** Closes a connection after an error the serve loop did not see, counting its kind. */
function failConn(conn: ObservedConn, err: unknown): void {
  if (conn.closed) return;
  const kind = errorKind(err);
  if (kind !== null) conn.countError(kind);
  conn.close(kind === null ? "closed" : `error: ${kind}`);
}
