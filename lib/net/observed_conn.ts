/**
 * The observed connection: the one read/write path every TCP endpoint and
 * every client the service runs itself goes through.
 *
 * It counts bytes and reads/writes, tracks the bytes the process holds
 * (unparsed and unsent), records packet-log previews, and always unregisters
 * on close, error or reset. The serve loop is written with promise callbacks
 * rather than an async function so an idle connection holds no suspended
 * frame, only a pending read on a small slot (see buffer_pool.ts).
 */
import type { PacketLog, PacketNote, PacketSource } from "../capture/packet_log.ts";
import type { BufferPool } from "./buffer_pool.ts";
import type { Address, SocketRecord } from "./types.ts";

/** The process's view of a connection's state (the kernel's may differ; it is joined later). */
export type ConnState = "ESTABLISHED" | "CLOSE_WAIT" | "FIN_WAIT" | "CLOSED";

/** Counters shared by every connection of one endpoint. */
export interface ConnCounters {
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  /** Errors by kind: "reset", "broken-pipe", "protocol", … */
  errors: Record<string, number>;
  /** Limit and timeout hits by kind: "max-conns", "idle-timeout", "app-content-length", … */
  limitHits: Record<string, number>;
}

/** What an endpoint does with the bytes it reads. */
export interface ConnHandler {
  /**
   * Called for each chunk read. The chunk is a view into a reused buffer:
   * it stays valid until the returned promise settles (or the call returns).
   */
  data(conn: ObservedConn, chunk: Uint8Array): void | Promise<unknown>;
  /** Called when the peer half-closes. @default closes the connection */
  end?(conn: ObservedConn): void | Promise<unknown>;
}

/** Everything an observed connection reports into. */
export interface ConnContext {
  endpoint: string;
  /** "unix" for a Unix stream socket. @default "tcp" */
  transport?: "tcp" | "unix";
  log: PacketLog;
  pool: BufferPool;
  /** Bytes an idle connection reads into (the pool's small size by default). */
  readSlot?: number;
  counters: ConnCounters;
  /** Called exactly once, after the connection closed. */
  onClose(conn: ObservedConn): void;
}

let nextConnId = 1;
// The window of a Nagle wait: Linux's delayed ACK is 40 ms at the least (TCP_DELACK_MIN) and
// at most 200 ms; a little below 40 allows for timer granularity.
const SPLIT_WAIT_MIN_MS = 30;
const SPLIT_WAIT_MAX_MS = 250;
const epoch = performance.timeOrigin;

let clockValue = 0;
let clockReads = 0;
let clockExpiring = false;
const expireClock = () => {
  clockReads = 0;
  clockExpiring = false;
};

/**
 * Milliseconds since the epoch, with the sub-millisecond part `performance.now()` gives.
 * A clock read costs about as much as a packet-log record (≈ 185 ns), so the reads and
 * writes the event loop completes together share one: a reading serves at most 16
 * callers and expires at the end of the current run of promise callbacks (a microtask).
 */
export function nowMs(): number {
  if (clockReads > 0) {
    clockReads--;
    return clockValue;
  }
  clockValue = epoch + performance.now();
  clockReads = 15;
  if (!clockExpiring) {
    clockExpiring = true;
    queueMicrotask(expireClock);
  }
  return clockValue;
}

/**
 * Milliseconds since the epoch, read now: for a loop that completes one operation per turn
 * of the event loop (the UDP endpoint), where {@linkcode nowMs}'s sharing costs more than
 * it saves.
 */
export function clockMs(): number {
  return epoch + performance.now();
}

/** Maps a socket error to the short kind `/metrics` counts it under; null for our own close. */
export function errorKind(err: unknown): string | null {
  if (err instanceof Deno.errors.ConnectionReset) return "reset";
  if (err instanceof Deno.errors.BrokenPipe) return "broken-pipe";
  if (err instanceof Deno.errors.ConnectionAborted) return "aborted";
  if (err instanceof Deno.errors.TimedOut) return "timeout";
  if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
    return null;
  }
  return "error";
}

// The last local and remote address made, to share with the next when equal: a server's
// connections all have their listener's local address, and the diagnoses read every
// connection's addresses (each of 10,000 connections kept its own copies: ~100 bytes).
const lastAddress: [Address, Address] = [{ hostname: "", port: 0 }, { hostname: "", port: 0 }];

function toAddress(addr: Deno.Addr, side: 0 | 1): Address {
  // A Unix socket's address is its path (empty for an unnamed client), held as the host.
  const unix = addr.transport === "unix" || addr.transport === "unixpacket";
  const hostname = unix ? addr.path ?? "" : (addr as Deno.NetAddr).hostname;
  const port = unix ? 0 : (addr as Deno.NetAddr).port;
  const last = lastAddress[side];
  if (last.hostname === hostname) {
    if (last.port === port) return last;
    // One string for the host too (Deno makes a new one for each address it reports).
    return lastAddress[side] = { hostname: last.hostname, port };
  }
  return lastAddress[side] = { hostname, port };
}

/** A TCP connection whose every read and write is counted and logged. */
export class ObservedConn implements PacketSource {
  readonly id: string;
  readonly role: "server" | "client";
  readonly openedAt = nowMs();
  state: ConnState = "ESTABLISHED";
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;
  /** Bytes read but not yet consumed by the endpoint's parser; the endpoint sets it. */
  rxBuffered = 0;
  /** Bytes handed to write() that the kernel has not taken yet. */
  txBuffered = 0;
  lastActivity = this.openedAt;
  /**
   * When the read that started the message still incomplete came in, null between
   * messages; framed endpoints set it, the endpoint's read timeout sweeps on it.
   */
  partialSince: number | null = null;
  /** Messages whose last part came 30-250 ms after their first (see trackMessage). */
  splitWaits = 0;
  /** Seq of the newest packet-log entry this connection read, for annotations. */
  lastInSeq = 0;
  closedAt: number | null = null;
  closeReason: string | null = null;
  /** Endpoint-private state (a parser, a room membership, …). */
  data: unknown = undefined;

  #conn: Deno.Conn;
  #ctx: ConnContext;
  #handler: ConnHandler | null = null;
  #small: Uint8Array | null = null;
  #large: Uint8Array | null = null;
  /** #large while the capture keeps it and the handler still uses it; swapped after the handler. */
  #lent: Uint8Array | null = null;
  #lastRead = 0;
  // Made when a snapshot or an export first asks: reading Deno's address objects for 10,000
  // connections on every snapshot cost more than the join with the kernel's table.
  #local: Address | undefined = undefined;
  #remote: Address | undefined = undefined;
  #reading = false;
  #paused = false;
  #closed = false;
  // Callbacks for handlers that return promises, made on first use.
  #afterDataFn: (() => void) | undefined = undefined;
  #failCb: ((err: unknown) => void) | undefined = undefined;

  constructor(conn: Deno.Conn, ctx: ConnContext, role: "server" | "client" = "server") {
    this.id = `c${nextConnId++}`;
    this.#conn = conn;
    this.#ctx = ctx;
    this.role = role;
    ctx.log.opened(this, this.openedAt);
  }

  // Getters rather than fields: each field is 8 bytes on every one of 10,000 idle connections.
  /** The endpoint the connection belongs to. */
  get endpoint(): string {
    return this.#ctx.endpoint;
  }

  /** "tcp" (TLS included), or "unix" for a Unix stream socket. */
  get transport(): "tcp" | "unix" {
    return this.#ctx.transport ?? "tcp";
  }

  /** The local address (made on first use: read for the API and exports, not per packet). */
  get local(): Address {
    return this.#local ??= toAddress(this.#conn.localAddr, 0);
  }

  /** The peer's address (made on first use, like {@linkcode local}). */
  get remote(): Address {
    return this.#remote ??= toAddress(this.#conn.remoteAddr, 1);
  }

  /** True once the connection was closed, by either side. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the serve loop is held (the sink, a stall fault). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Starts the serve loop: reads into pooled buffers and hands each chunk to `handler`. */
  serve(handler: ConnHandler, options: { paused?: boolean } = {}): void {
    this.#handler = handler;
    this.#small = this.#ctx.pool.small(this.#ctx.readSlot);
    this.#paused = options.paused ?? false;
    this.#pump();
  }

  /** Stops issuing reads; the kernel's receive queue fills from here on. */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes the serve loop after {@linkcode pause}. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.lastActivity = nowMs();
    this.#pump();
  }

  /** Disables Nagle's algorithm, for request/response latency. */
  setNoDelay(noDelay = true): void {
    try {
      (this.#conn as Deno.TcpConn).setNoDelay?.(noDelay);
    } catch {
      // A socket already closed by the peer cannot take options; nothing to do.
    }
  }

  /**
   * Writes all of `data`, recording each write the kernel accepts; resolves to
   * its length. `notes` are attached to the first packet-log entry of the write.
   */
  write(data: Uint8Array, notes?: readonly PacketNote[]): Promise<number> {
    return this.#write(data, notes, false);
  }

  /**
   * Writes back `chunk`, the view the handler was given for the read in
   * progress, unchanged (an echo); the full-payload capture stores its bytes once.
   */
  echo(chunk: Uint8Array): Promise<number> {
    return this.#write(chunk, undefined, true);
  }

  /**
   * Tells the read timeout where the framed endpoint's parser stands after a
   * read: `pending` while a message is incomplete, `completed` when this read
   * finished at least one. The clock runs from the read that started the
   * message still incomplete, so trickled bytes do not reset it.
   */
  trackMessage(pending: boolean, completed: boolean): void {
    if (completed && this.partialSince !== null) {
      // A message finished that began in an earlier read: a wait of about 40 ms between its
      // parts is a peer's Nagle holding the rest until our delayed ACK (lib/diagnoses).
      const waited = this.lastActivity - this.partialSince;
      if (waited >= SPLIT_WAIT_MIN_MS && waited <= SPLIT_WAIT_MAX_MS) this.splitWaits++;
    }
    if (!pending) this.partialSince = null;
    else if (completed || this.partialSince === null) this.partialSince = this.lastActivity;
  }

  /** Attaches a decoded summary to the newest packet this connection read. */
  annotate(note: PacketNote): void {
    this.#ctx.log.annotate(this.lastInSeq, note);
  }

  /** Counts a limit of `kind` that triggered on this connection. */
  countLimit(kind: string): void {
    const hits = this.#ctx.counters.limitHits;
    hits[kind] = (hits[kind] ?? 0) + 1;
  }

  /** Counts an error of `kind` against the endpoint (protocol errors, resets, …). */
  countError(kind: string): void {
    const errors = this.#ctx.counters.errors;
    errors[kind] = (errors[kind] ?? 0) + 1;
  }

  /** Reads once into `p` (client mode, without the serve loop); null at end of stream. */
  async read(p: Uint8Array): Promise<number | null> {
    const n = await this.#conn.read(p);
    if (n === null) {
      if (this.state === "ESTABLISHED") this.state = "CLOSE_WAIT";
      return null;
    }
    this.#countIn(p.subarray(0, n));
    return n;
  }

  /** Sends FIN: the peer reads end of stream, the connection can still read. */
  async closeWrite(): Promise<void> {
    if (this.#closed) return;
    await this.#conn.closeWrite();
    this.state = this.state === "CLOSE_WAIT" ? "CLOSED" : "FIN_WAIT";
  }

  /**
   * Closes after flushing: sends FIN, then reads and discards what the peer
   * still sends (so the kernel does not answer unread data with RST and lose
   * what was written), until end of stream, `lingerMs` or `maxDrain` bytes.
   */
  async closeGracefully(reason: string, lingerMs = 1000, maxDrain = 1 << 20): Promise<void> {
    if (this.#closed) return;
    this.#paused = true;
    const timer = setTimeout(() => this.close(reason), lingerMs);
    try {
      await this.closeWrite();
      const sink = new Uint8Array(16384);
      let drained = 0;
      while (!this.#closed && drained < maxDrain) {
        const n = await this.read(sink);
        if (n === null) break;
        drained += n;
      }
    } catch {
      // The peer reset or our linger timer closed the socket: either way we are done.
    } finally {
      clearTimeout(timer);
      this.close(reason);
    }
  }

  /** Closes the connection now; idempotent. */
  close(reason = "closed by server"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.state = "CLOSED";
    this.closedAt = nowMs();
    this.closeReason = reason;
    this.rxBuffered = 0;
    this.txBuffered = 0;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a reset.
    }
    if (!this.#reading) this.#releaseBuffers();
    this.#ctx.log.closed(this, /reset|unread/.test(reason), this.closedAt);
    this.#ctx.onClose(this);
  }

  /** A plain-data copy of the counters and state. */
  snapshot(): SocketRecord {
    return {
      id: this.id,
      endpoint: this.endpoint,
      transport: this.transport,
      kind: "conn",
      ours: true,
      kernelOnly: false,
      role: this.role,
      state: this.state,
      local: this.local,
      remote: this.remote,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      app: {
        rxBuffered: this.rxBuffered,
        txBuffered: this.txBuffered,
        paused: this.#paused,
        splitWaits: this.splitWaits,
      },
      kernel: null,
      openedAt: this.openedAt,
      closedAt: this.closedAt,
      closeReason: this.closeReason,
      lastActivity: this.lastActivity,
    };
  }

  #pump(): void {
    if (this.#closed || this.#paused || this.#reading) return;
    // While this read is pending, #large and #small stay as they are: #onRead finds it again.
    const buf = this.#large ?? this.#small!;
    this.#reading = true;
    this.#conn.read(buf).then(this.#readSettled, this.#readSettled);
  }

  // One callback for both outcomes (a read resolves to a number or null, fails with an
  // error object): one closure fewer on each of 10,000 idle connections.
  #readSettled = (result: unknown): void => {
    if (typeof result === "number" || result === null) this.#onRead(result);
    else this.#onReadError(result);
  };

  #onRead(n: number | null): void {
    this.#reading = false;
    if (this.#closed) {
      this.#releaseBuffers();
      return;
    }
    if (n === null) {
      this.#onEnd();
      return;
    }
    const chunk = (this.#large ?? this.#small!).subarray(0, n);
    this.#lastRead = n;
    this.#countIn(chunk);
    let result: void | Promise<unknown>;
    try {
      result = this.#handler!.data(this, chunk);
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (result === undefined) this.#afterData();
    else result.then(this.#afterDataFn ??= () => this.#afterData(), this.#failFn());
  }

  #afterData(): void {
    // The handler may have closed the connection, which returned the buffers.
    if (this.#closed) return;
    if (this.#lent !== null) {
      // The capture kept the buffer of the read just handled: read on into another one.
      this.#ctx.pool.doneWith(this.#lent);
      this.#lent = null;
      this.#large = this.#ctx.pool.large();
    }
    const buf = this.#large ?? this.#small!;
    if (buf === this.#small) {
      if (this.#lastRead === buf.length) this.#large = this.#ctx.pool.large();
    } else if (this.#large !== null && this.#ctx.pool.shouldRelease(this.#lastRead)) {
      this.#ctx.pool.releaseLarge(this.#large);
      this.#large = null;
    }
    this.#pump();
  }

  #onReadError(err: unknown): void {
    this.#reading = false;
    if (this.#closed) {
      this.#releaseBuffers();
      return;
    }
    this.#fail(err);
  }

  #onEnd(): void {
    if (this.state === "ESTABLISHED") this.state = "CLOSE_WAIT";
    // Recorded now, before any answer the end handler writes: the FIN came first.
    this.#ctx.log.halfClosed(this, nowMs());
    const end = this.#handler!.end;
    if (end === undefined) {
      this.close("closed by peer");
      return;
    }
    let result: void | Promise<unknown>;
    try {
      result = end(this);
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (result === undefined) this.close("closed by peer");
    else result.then(() => this.close("closed by peer"), this.#failFn());
  }

  #fail(err: unknown): void {
    if (this.#closed) return;
    const kind = errorKind(err);
    if (kind !== null) this.countError(kind);
    this.close(kind === null ? "closed" : `error: ${kind}`);
  }

  /** #fail as a callback, made on first use: an idle connection never needs one. */
  #failFn(): (err: unknown) => void {
    return this.#failCb ??= (err: unknown) => this.#fail(err);
  }

  #countIn(chunk: Uint8Array): void {
    const ts = nowMs();
    const n = chunk.length;
    this.lastActivity = ts;
    this.bytesIn += n;
    this.messagesIn++;
    const c = this.#ctx.counters;
    c.bytesIn += n;
    c.messagesIn++;
    // A large read in a pooled buffer is lent to the capture rather than copied into it.
    const lend = this.#large;
    const log = this.#ctx.log;
    this.lastInSeq = log.record(this, "in", chunk, ts, false, lend);
    if (lend !== null && log.kept) {
      this.#ctx.pool.captured(lend);
      this.#lent = lend;
    }
  }

  #write(
    data: Uint8Array,
    notes: readonly PacketNote[] | undefined,
    echo: boolean,
  ): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Connection is closed"));
    if (data.length === 0) return Promise.resolve(0);
    this.txBuffered += data.length;
    let written: Promise<number>;
    try {
      written = this.#conn.write(data);
    } catch (err) {
      this.txBuffered -= data.length;
      return Promise.reject(err);
    }
    // The kernel usually takes the whole chunk at once: then this is the only callback, and
    // #writeRest's loop runs only for what a partial write left.
    return written.then((n) => {
      this.#recordOut(data, n, notes, echo);
      return n === data.length ? n : this.#writeRest(data, data.subarray(n));
    }, (err) => {
      if (!this.#closed) this.txBuffered -= data.length;
      throw err;
    });
  }

  async #writeRest(data: Uint8Array, rest: Uint8Array): Promise<number> {
    let view = rest;
    try {
      while (view.length > 0) {
        const n = await this.#conn.write(view);
        this.#recordOut(view, n, undefined, false);
        view = view.subarray(n);
      }
    } finally {
      if (view.length > 0 && !this.#closed) this.txBuffered -= view.length;
    }
    return data.length;
  }

  /** Counts and logs a write of `n` bytes the kernel took from `view`. */
  #recordOut(
    view: Uint8Array,
    n: number,
    notes: readonly PacketNote[] | undefined,
    echo: boolean,
  ): void {
    const ts = nowMs();
    this.lastActivity = ts;
    this.txBuffered -= n;
    this.bytesOut += n;
    this.messagesOut++;
    const c = this.#ctx.counters;
    c.bytesOut += n;
    c.messagesOut++;
    const whole = n === view.length;
    const seq = this.#ctx.log.record(
      this,
      "out",
      whole ? view : view.subarray(0, n),
      ts,
      echo && whole,
    );
    if (notes !== undefined) {
      for (const note of notes) this.#ctx.log.annotate(seq, note);
    }
  }

  #releaseBuffers(): void {
    if (this.#small !== null) {
      this.#ctx.pool.releaseSmall(this.#small);
      this.#small = null;
    }
    if (this.#lent !== null) {
      // The capture keeps it: not ours to return.
      if (this.#large === this.#lent) this.#large = null;
      this.#ctx.pool.doneWith(this.#lent);
      this.#lent = null;
    }
    if (this.#large !== null) {
      this.#ctx.pool.releaseLarge(this.#large);
      this.#large = null;
    }
  }
}
