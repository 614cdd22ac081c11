/**
 * The reverse client (seed 002): send a message in one write and read until
 * the server closes. The server answers the first read it gets, reversed, so
 * no half-close is needed; a message the server got in more than one read
 * comes back cut to what the first read held.
 */
import { causeOf, deadline, dialBound, sameBytes, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { readToEnd } from "./_stream.ts";
import type { ExchangeResult, TcpClientOptions } from "./types.ts";
import { reverse as reverseEndpoint } from "../net/endpoints/reverse.ts";

/** Default port of the reverse endpoint, as lib/net/endpoints/reverse.ts declares it. */
export const REVERSE_PORT = reverseEndpoint.defaultPort;

/** Options for {@linkcode reverse}. */
export interface ReverseOptions extends TcpClientOptions {
  /**
   * Port of the reverse endpoint.
   *
   * @default {65439}
   */
  port?: number;
  /**
   * Longest the whole exchange may take, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/**
 * What one reverse exchange did: `ok` when the answer is exactly the bytes sent,
 * reversed (bytes are reversed one by one, so `text` scrambles multi-byte UTF-8).
 */
export interface ReverseResult extends ExchangeResult {
  /** Seconds from connect to the server's close. */
  seconds: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks reverse options and fills in defaults; throws TypeError or RangeError. */
export function resolveReverseOptions(options: ReverseOptions = {}): Required<ReverseOptions> {
  return {
    ...resolveTcpOptions(options, REVERSE_PORT),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
  };
}

/**
 * Sends `message` and checks that the reversed bytes come back before the
 * server closes; when only the end of it does (the server's one read held a
 * part), the result says how much.
 */
export async function reverse(
  message: string | Uint8Array,
  options: ReverseOptions = {},
): Promise<ReverseResult> {
  const { hostname, port, timeoutMs, signal, dial } = resolveReverseOptions(options);
  const payload = typeof message === "string" ? encoder.encode(message) : message;
  const address = { hostname, port };
  const started = performance.now();
  using limit = deadline(timeoutMs, `No answer within ${timeoutMs} ms`, signal);
  using conn = await dialBound(dial, address, limit.signal);
  let reply: Uint8Array;
  try {
    await writeAll(conn, payload);
    reply = (await readToEnd(conn, payload.length + 4096)).bytes;
  } catch (err) {
    throw causeOf(err, limit.signal);
  }
  const expected = payload.slice().reverse();
  const result: ReverseResult = {
    ok: true,
    address,
    sent: payload.length,
    received: reply.length,
    text: decoder.decode(reply),
    seconds: (performance.now() - started) / 1000,
  };
  if (sameBytes(reply, expected)) return result;
  const first = payload.slice(0, reply.length).reverse();
  if (reply.length > 0 && reply.length < payload.length && sameBytes(reply, first)) {
    return {
      ...result,
      ok: false,
      error: `The server's one read held ${reply.length} of ${payload.length} bytes: ` +
        `only those came back reversed: "${result.text}"`,
    };
  }
  return { ...result, ok: false, error: `Answer is not the message reversed: "${result.text}"` };
}
