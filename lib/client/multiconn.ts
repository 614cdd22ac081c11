/**
 * The multiconn client (seed 003's multiconn-client.py) grown into a load
 * generator: N connections in parallel, each checking every byte, in one of
 * three modes (as iperf3's default, `--bidir` and `-R`):
 *
 * - `echo`: lock-step round trips against an echo server; latency is the round trip.
 * - `bidir`: against an echo server, a writer and a reader per connection at
 *   once (up to {@linkcode BIDIR_WINDOW} messages in flight), both directions
 *   counted; latency is from a message's write to the end of its echo.
 * - `reverse`: the server sends and the client only reads: against sockscope
 *   that is the chargen endpoint (its default port then), whose RFC 864
 *   pattern is checked byte for byte; a "message" is `size` bytes of its
 *   stream. No round trip, so no latency. An echo server sends nothing
 *   unasked, so `reverse` against one times out, and says so.
 *
 * `rate` paces messages per connection with a token bucket (tcpkali's
 * `--message-rate`); in `reverse` the reads are paced, and TCP's flow control
 * slows the sender to match.
 */
import {
  type BoundConn,
  dialBound,
  readFull,
  reasonOf,
  sameBytes,
  sleep,
  writeAll,
} from "./_conn.ts";
import { checkInteger, checkNumber, resolveTcpOptions } from "./_check.ts";
import { drainAndClose } from "./_stream.ts";
import { LatencyRecorder } from "./stats.ts";
import { TokenBucket } from "./token_bucket.ts";
import type { DialAddress, LatencySummary, TcpClientOptions } from "./types.ts";
import { chargenCycle, chargenMismatch } from "../protocol/chargen.ts";
import { chargen as chargenEndpoint } from "../net/endpoints/chargen.ts";
import { multiconn as multiconnEndpoint } from "../net/endpoints/multiconn.ts";
import type { KernelSocket } from "../net/types.ts";

/** Default port of the multiconn endpoint, as lib/net/endpoints/multiconn.ts declares it. */
export const MULTICONN_PORT = multiconnEndpoint.defaultPort;
/** Default port in reverse: the chargen endpoint, which sends as fast as it is read. */
export const CHARGEN_PORT = chargenEndpoint.defaultPort;

/** Largest message the load generator sends. */
export const MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Messages a `bidir` connection has written and not yet seen echoed, at most. */
export const BIDIR_WINDOW = 256;

/** Connections whose tcp_info each interval report lists, at most. */
export const MAX_TCP_INFO_CONNS = 100;

/** What a connection does: round trips, both directions at once, or only reading. */
export type MulticonnMode = "echo" | "bidir" | "reverse";

/**
 * Reads the kernel's TCP sockets with a local or remote port among `ports`
 * (lib/kernel's readSockDiag); rejects with the reason when it cannot.
 */
export type TcpInfoReader = (ports: readonly number[]) => Promise<KernelSocket[]>;

/** Options for {@linkcode multiconn}. */
export interface MulticonnOptions extends TcpClientOptions {
  /**
   * Port of the multiconn endpoint (with `mode: "reverse"`, of chargen).
   *
   * @default {65433, or 65446 in reverse}
   */
  port?: number;
  /**
   * Round trips, both directions at once, or the server sending.
   *
   * @default {"echo"}
   */
  mode?: MulticonnMode;
  /**
   * Messages per second per connection, paced by a token bucket; no pacing when unset.
   *
   * @default {undefined}
   */
  rate?: number;
  /**
   * Connections opened in parallel.
   *
   * @default {2}
   */
  conns?: number;
  /**
   * Messages each connection sends; with `durationMs`, an upper bound.
   *
   * @default {2, or no limit when durationMs is set}
   */
  messages?: number;
  /**
   * Bytes per message, filled with a pattern; without it, the tutorial's
   * messages `Message 1 from client.`, `Message 2 from client.`, … (in
   * reverse: bytes of the stream counted as one message)
   *
   * @default {undefined, or 1024 in reverse}
   */
  size?: number;
  /**
   * Run for this many milliseconds instead of a message count.
   *
   * @default {undefined}
   */
  durationMs?: number;
  /**
   * Longest wait for one connect or one echo before that connection fails, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /** Called every `progressIntervalMs` while the run lasts. */
  onProgress?: (progress: MulticonnProgress) => void;
  /**
   * How often `onProgress` is called, in milliseconds.
   *
   * @default {250}
   */
  progressIntervalMs?: number;
  /** Called once per `intervalMs` with that interval's figures (`--json-stream`), in order. */
  onInterval?: (report: MulticonnInterval) => void;
  /**
   * Length of an interval report, in milliseconds.
   *
   * @default {1000}
   */
  intervalMs?: number;
  /** Reads tcp_info for the interval reports; without it they say why there is none. */
  tcpInfo?: TcpInfoReader;
}

/** Bytes and messages one way. */
export interface DirectionCount {
  messages: number;
  bytes: number;
}

/** One connection's tcp_info at the end of an interval. */
export interface ConnTcpInfo {
  /** 1-based, as the errors number connections. */
  conn: number;
  local: DialAddress;
  state: string;
  rttMs: number | null;
  rttVarMs: number | null;
  /** Congestion window, in segments. */
  cwnd: number | null;
  /** Retransmissions over the connection's life (tcpi_total_retrans). */
  retransmits: number | null;
}

/** The kernel's view of the run's connections, or why there is none. */
export interface IntervalTcpInfo {
  available: boolean;
  /** Why not, when not available. */
  reason: string | null;
  /** At most {@linkcode MAX_TCP_INFO_CONNS}, in connection order. */
  conns: ConnTcpInfo[];
}

/** One interval of a run (`--json-stream`), as iperf3's interval objects. */
export interface MulticonnInterval {
  /** Seconds since the run's start at the interval's start and end. */
  start: number;
  end: number;
  seconds: number;
  sent: DirectionCount;
  received: DirectionCount;
  messagesPerSecond: number;
  /** Megabytes (10^6 bytes) per second received and verified. */
  megabytesPerSecond: number;
  /** Latency of the messages completed in this interval. */
  latencyMs: LatencySummary | null;
  /** Connections still running. */
  active: number;
  tcp: IntervalTcpInfo;
}

/** A snapshot of a run in progress. */
export interface MulticonnProgress {
  elapsedSeconds: number;
  /** Round trips completed so far. */
  messages: number;
  /** Payload bytes echoed so far. */
  bytes: number;
  /** Connections still exchanging. */
  active: number;
}

/** What a load-generator run did. */
export interface MulticonnResult {
  /** True when every connection completed and every echo matched. */
  ok: boolean;
  /** The first reason the run failed, in one line. */
  error?: string;
  address: DialAddress;
  mode: MulticonnMode;
  /** Messages per second per connection asked for; null when unpaced. */
  rate: number | null;
  /** Connections requested. */
  conns: number;
  /** Connections that were established. */
  connected: number;
  /** Messages received and verified (echo: round trips), over all connections. */
  messages: number;
  /** Payload bytes received and verified. */
  bytes: number;
  /** What the client wrote. */
  sent: DirectionCount;
  /** What the client read and verified. */
  received: DirectionCount;
  /** Seconds from the end of the connect phase to the last echo. */
  seconds: number;
  messagesPerSecond: number;
  /** Megabytes (10^6 bytes) per second received and verified. */
  megabytesPerSecond: number;
  /** Megabytes per second written (bidir: the other direction). */
  sentMegabytesPerSecond: number;
  /** Round-trip time per message, in milliseconds (null in reverse). */
  latencyMs: LatencySummary | null;
  /** Connect time per connection, in milliseconds. */
  connectMs: LatencySummary | null;
  /** Echoes (reverse: stream bytes) that differed from what was expected (that connection then stops). */
  mismatches: number;
  /** Connections that failed: refused, reset, timed out or mismatched. */
  failedConns: number;
  /** The first few distinct failure reasons. */
  errors: string[];
}

const MAX_ERRORS = 10;
const encoder = new TextEncoder();

/** Checks multiconn options and fills in defaults; throws TypeError or RangeError. */
export function resolveMulticonnOptions(
  options: MulticonnOptions = {},
):
  & Required<
    Omit<
      MulticonnOptions,
      "size" | "durationMs" | "onProgress" | "rate" | "onInterval" | "tcpInfo"
    >
  >
  & MulticonnOptions {
  const mode = options.mode ?? "echo";
  if (mode !== "echo" && mode !== "bidir" && mode !== "reverse") {
    throw new TypeError(`Invalid mode: "${mode}" is not echo, bidir or reverse`);
  }
  const durationMs = options.durationMs === undefined
    ? undefined
    : checkInteger(options.durationMs, "durationMs", 1, 86_400_000);
  const size = options.size ?? (mode === "reverse" ? 1024 : undefined);
  return {
    ...options,
    ...resolveTcpOptions(options, mode === "reverse" ? CHARGEN_PORT : MULTICONN_PORT),
    mode,
    conns: checkInteger(options.conns ?? 2, "conns", 1, 10_000),
    messages: options.messages === undefined ||
        (options.messages === Infinity && durationMs !== undefined)
      ? (durationMs === undefined ? 2 : Infinity)
      : checkInteger(options.messages, "messages", 1, 1_000_000_000),
    size: size === undefined ? undefined : checkInteger(size, "size", 1, MAX_MESSAGE_SIZE),
    rate: options.rate === undefined ? undefined : checkNumber(options.rate, "rate", 0.001, 1e6),
    durationMs,
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
    progressIntervalMs: checkInteger(
      options.progressIntervalMs ?? 250,
      "progressIntervalMs",
      1,
      3_600_000,
    ),
    intervalMs: checkInteger(options.intervalMs ?? 1000, "intervalMs", 1, 3_600_000),
  };
}

type Resolved = ReturnType<typeof resolveMulticonnOptions>;

/** Shared state of one run; workers update it, the ticker reads it. */
interface RunState {
  sent: DirectionCount;
  received: DirectionCount;
  mismatches: number;
  failedConns: number;
  active: number;
  errors: string[];
  latency: LatencyRecorder;
  /** The current interval's latencies, reset at each report. */
  intervalLatency: LatencyRecorder | null;
  /** When each connection started waiting for data; 0 while it is not waiting. */
  waitingSince: Float64Array;
  /** Connections the watchdog closed for taking longer than the timeout. */
  timedOut: Uint8Array;
}

/**
 * Opens `conns` connections, runs the mode's exchange on each, verifies every
 * byte and reports throughput and latency percentiles.
 */
export async function multiconn(options: MulticonnOptions = {}): Promise<MulticonnResult> {
  const resolved = resolveMulticonnOptions(options);
  const { hostname, port, conns, timeoutMs, signal, dial, mode } = resolved;
  const address = { hostname, port };
  const state: RunState = {
    sent: { messages: 0, bytes: 0 },
    received: { messages: 0, bytes: 0 },
    mismatches: 0,
    failedConns: 0,
    active: 0,
    errors: [],
    latency: new LatencyRecorder(),
    intervalLatency: resolved.onInterval ? new LatencyRecorder() : null,
    waitingSince: new Float64Array(conns),
    timedOut: new Uint8Array(conns),
  };
  const fail = (reason: string) => {
    state.failedConns++;
    if (state.errors.length < MAX_ERRORS && !state.errors.includes(reason)) {
      state.errors.push(reason);
    }
  };

  const connectTimes = new LatencyRecorder();
  const opened: (BoundConn | null)[] = new Array(conns).fill(null);
  try {
    await Promise.all(opened.map(async (_, i) => {
      const started = performance.now();
      try {
        opened[i] = await dialBound(dial, address, signal, timeoutMs);
        connectTimes.add(performance.now() - started);
        opened[i]!.setNoDelay?.(true);
      } catch (err) {
        if (!signal.aborted) fail(`Connection ${i + 1}: ${reasonOf(err)}`);
      }
    }));
    signal.throwIfAborted();

    const startedAt = performance.now();
    const endAt = resolved.durationMs === undefined ? Infinity : startedAt + resolved.durationMs;
    let lastProgress = startedAt;
    const progress = (now: number): MulticonnProgress => ({
      elapsedSeconds: (now - startedAt) / 1000,
      messages: state.received.messages,
      bytes: state.received.bytes,
      active: state.active,
    });
    const intervals = resolved.onInterval
      ? new IntervalReporter(resolved, state, opened, startedAt)
      : null;
    // One ticker for every connection: a timer per message would cost more than the echo.
    const ticker = setInterval(() => {
      const now = performance.now();
      for (let i = 0; i < conns; i++) {
        const since = state.waitingSince[i];
        if (since > 0 && now - since > timeoutMs) {
          state.timedOut[i] = 1;
          opened[i]?.close();
        }
      }
      if (resolved.onProgress && now - lastProgress >= resolved.progressIntervalMs) {
        lastProgress = now;
        resolved.onProgress(progress(now));
      }
      intervals?.tick(now);
    }, Math.max(1, Math.min(100, timeoutMs / 4, resolved.intervalMs / 4)));
    const run = mode === "echo" ? runEcho : mode === "bidir" ? runBidir : runReverse;
    let finishedAt: number;
    try {
      await Promise.all(opened.map((conn, i) => {
        if (conn === null) return;
        state.active++;
        return run(conn, i, resolved, endAt, state).catch((err) => {
          if (signal.aborted) return;
          fail(
            state.timedOut[i]
              ? `Connection ${i + 1}: no ${
                mode === "reverse" ? "data" : "echo"
              } within ${timeoutMs} ms`
              : `Connection ${i + 1}: ${reasonOf(err)}`,
          );
        }).finally(() => {
          state.active--;
          state.waitingSince[i] = 0;
          if (mode !== "reverse") conn.close();
        });
      }));
      finishedAt = performance.now();
    } finally {
      clearInterval(ticker);
    }
    signal.throwIfAborted();
    if (resolved.onProgress) resolved.onProgress(progress(finishedAt));
    await intervals?.finish(finishedAt);

    const seconds = (finishedAt - startedAt) / 1000;
    const { sent, received } = state;
    const expected = Number.isFinite(resolved.messages) && resolved.durationMs === undefined
      ? conns * resolved.messages
      : received.messages;
    const ok = state.failedConns === 0 && received.messages === expected;
    return {
      ok,
      ...(ok ? {} : { error: state.errors[0] ?? "Fewer messages than expected" }),
      address,
      mode,
      rate: resolved.rate ?? null,
      conns,
      connected: connectTimes.count,
      messages: received.messages,
      bytes: received.bytes,
      sent: { ...sent },
      received: { ...received },
      seconds,
      messagesPerSecond: seconds > 0 ? received.messages / seconds : 0,
      megabytesPerSecond: seconds > 0 ? received.bytes / seconds / 1e6 : 0,
      sentMegabytesPerSecond: seconds > 0 ? sent.bytes / seconds / 1e6 : 0,
      latencyMs: state.latency.summary(),
      connectMs: connectTimes.summary(),
      mismatches: state.mismatches,
      failedConns: state.failedConns,
      errors: state.errors,
    };
  } finally {
    for (const conn of opened) conn?.close();
  }
}

/** Builds one interval report per `intervalMs`, reading tcp_info for each, delivered in order. */
class IntervalReporter {
  #o: Resolved;
  #state: RunState;
  #conns: readonly (BoundConn | null)[];
  #startedAt: number;
  #from: number;
  #sent: DirectionCount = { messages: 0, bytes: 0 };
  #received: DirectionCount = { messages: 0, bytes: 0 };
  #chain: Promise<void> = Promise.resolve();
  #tcpDown: string | null = null;

  constructor(o: Resolved, state: RunState, conns: readonly (BoundConn | null)[], at: number) {
    this.#o = o;
    this.#state = state;
    this.#conns = conns;
    this.#startedAt = at;
    this.#from = at;
    if (o.tcpInfo === undefined) this.#tcpDown = "No kernel view given (tcp_info not read)";
  }

  /** Reports an interval if one has passed by `now`. */
  tick(now: number): void {
    if (now - this.#from >= this.#o.intervalMs) this.#report(now);
  }

  /** Reports what is left since the last interval, and waits until every report is out. */
  async finish(now: number): Promise<void> {
    const s = this.#state;
    if (now > this.#from && (now - this.#from >= 1 || s.received.bytes > this.#received.bytes)) {
      this.#report(now);
    }
    await this.#chain;
  }

  #report(now: number): void {
    const s = this.#state;
    const from = this.#from;
    const seconds = (now - from) / 1000;
    const sent = delta(s.sent, this.#sent);
    const received = delta(s.received, this.#received);
    this.#sent = { ...s.sent };
    this.#received = { ...s.received };
    this.#from = now;
    const latencyMs = s.intervalLatency!.summary();
    s.intervalLatency!.reset();
    const base = {
      start: (from - this.#startedAt) / 1000,
      end: (now - this.#startedAt) / 1000,
      seconds,
      sent,
      received,
      messagesPerSecond: seconds > 0 ? received.messages / seconds : 0,
      megabytesPerSecond: seconds > 0 ? received.bytes / seconds / 1e6 : 0,
      latencyMs,
      active: s.active,
    };
    // The kernel read is asynchronous: reports wait for it in turn, so they stay in order.
    const tcp = this.#readTcp();
    this.#chain = this.#chain.then(async () => {
      this.#o.onInterval!({ ...base, tcp: await tcp });
    });
  }

  async #readTcp(): Promise<IntervalTcpInfo> {
    if (this.#tcpDown !== null) return { available: false, reason: this.#tcpDown, conns: [] };
    const mine = new Map<number, { index: number; local: DialAddress }>();
    for (let i = 0; i < this.#conns.length && mine.size < MAX_TCP_INFO_CONNS; i++) {
      const local = this.#conns[i]?.local;
      if (local) mine.set(local.port, { index: i, local });
    }
    if (mine.size === 0) {
      return { available: false, reason: "No open connection with a known address", conns: [] };
    }
    let rows: KernelSocket[];
    try {
      rows = await this.#o.tcpInfo!([this.#o.port]);
    } catch (err) {
      // The reason will not change within a run: one failed read is enough.
      this.#tcpDown = reasonOf(err);
      return { available: false, reason: this.#tcpDown, conns: [] };
    }
    const conns: ConnTcpInfo[] = [];
    for (const row of rows) {
      if (row.transport !== "tcp" || row.remote?.port !== this.#o.port) continue;
      const conn = mine.get(row.local.port);
      if (conn === undefined || row.local.hostname !== conn.local.hostname) continue;
      conns.push({
        conn: conn.index + 1,
        local: conn.local,
        state: row.state,
        rttMs: row.info?.rttMs ?? null,
        rttVarMs: row.info?.rttVarMs ?? null,
        cwnd: row.info?.cwnd ?? null,
        retransmits: row.info?.retransmits ?? null,
      });
    }
    conns.sort((a, b) => a.conn - b.conn);
    return { available: true, reason: null, conns };
  }
}

function delta(now: DirectionCount, before: DirectionCount): DirectionCount {
  return { messages: now.messages - before.messages, bytes: now.bytes - before.bytes };
}

/** Waits for the bucket's next token; resolves at once without a rate. */
async function pace(bucket: TokenBucket | null, signal: AbortSignal): Promise<void> {
  if (bucket === null) return;
  for (let i = 0; i < 1_000_000; i++) {
    const wait = bucket.take(performance.now());
    if (wait === 0) return;
    await sleep(Math.max(1, wait), signal);
  }
}

/** A bucket for one connection: about 10 ms of messages may go at once, never fewer than 1. */
function bucketFor(o: Resolved): TokenBucket | null {
  return o.rate === undefined
    ? null
    : new TokenBucket(o.rate, Math.max(1, o.rate / 100), performance.now());
}

/** Makes message `k` of connection `index`, the same bytes on both sides of a bidir run. */
function messageMaker(size: number | undefined, index: number): (k: number) => Uint8Array {
  if (size === undefined) return (k) => encoder.encode(`Message ${k + 1} from client.`);
  const pattern = fillPattern(size, index);
  return (k) => {
    stampSequence(pattern, k);
    return pattern;
  };
}

/** Lock-step round trips on one connection until the count or the time is used up. */
async function runEcho(
  conn: BoundConn,
  index: number,
  o: Resolved,
  endAt: number,
  state: RunState,
): Promise<void> {
  const message = messageMaker(o.size, index);
  const bucket = bucketFor(o);
  let reply = new Uint8Array(o.size ?? 64);
  for (let k = 0; k < o.messages; k++) {
    await pace(bucket, o.signal);
    const started = performance.now();
    if (started >= endAt) break;
    const m = message(k);
    if (m.length > reply.length) reply = new Uint8Array(m.length * 2);
    const expected = reply.subarray(0, m.length);
    state.waitingSince[index] = started;
    await writeAll(conn, m);
    state.sent.messages++;
    state.sent.bytes += m.length;
    const received = await readFull(conn, expected);
    const now = performance.now();
    state.waitingSince[index] = 0;
    checkEcho(state, m, expected, received, k);
    state.latency.add(now - started);
    state.intervalLatency?.add(now - started);
    state.received.messages++;
    state.received.bytes += m.length;
  }
}

/** Wakes whoever waits on it; a wait after the wake-up waits for the next. */
class Gate {
  #wake: (() => void) | null = null;
  wait(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }
  open(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/** A writer and a reader on one connection at once, against an echo server. */
async function runBidir(
  conn: BoundConn,
  index: number,
  o: Resolved,
  endAt: number,
  state: RunState,
): Promise<void> {
  const outgoing = messageMaker(o.size, index);
  const incoming = messageMaker(o.size, index);
  const bucket = bucketFor(o);
  const sentAt = new Float64Array(BIDIR_WINDOW);
  const writerGate = new Gate();
  const readerGate = new Gate();
  let written = 0;
  let echoed = 0;
  let writing = true;
  const writer = async () => {
    try {
      for (let k = 0; k < o.messages; k++) {
        await pace(bucket, o.signal);
        if (performance.now() >= endAt) break;
        while (written - echoed >= BIDIR_WINDOW) await writerGate.wait();
        const m = outgoing(k);
        sentAt[k % BIDIR_WINDOW] = performance.now();
        // Counted in flight before the write completes: a large one completes only as it is read.
        written++;
        readerGate.open();
        await writeAll(conn, m);
        state.sent.messages++;
        state.sent.bytes += m.length;
      }
    } finally {
      writing = false;
      readerGate.open();
    }
  };
  const reader = async () => {
    let reply = new Uint8Array(o.size ?? 64);
    for (;;) {
      while (echoed === written && writing) await readerGate.wait();
      if (echoed === written) return;
      const k = echoed;
      const m = incoming(k);
      if (m.length > reply.length) reply = new Uint8Array(m.length * 2);
      const expected = reply.subarray(0, m.length);
      state.waitingSince[index] = performance.now();
      const received = await readFull(conn, expected);
      const now = performance.now();
      state.waitingSince[index] = 0;
      checkEcho(state, m, expected, received, k);
      const ms = now - sentAt[k % BIDIR_WINDOW];
      state.latency.add(ms);
      state.intervalLatency?.add(ms);
      state.received.messages++;
      state.received.bytes += m.length;
      echoed++;
      writerGate.open();
    }
  };
  try {
    await Promise.all([writer(), reader()]);
  } catch (err) {
    // The other side may wait on a gate or a read: closing ends both.
    conn.close();
    writerGate.open();
    readerGate.open();
    throw err;
  }
}

/** Reads what the server sends (chargen), checking the RFC 864 pattern, then drains and closes. */
async function runReverse(
  conn: BoundConn,
  index: number,
  o: Resolved,
  endAt: number,
  state: RunState,
): Promise<void> {
  const size = o.size!;
  const cycle = chargenCycle();
  const buf = new Uint8Array(size);
  const bucket = bucketFor(o);
  let offset = 0;
  try {
    for (let k = 0; k < o.messages; k++) {
      await pace(bucket, o.signal);
      if (performance.now() >= endAt) break;
      state.waitingSince[index] = performance.now();
      const received = await readFull(conn, buf);
      state.waitingSince[index] = 0;
      if (received < size) {
        throw new Deno.errors.UnexpectedEof(
          `The server closed after ${offset + received} bytes`,
        );
      }
      const at = chargenMismatch(buf, offset, cycle);
      if (at !== -1) {
        state.mismatches++;
        throw new Deno.errors.InvalidData(
          `Byte ${offset + at} is off the RFC 864 pattern (is the server chargen?)`,
        );
      }
      offset += size;
      state.received.messages++;
      state.received.bytes += size;
    }
  } finally {
    // Half-close rather than close: closing with the generator's bytes unread would reset it.
    await drainAndClose(conn, o.timeoutMs);
  }
}

/** Throws unless the echo of message `k` came back whole (`received` bytes) and equal to `sent`. */
function checkEcho(
  state: { mismatches: number },
  sent: Uint8Array,
  echo: Uint8Array,
  received: number,
  k: number,
): void {
  if (received < sent.length) {
    throw new Deno.errors.UnexpectedEof(
      `Connection closed after ${received} of ${sent.length} bytes of message ${k + 1}`,
    );
  }
  if (!sameBytes(echo, sent)) {
    state.mismatches++;
    throw new Deno.errors.InvalidData(`Echo of message ${k + 1} differs from what was sent`);
  }
}

/** A message body that differs per connection, so crossed streams show up as mismatches. */
function fillPattern(size: number, index: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = 0x21 + ((i + index) % 94);
  return bytes;
}

/** Writes the message number into the first bytes, so a stale echo shows up as a mismatch. */
function stampSequence(bytes: Uint8Array, k: number): void {
  for (let i = 0; i < 4 && i < bytes.length; i++) bytes[i] = 0x30 + ((k >>> (i * 6)) & 0x3f);
}
