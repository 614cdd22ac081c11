/**
 * Throughput clients for the discard (RFC 863) and chargen (RFC 864)
 * endpoints: write N bytes into discard, or read N bytes of the chargen
 * pattern (checking every byte), and report the rate.
 */
import { chargenCycle, chargenMismatch } from "../protocol/chargen.ts";
import { dialBound, reasonOf, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { drainAndClose, within } from "./_stream.ts";
import type { DialAddress, TcpClientOptions } from "./types.ts";
import { chargen as chargenEndpoint } from "../net/endpoints/chargen.ts";
import { discard as discardEndpoint } from "../net/endpoints/discard.ts";

/** Default port of the discard endpoint, as lib/net/endpoints/discard.ts declares it. */
export const DISCARD_PORT = discardEndpoint.defaultPort;
/** Default port of the chargen endpoint, as lib/net/endpoints/chargen.ts declares it. */
export const CHARGEN_PORT = chargenEndpoint.defaultPort;

/** Options for {@linkcode discard} and {@linkcode chargen}. */
export interface ThroughputOptions extends TcpClientOptions {
  /** Port of the endpoint. @default 65445 for discard, 65446 for chargen */
  port?: number;
  /**
   * Bytes to write (discard) or read (chargen).
   *
   * @default {10000000}
   */
  bytes?: number;
  /**
   * Bytes per write (discard).
   *
   * @default {65536}
   */
  chunkSize?: number;
  /**
   * Longest wait for the connect, for any one read or write, and for the close, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /** Called every `progressIntervalMs` with the bytes moved so far. */
  onProgress?: (progress: ThroughputProgress) => void;
  /**
   * How often `onProgress` is called, in milliseconds.
   *
   * @default {250}
   */
  progressIntervalMs?: number;
}

/** A run in progress. */
export interface ThroughputProgress {
  bytes: number;
  elapsedSeconds: number;
}

/** What a throughput run did. */
export interface ThroughputResult {
  /** True when every byte was moved (and, for chargen, matched the pattern). */
  ok: boolean;
  /** Why the run failed, in one line. */
  error?: string;
  address: DialAddress;
  /** Bytes written (discard) or read (chargen). */
  bytes: number;
  /** Reads (chargen) or writes (discard) it took. */
  operations: number;
  /** Seconds from the first byte to the last (discard: to the server's close). */
  seconds: number;
  megabytesPerSecond: number;
  /** Chargen: stream offset of the first byte off the RFC 864 pattern, or null. */
  mismatchAt?: number | null;
}

type Resolved = Required<Omit<ThroughputOptions, "onProgress">> & ThroughputOptions;

/** Checks options and fills in defaults; throws TypeError or RangeError. */
export function resolveThroughputOptions(
  options: ThroughputOptions,
  defaultPort: number,
): Resolved {
  return {
    ...options,
    ...resolveTcpOptions(options, defaultPort),
    bytes: checkInteger(options.bytes ?? 10_000_000, "bytes", 1, 2 ** 50),
    chunkSize: checkInteger(options.chunkSize ?? 65536, "chunkSize", 1, 16 * 1024 * 1024),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
    progressIntervalMs: checkInteger(
      options.progressIntervalMs ?? 250,
      "progressIntervalMs",
      1,
      3_600_000,
    ),
  };
}

/**
 * Writes `bytes` into the discard endpoint, half-closes, and waits for the
 * server to close: the rate counts bytes the server actually read.
 */
export async function discard(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const o = resolveThroughputOptions(options, DISCARD_PORT);
  const address = { hostname: o.hostname, port: o.port };
  using conn = await dialBound(o.dial, address, o.signal, o.timeoutMs);
  const chunk = new Uint8Array(o.chunkSize).fill(0x2e);
  let bytes = 0;
  let operations = 0;
  const started = performance.now();
  using _ticker = progressTicker(o, () => bytes, started);
  const finish = (error?: string): ThroughputResult =>
    result(address, bytes, operations, started, error);
  try {
    while (bytes < o.bytes) {
      const n = Math.min(o.chunkSize, o.bytes - bytes);
      await within(
        writeAll(conn, n === chunk.length ? chunk : chunk.subarray(0, n)),
        o.timeoutMs,
        conn,
        `A write took longer than ${o.timeoutMs} ms`,
      );
      bytes += n;
      operations++;
    }
    await conn.closeWrite?.();
    const end = await within(
      conn.read(new Uint8Array(1024)),
      o.timeoutMs,
      conn,
      `The server did not close within ${o.timeoutMs} ms`,
    );
    if (end !== null) return finish("The discard server sent data back");
    return finish();
  } catch (err) {
    if (o.signal.aborted) throw o.signal.reason;
    return finish(`Stopped after ${bytes} bytes: ${reasonOf(err)}`);
  }
}

/** Reads `bytes` of the chargen endpoint's pattern, checking each byte against RFC 864's. */
export async function chargen(options: ThroughputOptions = {}): Promise<ThroughputResult> {
  const o = resolveThroughputOptions(options, CHARGEN_PORT);
  const address = { hostname: o.hostname, port: o.port };
  using conn = await dialBound(o.dial, address, o.signal, o.timeoutMs);
  const cycle = chargenCycle();
  const buf = new Uint8Array(256 * 1024);
  let bytes = 0;
  let operations = 0;
  let mismatchAt: number | null = null;
  const started = performance.now();
  using _ticker = progressTicker(o, () => bytes, started);
  let error: string | undefined;
  try {
    while (bytes < o.bytes) {
      const view = o.bytes - bytes < buf.length ? buf.subarray(0, o.bytes - bytes) : buf;
      const n = await within(conn.read(view), o.timeoutMs, conn, `No data for ${o.timeoutMs} ms`);
      if (n === null) {
        error = `The server closed after ${bytes} bytes`;
        break;
      }
      const at = chargenMismatch(view.subarray(0, n), bytes, cycle);
      if (at !== -1) {
        mismatchAt = bytes + at;
        error = `Byte ${mismatchAt} is off the RFC 864 pattern`;
        bytes += n;
        operations++;
        break;
      }
      bytes += n;
      operations++;
    }
  } catch (err) {
    if (o.signal.aborted) throw o.signal.reason;
    error = `Stopped after ${bytes} bytes: ${reasonOf(err)}`;
  }
  const done = result(address, bytes, operations, started, error);
  // Half-close rather than close: closing with the generator's bytes unread would reset it.
  await drainAndClose(conn, o.timeoutMs);
  return { ...done, mismatchAt };
}

function result(
  address: DialAddress,
  bytes: number,
  operations: number,
  started: number,
  error?: string,
): ThroughputResult {
  const seconds = (performance.now() - started) / 1000;
  return {
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    address,
    bytes,
    operations,
    seconds,
    megabytesPerSecond: seconds > 0 ? bytes / seconds / 1e6 : 0,
  };
}

function progressTicker(o: Resolved, bytes: () => number, started: number): Disposable {
  const onProgress = o.onProgress;
  const timer = onProgress
    ? setInterval(
      () => onProgress({ bytes: bytes(), elapsedSeconds: (performance.now() - started) / 1000 }),
      o
        .progressIntervalMs,
    )
    : undefined;
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
