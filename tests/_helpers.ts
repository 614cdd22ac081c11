/**
 * Shared test helpers: a Service on port 0 for every endpoint with its HTTP
 * app, bounded socket reads, a bounded poll, app-protocol frames written
 * independently of lib/protocol, and a runner for the tutorial's Python
 * clients. Private to tests/.
 */
import type { Hono } from "hono";
import { concat } from "../lib/bytes.ts";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import { ENDPOINTS } from "../lib/net/endpoint_table.ts";
import type { EndpointRecord } from "../lib/net/registry.ts";
import { Service, type ServiceOptions } from "../lib/net/service.ts";
import type { SocketRecord } from "../lib/net/types.ts";
import { createApp } from "../routes/_routes.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();
export const HOST = "127.0.0.1";

/** A running service on ephemeral ports, its in-process HTTP app, and cleanup. */
export interface TestService extends AsyncDisposable {
  service: Service;
  app: Hono;
  /** The bound port of an endpoint by name. */
  port(name: string): number;
  /**
   * Calls the app in process and parses the JSON body (null for an empty body); a body
   * goes as `application/json` unless `init` names another type.
   */
  api<T = Record<string, unknown>>(path: string, init?: RequestInit): Promise<ApiResponse<T>>;
  /** `GET /api/sockets` with an optional query string. */
  sockets(query?: string): Promise<SocketRecord[]>;
  /** `GET /api/endpoints`, keyed by endpoint name. */
  endpoints(): Promise<Record<string, EndpointRecord>>;
}

/** A JSON response from the app. */
export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * Starts every endpoint on port 0 with a fresh kernel sample on every look
 * (`minIntervalMs: 0`, so a poll never reads a stale table), unless `options` say otherwise.
 */
export function startService(options: ServiceOptions = {}): TestService {
  const ports = Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0]));
  const service = new Service({
    kernel: new KernelTable({ minIntervalMs: 0 }),
    ...options,
    ports: { ...ports, ...options.ports },
  });
  const app = createApp({ service, startedAt: Date.now(), dashboard: "127.0.0.1:0" });
  async function api<T>(path: string, init?: RequestInit): Promise<ApiResponse<T>> {
    const req = new Request(`http://x${path}`, init);
    // As the dashboard's postJson: the API takes only JSON bodies.
    if (init?.body != null && !new Headers(init.headers).has("content-type")) {
      req.headers.set("content-type", "application/json");
    }
    const res = await app.fetch(req);
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: (text === "" ? null : JSON.parse(text)) as T,
    };
  }
  return {
    service,
    app,
    port(name) {
      const endpoint = service.tcp.get(name) ?? service.udp.get(name);
      if (endpoint === undefined) throw new TypeError(`No endpoint "${name}"`);
      return endpoint.port;
    },
    api,
    async sockets(query = "") {
      const res = await api<{ sockets: SocketRecord[] }>(`/api/sockets${query}`);
      if (res.status !== 200) throw new Error(`GET /api/sockets${query} answered ${res.status}`);
      return res.body.sockets;
    },
    async endpoints() {
      const res = await api<{ endpoints: EndpointRecord[] }>("/api/endpoints");
      return Object.fromEntries(res.body.endpoints.map((e) => [e.name, e]));
    },
    [Symbol.asyncDispose]: () => service.close(),
  };
}

/** Connects to an endpoint on loopback. */
export function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: HOST, port });
}

/** Closes a socket that may already be closed. */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Closed already (by the test, a timeout or a reset).
  }
}

/** Writes every byte of `data` within `timeoutMs` (a peer that stops reading fails the test). */
export function writeAll(conn: Deno.Conn, data: Uint8Array, timeoutMs = 5000): Promise<void> {
  return withDeadline(conn, timeoutMs, `writing ${data.length} bytes`, async () => {
    let view = data;
    // Each write takes at least one byte, so this ends after at most data.length writes.
    while (view.length > 0) view = view.subarray(await conn.write(view));
  });
}

/**
 * Runs `io` with a deadline; on timeout closes `conn` (so its pending read or
 * write ends and no op outlives the test) and throws naming `what`.
 */
async function withDeadline<T>(
  conn: Deno.Conn,
  timeoutMs: number,
  what: string,
  io: () => Promise<T>,
): Promise<T> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    return await io();
  } catch (err) {
    if (timedOut) throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads exactly `n` bytes, or throws on end of stream or after `timeoutMs`. */
export function readExactly(conn: Deno.Conn, n: number, timeoutMs = 10_000): Promise<Uint8Array> {
  return withDeadline(conn, timeoutMs, `reading ${n} bytes`, async () => {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const m = await conn.read(out.subarray(got));
      if (m === null) throw new Error(`End of stream after ${got} of ${n} bytes`);
      got += m;
    }
    return out;
  });
}

/** How a stream ended for the reader: FIN (`eof`) or RST (`reset`). */
export interface StreamEnd {
  bytes: Uint8Array;
  end: "eof" | "reset";
}

/** Reads until the peer closes, at most `maxBytes`, within `timeoutMs`. */
export function readToEnd(
  conn: Deno.Conn,
  options: { timeoutMs?: number; maxBytes?: number } = {},
): Promise<StreamEnd> {
  const { timeoutMs = 10_000, maxBytes = 1 << 20 } = options;
  return withDeadline(conn, timeoutMs, "waiting for end of stream", async () => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(16384);
    let end: StreamEnd["end"] | null = null;
    while (end === null) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (err) {
        if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
        end = "reset";
        break;
      }
      if (n === null) {
        end = "eof";
        break;
      }
      chunks.push(buf.slice(0, n));
      total += n;
      if (total > maxBytes) throw new Error(`More than ${maxBytes} bytes before end of stream`);
    }
    return { bytes: concat(chunks), end };
  });
}

/**
 * One round trip on an echoing connection: the text back, "refused" if the
 * server closed (or reset) the connection instead, or "cut after N bytes".
 */
export async function echoPing(conn: Deno.Conn, text: string, timeoutMs = 5000): Promise<string> {
  const bytes = encoder.encode(text);
  try {
    await writeAll(conn, bytes, 3000);
  } catch (err) {
    // A refused connection may already be reset by the time we write.
    if (err instanceof Deno.errors.BrokenPipe || err instanceof Deno.errors.ConnectionReset) {
      return "refused";
    }
    throw err;
  }
  const buf = new Uint8Array(bytes.length);
  let got = 0;
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    while (got < buf.length) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) return got === 0 ? "refused" : `cut after ${got} bytes`;
      got += n;
    }
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionReset && got === 0) return "refused";
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return decoder.decode(buf);
}

/**
 * Polls `probe` until it returns something other than undefined, null or
 * false, every `intervalMs`, for at most `timeoutMs`. For state with no event
 * to await (counters, the kernel's queues).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const { timeoutMs = 10_000, intervalMs = 20 } = options;
  const deadline = performance.now() + timeoutMs;
  const maxTries = Math.ceil(timeoutMs / intervalMs) + 1;
  for (let i = 0; i < maxTries; i++) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`Timed out after ${timeoutMs} ms: ${what}`);
}

/** True if `promise` fulfils within `ms`, false if it is still pending then (a rejection is thrown). */
export async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What {@linkcode writeUntilFull} wrote: the settled writes' bytes and the write left pending. */
export interface FilledConn {
  /** The part of each settled write the kernel took, in order. */
  taken: Uint8Array[];
  /** The write the kernel stopped taking; it settles once the far side reads. */
  pending: Promise<number>;
}

/**
 * Writes `chunk` until the kernel stops taking bytes and `full()` confirms the far side is
 * backed up. A write that is only slow (a busy machine) settles later and writing goes on, so
 * the result never depends on a guess at the kernel's buffer sizes or on timing.
 */
export async function writeUntilFull(
  conn: Deno.Conn,
  chunk: Uint8Array,
  full: () => Promise<boolean>,
  options: { timeoutMs?: number; maxWrites?: number } = {},
): Promise<FilledConn> {
  const { timeoutMs = 20_000, maxWrites = 4096 } = options;
  const deadline = performance.now() + timeoutMs;
  const taken: Uint8Array[] = [];
  for (let i = 0; i < maxWrites && performance.now() < deadline; i++) {
    const write = conn.write(chunk);
    let settled = false;
    write.then(() => settled = true, () => settled = true);
    if (await settlesWithin(write, 100)) {
      taken.push(chunk.subarray(0, await write));
      continue;
    }
    // Pending: either the queues are full or the machine is slow; wait to see which.
    while (!settled && performance.now() < deadline && !(await full())) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!settled) return { taken, pending: write };
    taken.push(chunk.subarray(0, await write));
  }
  throw new Error(`The kernel kept taking bytes: ${taken.length} writes in ${timeoutMs} ms`);
}

// --- The application protocol, written here rather than imported so the tests check lib/protocol.

/** One app-protocol frame: 2-byte big-endian header length, JSON header, content. */
export function appFrame(header: Record<string, unknown>, content: Uint8Array): Uint8Array {
  return rawAppFrame(encoder.encode(JSON.stringify(header)), content);
}

/** A frame whose header bytes are given as is (for malformed headers). */
export function rawAppFrame(
  headerBytes: Uint8Array,
  content: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(2 + headerBytes.length + content.length);
  out[0] = headerBytes.length >> 8;
  out[1] = headerBytes.length & 0xff;
  out.set(headerBytes, 2);
  out.set(content, 2 + headerBytes.length);
  return out;
}

/** What the tutorial's app client sends for `<action> <value>`. */
export function appRequest(action: string, value: string): Uint8Array {
  if (action === "search") {
    const content = encoder.encode(JSON.stringify({ action, value }));
    return appFrame({
      byteorder: "little",
      "content-type": "text/json",
      "content-encoding": "utf-8",
      "content-length": content.length,
    }, content);
  }
  const content = encoder.encode(action + value);
  return appFrame({
    byteorder: "little",
    "content-type": "binary/custom-client-binary-type",
    "content-encoding": "binary",
    "content-length": content.length,
  }, content);
}

/** A decoded response frame; `json` is set for text/json content. */
export interface AppResponse {
  header: Record<string, unknown>;
  content: Uint8Array;
  json?: Record<string, unknown>;
}

/** Reads app frames off a connection, keeping bytes that belong to the next frame. */
export class AppReader {
  #conn: Deno.Conn;
  #buf: Uint8Array = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** The next whole frame, within `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<AppResponse> {
    const head = await this.#take(2, timeoutMs);
    const headerLength = (head[0] << 8) | head[1];
    const header = JSON.parse(decoder.decode(await this.#take(headerLength, timeoutMs)));
    const content = await this.#take(header["content-length"], timeoutMs);
    const response: AppResponse = { header, content };
    if (header["content-type"] === "text/json") response.json = JSON.parse(decoder.decode(content));
    return response;
  }

  /** What the peer sends after the frames read so far, until it closes. */
  async rest(timeoutMs = 3000): Promise<StreamEnd> {
    const tail = await readToEnd(this.#conn, { timeoutMs });
    return { bytes: concat([this.#buf, tail.bytes]), end: tail.end };
  }

  async #take(n: number, timeoutMs: number): Promise<Uint8Array> {
    if (this.#buf.length < n) {
      const more = await readExactly(this.#conn, n - this.#buf.length, timeoutMs);
      this.#buf = concat([this.#buf, more]);
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
}

// --- The tutorial's Python clients.

const TUTORIAL = new URL("./fixtures/tutorial/", import.meta.url);

/** What a finished process printed. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stdoutBytes: Uint8Array;
  stderr: string;
}

/** Runs one of tests/fixtures/tutorial/*.py with `args`, killed after `timeoutMs`. */
export async function runTutorial(
  script: string,
  args: string[],
  timeoutMs = 15_000,
): Promise<ProcessResult> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const out = await new Deno.Command("python3", {
      args: [new URL(script, TUTORIAL).pathname, ...args],
      cwd: new URL(".", TUTORIAL).pathname,
      env: { PYTHONUTF8: "1", PYTHONIOENCODING: "utf-8", PYTHONDONTWRITEBYTECODE: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    if (ac.signal.aborted) throw new Error(`${script} was killed after ${timeoutMs} ms`);
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stdoutBytes: out.stdout,
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
