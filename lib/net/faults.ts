/**
 * Fault modes: the things that make sockets hard, switched on per endpoint
 * and wrapped around the observed connection and its handler rather than
 * written into endpoints. Write-side faults (delay, drip, half-close) live in
 * {@linkcode FaultConn}, read-side ones (stall, close with unread data) in
 * {@linkcode FaultSwitch.wrap}, and pause-accept in the endpoint's accept
 * loop through {@linkcode FaultSwitch.acceptGate}. With no fault set, a read
 * costs one property check and a write two.
 */
import type { PacketNote } from "../capture/packet_log.ts";
import type { Fault, FaultMode } from "../view/fault.ts";
import { type ConnContext, type ConnHandler, errorKind, ObservedConn } from "./observed_conn.ts";

/** The fault in force on an endpoint, with a generation that changes on every switch. */
export interface ActiveFault {
  readonly fault: Exclude<Fault, { mode: "none" }>;
  readonly generation: number;
}

/** Where a switch reports: the endpoint's current fault and its per-mode counters. */
export interface FaultTarget {
  fault: Fault | null;
  /** Times each fault acted (writes held, connections stalled, reset or half-closed, pauses). */
  faults: Record<string, number>;
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
    this.active = fault.mode === "none" ? null : { fault, generation: this.#generation };
    this.#target.fault = fault.mode === "none" ? NONE : fault;
    for (const wake of [...this.#sleepers]) wake();
    if (previous === "stall" && fault.mode !== "stall") {
      for (const conn of conns) {
        if (!this.#stalled.has(conn)) continue;
        this.#stalled.delete(conn);
        if (canResume && !conn.closed) conn.resume();
      }
    }
    if (fault.mode === "stall") { for (const conn of conns) this.#stall(conn); }
    if (fault.mode === "pause-accept" && this.#gate === null) {
      this.#gate = Promise.withResolvers<void>();
      this.count("pause-accept");
    } else if (fault.mode !== "pause-accept") {
      this.#openGate();
    }
  }

  /** Counts one action of a fault. */
  count(mode: FaultMode): void {
    const faults = this.#target.faults;
    faults[mode] = (faults[mode] ?? 0) + 1;
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
      if (active === null) return inner.data(conn, chunk);
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
          return inner.data(conn, chunk);
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
    const mode = this.active?.fault.mode;
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
    };
    const queuedAt = performance.now();
    this.txBuffered += data.length;
    const go = () => this.#faultedWrite(f, data, notes, queuedAt);
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
        const fault = active?.fault;
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
