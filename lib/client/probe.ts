/** The probe client: repeated TCP connects timed like ping, counting refusals and timeouts. */
import { dialBound, reasonOf, sleep } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { LatencyRecorder } from "./stats.ts";
import type { DialAddress, LatencySummary, TcpClientOptions } from "./types.ts";
import { echo as echoEndpoint } from "../net/endpoints/echo.ts";

/** Default port: the echo endpoint's, as lib/net/endpoints/echo.ts declares it. */
export const PROBE_PORT = echoEndpoint.defaultPort;

/** Options for {@linkcode probe}. */
export interface ProbeOptions extends TcpClientOptions {
  /**
   * Port to probe.
   *
   * @default {65432}
   */
  port?: number;
  /**
   * Connects to attempt.
   *
   * @default {4}
   */
  count?: number;
  /**
   * Milliseconds between the start of one attempt and the next.
   *
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * Longest wait for one connect, in milliseconds.
   *
   * @default {2000}
   */
  timeoutMs?: number;
  /** Called after each attempt. */
  onAttempt?: (attempt: ProbeAttempt) => void;
}

/** What one connect attempt did. */
export interface ProbeAttempt {
  /** 1-based sequence number. */
  seq: number;
  outcome: "connected" | "refused" | "timeout" | "error";
  /** Milliseconds until the connect completed or failed. */
  ms: number;
  /** Why the attempt failed, in one line. */
  error?: string;
}

/** What a probe run did. */
export interface ProbeResult {
  /** True when every attempt connected. */
  ok: boolean;
  /** Why the run failed, in one line. */
  error?: string;
  address: DialAddress;
  attempts: number;
  connected: number;
  refused: number;
  timeouts: number;
  /** Attempts that failed for another reason (unreachable, reset, …). */
  errors: number;
  lossPercent: number;
  /** Connect time of the successful attempts, in milliseconds. */
  connectMs: LatencySummary | null;
  probes: ProbeAttempt[];
}

/** Checks probe options and fills in defaults; throws TypeError or RangeError. */
export function resolveProbeOptions(
  options: ProbeOptions = {},
): Required<Omit<ProbeOptions, "onAttempt">> & ProbeOptions {
  return {
    ...resolveTcpOptions(options, PROBE_PORT),
    count: checkInteger(options.count ?? 4, "count", 1, 100_000),
    intervalMs: checkInteger(options.intervalMs ?? 1000, "intervalMs", 0, 3_600_000),
    timeoutMs: checkInteger(options.timeoutMs ?? 2000, "timeoutMs", 1, 3_600_000),
    onAttempt: options.onAttempt,
  };
}

/** Connects `count` times, closing each connection at once, and times every connect. */
export async function probe(options: ProbeOptions = {}): Promise<ProbeResult> {
  const { hostname, port, count, intervalMs, timeoutMs, onAttempt, signal, dial } =
    resolveProbeOptions(options);
  const address = { hostname, port };
  const times = new LatencyRecorder();
  const probes: ProbeAttempt[] = [];
  const tally = { connected: 0, refused: 0, timeout: 0, error: 0 };
  for (let seq = 1; seq <= count; seq++) {
    const started = performance.now();
    let attempt: ProbeAttempt;
    try {
      const conn = await dialBound(dial, address, signal, timeoutMs);
      const ms = performance.now() - started;
      conn.close();
      times.add(ms);
      attempt = { seq, outcome: "connected", ms };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      attempt = {
        seq,
        outcome: classify(err),
        ms: performance.now() - started,
        error: reasonOf(err),
      };
    }
    tally[attempt.outcome]++;
    probes.push(attempt);
    onAttempt?.(attempt);
    if (seq < count) await sleep(Math.max(0, started + intervalMs - performance.now()), signal);
  }
  const failed = count - tally.connected;
  const result: ProbeResult = {
    ok: failed === 0,
    address,
    attempts: count,
    connected: tally.connected,
    refused: tally.refused,
    timeouts: tally.timeout,
    errors: tally.error,
    lossPercent: (failed / count) * 100,
    connectMs: times.summary(),
    probes,
  };
  if (result.ok) return result;
  const firstFailure = probes.find((p) => p.outcome !== "connected")!;
  return {
    ...result,
    error: failed === count
      ? firstFailure.error
      : `${failed} of ${count} connects failed: ${firstFailure.error}`,
  };
}

function classify(err: unknown): ProbeAttempt["outcome"] {
  if (err instanceof Deno.errors.ConnectionRefused) return "refused";
  if (err instanceof Deno.errors.TimedOut) return "timeout";
  return "error";
}
