/** The echo client (seed 003's echo-client.py): send a message, read the same bytes back. */
import { causeOf, deadline, dialBound, readFull, sameBytes, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import type { ExchangeResult, TcpClientOptions } from "./types.ts";
import { echo as echoEndpoint } from "../net/endpoints/echo.ts";

/** Default port of the echo endpoint, as lib/net/endpoints/echo.ts declares it. */
export const ECHO_PORT = echoEndpoint.defaultPort;

/** Options for {@linkcode echo}. */
export interface EchoOptions extends TcpClientOptions {
  /**
   * Port of the echo endpoint.
   *
   * @default {65432}
   */
  port?: number;
  /**
   * Longest the whole exchange (connect, send, echo) may take, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/**
 * What one echo exchange did: `ok` when the echo came back complete and byte for
 * byte equal (`received` is never more than `sent`).
 */
export interface EchoResult extends ExchangeResult {
  /** Milliseconds to connect. */
  connectMs: number;
  /** Milliseconds from the first byte written to the last byte of the echo read. */
  rttMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks echo options and fills in defaults; throws TypeError or RangeError. */
export function resolveEchoOptions(options: EchoOptions = {}): Required<EchoOptions> {
  return {
    ...resolveTcpOptions(options, ECHO_PORT),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
  };
}

/** Sends `message` to an echo server and checks that the same bytes come back. */
export async function echo(
  message: string | Uint8Array,
  options: EchoOptions = {},
): Promise<EchoResult> {
  const { hostname, port, timeoutMs, signal, dial } = resolveEchoOptions(options);
  const payload = typeof message === "string" ? encoder.encode(message) : message;
  if (payload.length === 0) throw new RangeError('Invalid message: "" is empty');
  const address = { hostname, port };
  using limit = deadline(timeoutMs, `No echo within ${timeoutMs} ms`, signal);
  const started = performance.now();
  using conn = await dialBound(dial, address, limit.signal);
  const connectMs = performance.now() - started;
  conn.setNoDelay?.(true);
  const reply = new Uint8Array(payload.length);
  let received: number;
  const sentAt = performance.now();
  try {
    await writeAll(conn, payload);
    received = await readFull(conn, reply);
  } catch (err) {
    throw causeOf(err, limit.signal);
  }
  const rttMs = performance.now() - sentAt;
  const echoed = reply.subarray(0, received);
  const result: EchoResult = {
    ok: true,
    address,
    sent: payload.length,
    received,
    text: decoder.decode(echoed),
    connectMs,
    rttMs,
  };
  if (received < payload.length) {
    return {
      ...result,
      ok: false,
      error: `Connection closed after ${received} of ${payload.length} bytes of the echo`,
    };
  }
  if (!sameBytes(echoed, payload)) {
    return { ...result, ok: false, error: `Echo differs from what was sent: "${result.text}"` };
  }
  return result;
}
