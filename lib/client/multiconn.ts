/**
 * The multiconn client (seed 003's multiconn-client.py) grown into a load
 * generator: N connections in parallel, each sending messages in lock-step
 * round trips and checking every echoed byte.
 */
import { type BoundConn, dialBound, readFull, reasonOf, sameBytes, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { LatencyRecorder } from "./stats.ts";
import type { DialAddress, LatencySummary, TcpClientOptions } from "./types.ts";
import { multiconn as multiconnEndpoint } from "../net/endpoints/multiconn.ts";

/** Default port of the multiconn endpoint, as lib/net/endpoints/multiconn.ts declares it. */
export const MULTICONN_PORT = multiconnEndpoint.defaultPort;

/** Largest message the load generator sends. */
export const MAX_MESSAGE_SIZE = 16 * 1024 * 1024;

/** Options for {@linkcode multiconn}. */
export interface MulticonnOptions extends TcpClientOptions {
  /**
   * Port of the multiconn endpoint.
   *
   * @default {65433}
   */
  port?: number;
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
   * messages `Message 1 from client.`, `Message 2 from client.`, …
   *
   * @default {undefined}
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
  /** Connections requested. */
  conns: number;
  /** Connections that were established. */
  connected: number;
  /** Round trips completed, over all connections. */
  messages: number;
  /** Payload bytes echoed and verified (one direction). */
  bytes: number;
  /** Seconds from the end of the connect phase to the last echo. */
  seconds: number;
  messagesPerSecond: number;
  /** Megabytes (10^6 bytes) per second, one direction. */
  megabytesPerSecond: number;
  /** Round-trip time per message, in milliseconds. */
  latencyMs: LatencySummary | null;
  /** Connect time per connection, in milliseconds. */
  connectMs: LatencySummary | null;
  /** Echoes that differed from what was sent (that connection then stops). */
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
): Required<Omit<MulticonnOptions, "size" | "durationMs" | "onProgress">> & MulticonnOptions {
  const durationMs = options.durationMs === undefined
    ? undefined
    : checkInteger(options.durationMs, "durationMs", 1, 86_400_000);
  return {
    ...resolveTcpOptions(options, MULTICONN_PORT),
    conns: checkInteger(options.conns ?? 2, "conns", 1, 10_000),
    messages: options.messages === undefined ||
        (options.messages === Infinity && durationMs !== undefined)
      ? (durationMs === undefined ? 2 : Infinity)
      : checkInteger(options.messages, "messages", 1, 1_000_000_000),
    size: options.size === undefined
      ? undefined
      : checkInteger(options.size, "size", 1, MAX_MESSAGE_SIZE),
    durationMs,
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
    onProgress: options.onProgress,
    progressIntervalMs: checkInteger(
      options.progressIntervalMs ?? 250,
      "progressIntervalMs",
      1,
      3_600_000,
    ),
  };
}

/** Shared state of one run; workers update it, the ticker reads it. */
interface RunState {
  messages: number;
  bytes: number;
  mismatches: number;
  failedConns: number;
  active: number;
  errors: string[];
  latency: LatencyRecorder;
  /** When each connection started waiting for an echo; 0 while it is not waiting. */
  waitingSince: Float64Array;
  /** Connections the watchdog closed for taking longer than the timeout. */
  timedOut: Uint8Array;
}

/**
 * Opens `conns` connections to an echo server, runs lock-step round trips on
 * each, verifies every echo and reports throughput and latency percentiles.
 */
export async function multiconn(options: MulticonnOptions = {}): Promise<MulticonnResult> {
  const resolved = resolveMulticonnOptions(options);
  const { hostname, port, conns, timeoutMs, signal, dial } = resolved;
  const address = { hostname, port };
  const state: RunState = {
    messages: 0,
    bytes: 0,
    mismatches: 0,
    failedConns: 0,
    active: 0,
    errors: [],
    latency: new LatencyRecorder(),
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
      messages: state.messages,
      bytes: state.bytes,
      active: state.active,
    });
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
    }, Math.max(1, Math.min(100, timeoutMs / 4)));
    let finishedAt: number;
    try {
      await Promise.all(opened.map((conn, i) => {
        if (conn === null) return;
        state.active++;
        return runConn(conn, i, resolved, endAt, state).catch((err) => {
          if (signal.aborted) return;
          fail(
            state.timedOut[i]
              ? `Connection ${i + 1}: no echo within ${timeoutMs} ms`
              : `Connection ${i + 1}: ${reasonOf(err)}`,
          );
        }).finally(() => {
          state.active--;
          state.waitingSince[i] = 0;
          conn.close();
        });
      }));
      finishedAt = performance.now();
    } finally {
      clearInterval(ticker);
    }
    signal.throwIfAborted();
    if (resolved.onProgress) resolved.onProgress(progress(finishedAt));

    const seconds = (finishedAt - startedAt) / 1000;
    const expected = Number.isFinite(resolved.messages) && resolved.durationMs === undefined
      ? conns * resolved.messages
      : state.messages;
    const ok = state.failedConns === 0 && state.messages === expected;
    return {
      ok,
      ...(ok ? {} : { error: state.errors[0] ?? "Fewer round trips than expected" }),
      address,
      conns,
      connected: connectTimes.count,
      messages: state.messages,
      bytes: state.bytes,
      seconds,
      messagesPerSecond: seconds > 0 ? state.messages / seconds : 0,
      megabytesPerSecond: seconds > 0 ? state.bytes / seconds / 1e6 : 0,
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

/** Lock-step round trips on one connection until the count or the time is used up. */
async function runConn(
  conn: BoundConn,
  index: number,
  options: ReturnType<typeof resolveMulticonnOptions>,
  endAt: number,
  state: RunState,
): Promise<void> {
  const { size, messages } = options;
  const pattern = size === undefined ? null : fillPattern(size, index);
  let reply = new Uint8Array(size ?? 64);
  for (let k = 0; k < messages; k++) {
    const started = performance.now();
    if (started >= endAt) break;
    let message: Uint8Array;
    if (pattern === null) {
      message = encoder.encode(`Message ${k + 1} from client.`);
      if (message.length > reply.length) reply = new Uint8Array(message.length * 2);
    } else {
      stampSequence(pattern, k);
      message = pattern;
    }
    const expected = reply.subarray(0, message.length);
    state.waitingSince[index] = started;
    await writeAll(conn, message);
    const received = await readFull(conn, expected);
    const now = performance.now();
    state.waitingSince[index] = 0;
    if (received < message.length) {
      throw new Deno.errors.UnexpectedEof(
        `Connection closed after ${received} of ${message.length} bytes of message ${k + 1}`,
      );
    }
    if (!sameBytes(expected, message)) {
      state.mismatches++;
      throw new Deno.errors.InvalidData(`Echo of message ${k + 1} differs from what was sent`);
    }
    state.latency.add(now - started);
    state.messages++;
    state.bytes += message.length;
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
