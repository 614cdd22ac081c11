/**
 * The sink client (seed 003's buffer test): write until the socket stops
 * accepting, then report how many bytes the kernel took.
 */
import { dialBound, reasonOf, sleep } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import type { DialAddress, TcpClientOptions } from "./types.ts";
import { sink as sinkEndpoint } from "../net/endpoints/sink.ts";

/** Default port of the sink endpoint, as lib/net/endpoints/sink.ts declares it. */
export const SINK_PORT = sinkEndpoint.defaultPort;

/** Options for {@linkcode sink}. */
export interface SinkOptions extends TcpClientOptions {
  /**
   * Port of the sink endpoint.
   *
   * @default {65436}
   */
  port?: number;
  /**
   * Bytes per write.
   *
   * @default {65536}
   */
  chunkSize?: number;
  /**
   * A write that takes longer than this, in milliseconds, means the buffers are full.
   *
   * @default {500}
   */
  stallMs?: number;
  /**
   * Stop (without a stall) after this many bytes, in case the peer reads everything.
   *
   * @default {1073741824}
   */
  maxBytes?: number;
  /**
   * Keep the stalled connection open this many milliseconds, to look at it on the dashboard.
   *
   * @default {0}
   */
  holdMs?: number;
  /**
   * Longest the connect plus the filling may take before giving up, in milliseconds.
   *
   * @default {30000}
   */
  timeoutMs?: number;
  /** Called every `progressIntervalMs` while filling and holding. */
  onProgress?: (progress: SinkProgress) => void;
  /**
   * How often `onProgress` is called, in milliseconds.
   *
   * @default {250}
   */
  progressIntervalMs?: number;
}

/** A snapshot of a sink run in progress. */
export interface SinkProgress {
  phase: "filling" | "holding";
  /** Bytes the kernel accepted so far. */
  bytes: number;
  elapsedSeconds: number;
}

/** What a sink run did. */
export interface SinkResult {
  /** True when the socket stalled, i.e. the buffers filled. */
  ok: boolean;
  /** Why the run failed, in one line. */
  error?: string;
  address: DialAddress;
  /** True when a write stopped completing: the kernel buffers were full. */
  stalled: boolean;
  /** Bytes the kernel accepted before the stall (its send and the peer's receive buffers). */
  bytes: number;
  /** Writes that completed. */
  writes: number;
  chunkSize: number;
  stallMs: number;
  /** Seconds from the first write to the stall (not counting the stall wait). */
  fillSeconds: number;
  /** Seconds the stalled connection was held open. */
  heldSeconds: number;
  /** Bytes the stalled write got in while holding (someone drained the peer). */
  lateBytes: number;
}

const STALLED = Symbol("stalled");
const FILL_TEXT = "sockscope sink ";

/** Checks sink options and fills in defaults; throws TypeError or RangeError. */
export function resolveSinkOptions(
  options: SinkOptions = {},
): Required<Omit<SinkOptions, "onProgress">> & SinkOptions {
  return {
    ...resolveTcpOptions(options, SINK_PORT),
    chunkSize: checkInteger(options.chunkSize ?? 65536, "chunkSize", 1, 16 * 1024 * 1024),
    stallMs: checkInteger(options.stallMs ?? 500, "stallMs", 1, 600_000),
    maxBytes: checkInteger(options.maxBytes ?? 2 ** 30, "maxBytes", 1, 2 ** 40),
    holdMs: checkInteger(options.holdMs ?? 0, "holdMs", 0, 86_400_000),
    timeoutMs: checkInteger(options.timeoutMs ?? 30_000, "timeoutMs", 1, 3_600_000),
    onProgress: options.onProgress,
    progressIntervalMs: checkInteger(
      options.progressIntervalMs ?? 250,
      "progressIntervalMs",
      1,
      3_600_000,
    ),
  };
}

/** Writes to the peer until a write stalls for `stallMs`, then reports the bytes the kernel took. */
export async function sink(options: SinkOptions = {}): Promise<SinkResult> {
  const resolved = resolveSinkOptions(options);
  const { hostname, port, chunkSize, stallMs, maxBytes, holdMs, timeoutMs, signal, dial } =
    resolved;
  const address = { hostname, port };
  const startedAt = performance.now();
  using conn = await dialBound(dial, address, signal, timeoutMs);
  const chunk = new TextEncoder().encode(FILL_TEXT.repeat(Math.ceil(chunkSize / FILL_TEXT.length)))
    .subarray(0, chunkSize);
  let bytes = 0;
  let writes = 0;
  let lateBytes = 0;
  let phase: SinkProgress["phase"] = "filling";
  let phaseStarted = performance.now();
  const ticker = resolved.onProgress
    ? setInterval(() =>
      resolved.onProgress!({
        phase,
        bytes: bytes + lateBytes,
        elapsedSeconds: (performance.now() - phaseStarted) / 1000,
      }), resolved.progressIntervalMs)
    : undefined;
  let stalledWrite: Promise<unknown> | null = null;
  const base = { address, chunkSize, stallMs };
  try {
    const fillUntil = startedAt + timeoutMs;
    const fillStarted = performance.now();
    let fillSeconds = 0;
    let error: string | undefined;
    while (bytes < maxBytes) {
      if (performance.now() >= fillUntil) {
        error = `Socket never stalled: it kept accepting for ${timeoutMs} ms`;
        break;
      }
      const write = conn.write(
        bytes + chunkSize <= maxBytes ? chunk : chunk.subarray(0, maxBytes - bytes),
      );
      let n: number | typeof STALLED;
      try {
        n = await within(write, stallMs);
      } catch (err) {
        signal.throwIfAborted();
        error = `Peer closed the connection after ${bytes} bytes: ${reasonOf(err)}`;
        break;
      }
      if (n === STALLED) {
        fillSeconds = (performance.now() - fillStarted - stallMs) / 1000;
        // The write stays queued: if the peer starts reading, the kernel takes it.
        stalledWrite = write.then((late) => lateBytes += late, () => {});
        break;
      }
      bytes += n;
      writes++;
    }
    if (stalledWrite === null) {
      return {
        ...base,
        ok: false,
        error: error ?? `Socket never stalled: the peer took all ${maxBytes} bytes`,
        stalled: false,
        bytes,
        writes,
        fillSeconds: (performance.now() - fillStarted) / 1000,
        heldSeconds: 0,
        lateBytes: 0,
      };
    }
    phase = "holding";
    phaseStarted = performance.now();
    if (holdMs > 0) await sleep(holdMs, signal);
    return {
      ...base,
      ok: true,
      stalled: true,
      bytes,
      writes,
      fillSeconds: Math.max(0, fillSeconds),
      heldSeconds: holdMs > 0 ? (performance.now() - phaseStarted) / 1000 : 0,
      lateBytes,
    };
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  } finally {
    clearInterval(ticker);
    conn.close();
    // Closing rejects the queued write; wait for it so nothing outlives the call.
    await stalledWrite;
  }
}

/** Resolves to the write's byte count, or STALLED if it takes longer than `ms`. */
function within(write: Promise<number>, ms: number): Promise<number | typeof STALLED> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stall = new Promise<typeof STALLED>((resolve) => {
    timer = setTimeout(() => resolve(STALLED), ms);
  });
  return Promise.race([write, stall]).finally(() => clearTimeout(timer));
}
