/**
 * The app client (seed 003's app-client.py): one request per `<action> <value>`
 * in the application protocol, optionally repeated on the same connection.
 */
import {
  type AppFrame,
  AppFrameDecoder,
  type AppHeader,
  decodeJsonContent,
  encodeRequest,
} from "../protocol/app_codec.ts";
import { causeOf, deadline, dialBound, sameBytes, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { LatencyRecorder } from "./stats.ts";
import type { DialAddress, LatencySummary, TcpClientOptions } from "./types.ts";
import { app as appEndpoint } from "../net/endpoints/app.ts";

/** Default port of the app endpoint, as lib/net/endpoints/app.ts declares it. */
export const APP_PORT = appEndpoint.defaultPort;

/** Options for {@linkcode app}. */
export interface AppOptions extends TcpClientOptions {
  /**
   * Port of the app endpoint.
   *
   * @default {65434}
   */
  port?: number;
  /**
   * Requests sent one after another on the same connection, each answered before the next.
   *
   * @default {1}
   */
  repeat?: number;
  /**
   * Longest wait for the connect or for one response, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/** The first response, as plain data. */
export interface AppResponse {
  header: AppHeader;
  contentType: string;
  /** Content length in bytes. */
  bytes: number;
  /** The content as UTF-8 text (invalid sequences replaced). */
  text: string;
  /** The parsed content for `text/json` responses, else null. */
  json: unknown;
  /** `json.result` when it is a string. */
  result?: string;
  /** `json.error` when the server answered with an error frame. */
  serverError?: string;
}

/** What an app exchange did. */
export interface AppResult {
  /** True when every request got a well-formed, non-error response, all alike. */
  ok: boolean;
  /** Why the exchange failed, in one line. */
  error?: string;
  address: DialAddress;
  action: string;
  value: string;
  /** Requests answered. */
  requests: number;
  /** The first response, or null when none arrived. */
  response: AppResponse | null;
  /** Responses whose content differed from the first. */
  mismatches: number;
  /** Seconds from the first request to the last response. */
  seconds: number;
  /** Request-to-response time, in milliseconds. */
  latencyMs: LatencySummary | null;
}

const textDecoder = new TextDecoder();
const READ_SIZE = 64 * 1024;

/** Checks app options and fills in defaults; throws TypeError or RangeError. */
export function resolveAppOptions(options: AppOptions = {}): Required<AppOptions> {
  return {
    ...resolveTcpOptions(options, APP_PORT),
    repeat: checkInteger(options.repeat ?? 1, "repeat", 1, 10_000_000),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
  };
}

/** Sends `action` and `value` as the tutorial's client does and reads the response(s). */
export async function app(
  action: string,
  value: string,
  options: AppOptions = {},
): Promise<AppResult> {
  const { hostname, port, repeat, timeoutMs, signal, dial } = resolveAppOptions(options);
  const address = { hostname, port };
  const request = encodeRequest(action, value);
  using conn = await dialBound(dial, address, signal, timeoutMs);
  conn.setNoDelay?.(true);
  const decoder = new AppFrameDecoder();
  const buf = new Uint8Array(READ_SIZE);
  const latency = new LatencyRecorder();
  const base = { address, action, value };
  let response: AppResponse | null = null;
  let first: Uint8Array | null = null;
  let mismatches = 0;
  // Frames decoded ahead of the one awaited: one read may complete several.
  const queued: AppFrame[] = [];
  const startedAt = performance.now();
  const finish = (error?: string): AppResult => ({
    ...base,
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    requests: latency.count,
    response,
    mismatches,
    seconds: (performance.now() - startedAt) / 1000,
    latencyMs: latency.summary(),
  });

  for (let i = 0; i < repeat; i++) {
    const sentAt = performance.now();
    using limit = deadline(timeoutMs, `No response within ${timeoutMs} ms`, signal);
    // The connection closes with `signal`; a request that takes too long closes it too.
    const onTimeout = () => conn.close();
    limit.signal.addEventListener("abort", onTimeout, { once: true });
    try {
      await writeAll(conn, request);
      while (queued.length === 0) {
        const n = await conn.read(buf);
        if (n === null) {
          return finish(
            decoder.pending
              ? "Connection closed in the middle of a response"
              : "Connection closed before a response",
          );
        }
        const decoded = decoder.push(buf.subarray(0, n));
        queued.push(...decoded.frames);
        if (decoded.error !== null && queued.length === 0) {
          return finish(`Cannot decode response: ${decoded.error.message}`);
        }
      }
    } catch (err) {
      throw causeOf(err, limit.signal);
    } finally {
      limit.signal.removeEventListener("abort", onTimeout);
    }
    const frame = queued.shift()!;
    latency.add(performance.now() - sentAt);
    if (response === null) {
      const described = describe(frame);
      if (typeof described === "string") return finish(described);
      response = described;
      first = frame.content;
      if (response.serverError !== undefined) {
        return finish(`Server answered with an error: "${response.serverError}"`);
      }
    } else if (!sameBytes(first!, frame.content)) {
      mismatches++;
    }
  }
  return finish(
    mismatches > 0 ? `${mismatches} of ${repeat} responses differ from the first` : undefined,
  );
}

/** The response as plain data, or why its content cannot be read. */
function describe(frame: AppFrame): AppResponse | string {
  const contentType = frame.header["content-type"];
  const response: AppResponse = {
    header: frame.header,
    contentType,
    bytes: frame.content.length,
    text: textDecoder.decode(frame.content),
    json: null,
  };
  if (contentType !== "text/json") return response;
  const decoded = decodeJsonContent(frame);
  if (!decoded.ok) return `Cannot decode response: ${decoded.error.message}`;
  response.json = decoded.value;
  const json = decoded.value;
  if (typeof json === "object" && json !== null) {
    if ("result" in json && typeof json.result === "string") response.result = json.result;
    if ("error" in json) {
      response.serverError = typeof json.error === "string"
        ? json.error
        : JSON.stringify(json.error);
    }
  }
  return response;
}
