/**
 * The dashboard's HTTP server: our own accept loop in front of Deno's HTTP
 * engine. Deno.serve's loop throws `Too many open files` out of the process
 * when accept() fails; here a failed accept is counted and waited out. Each
 * connection is timed while it has no request in flight, so a client that
 * never finishes its request head (slowloris) or idles between requests is
 * closed. Connections are capped: at the cap a new connection takes the place
 * of the one that has waited longest without a request in flight, so clients
 * that hold connections without asking for anything cannot lock the dashboard
 * out; only when every connection has a request in flight (event streams) does
 * the new one get a short 503.
 */
import { HttpStats } from "./http_stats.ts";

/** Handles one request, as Deno.serve's handler does. */
export type HttpHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Defaults of {@linkcode HttpServerOptions}, declared once: `main.ts`'s flags show them. */
export const HTTP_SERVER_DEFAULTS = { headerTimeoutMs: 10_000, maxConns: 256 } as const;

/** Options of {@linkcode serveHttp}. */
export interface HttpServerOptions {
  /** Address to bind. @default "127.0.0.1" */
  hostname?: string;
  /** Port to bind; 0 picks a free one. @default 0 */
  port?: number;
  /** Aborting it stops accepting and closes every connection, streams in flight too. */
  signal?: AbortSignal;
  /**
   * How long a connection may go without a request reaching the handler: from accept,
   * and again after each response while none is in flight; 0 = never. @default 10000
   */
  headerTimeoutMs?: number;
  /**
   * Connections served at once. At the cap, the one waiting longest with no request in
   * flight is closed to make room; when none waits, the new one is answered 503. @default 256
   */
  maxConns?: number;
  /** Where the counters go. @default a new {@linkcode HttpStats} */
  stats?: HttpStats;
}

/** A running server. */
export interface HttpServer {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** Settles once the server stopped and every connection closed. */
  readonly finished: Promise<void>;
  /** Its counters. */
  readonly stats: HttpStats;
  /**
   * False when this Deno has no per-connection entry point and Deno.serve runs
   * instead: no header timeout, no cap, accept errors end the process as before.
   */
  readonly guarded: boolean;
}

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: HttpHandler,
  onError: (err: unknown) => Response,
  onListen: (scheme: string) => void,
) => { finished: Promise<void> };

/**
 * Deno's own per-connection HTTP server (the one Deno.serve runs on each accepted
 * connection), internal: null when a Deno version does not have it.
 */
function serveOnConnection(): ServeOnConnection | null {
  const internal = Reflect.get(Deno, "internal");
  const fn = typeof internal === "symbol"
    ? (Reflect.get(Deno, internal) as Record<string, unknown> | undefined)?.serveHttpOnConnection
    : undefined;
  return typeof fn === "function" ? fn as ServeOnConnection : null;
}

/** Longest wait between failed accepts (Go's net/http uses the same 5 ms..1 s). */
const MAX_ACCEPT_DELAY_MS = 1000;
/** Refused connections read from before closing, at once; beyond it they are closed at once. */
export const MAX_REFUSING = 64;
/** How long a refused connection's request is waited for, so closing does not reset the 503. */
const REFUSE_LINGER_MS = 100;

const encoder = new TextEncoder();

/** The connection each request in flight came on, to end it from a handler. */
const connections = new WeakMap<Request, AbortController>();

/**
 * Closes the connection `req` came on, if {@linkcode serveHttp} serves it: for a
 * streamed response whose client stopped reading, which an error in the body
 * cannot end while Deno waits to write to the socket. Returns whether it did.
 */
export function closeConnection(req: Request): boolean {
  const ac = connections.get(req);
  if (ac === undefined || ac.signal.aborted) return false;
  ac.abort();
  return true;
}

function refusal(maxConns: number): Uint8Array {
  const body = JSON.stringify({
    error: `Too many connections: the dashboard serves at most ${maxConns} at once`,
  });
  return encoder.encode(
    "HTTP/1.1 503 Service Unavailable\r\n" +
      "content-type: application/json; charset=utf-8\r\n" +
      `content-length: ${encoder.encode(body).length}\r\n` +
      "retry-after: 1\r\nconnection: close\r\n\r\n" + body,
  );
}

function internalError(err: unknown): Response {
  console.error(err);
  return new Response(JSON.stringify({ error: "Internal error" }), {
    status: 500,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/**
 * Serves `handler` on `hostname:port` until `signal` aborts. Throws as
 * Deno.listen does when the address cannot be bound.
 */
export function serveHttp(handler: HttpHandler, options: HttpServerOptions = {}): HttpServer {
  const stats = options.stats ?? new HttpStats();
  const signal = options.signal ?? new AbortController().signal;
  const hostname = options.hostname ?? "127.0.0.1";
  const port = options.port ?? 0;
  const serveOnConn = serveOnConnection();
  if (serveOnConn === null) {
    const server = Deno.serve({ hostname, port, signal, onListen: () => {} }, handler);
    return { addr: server.addr, finished: server.finished, stats, guarded: false };
  }
  const serveOn: ServeOnConnection = serveOnConn;
  const headerTimeoutMs = options.headerTimeoutMs ?? HTTP_SERVER_DEFAULTS.headerTimeoutMs;
  const maxConns = options.maxConns ?? HTTP_SERVER_DEFAULTS.maxConns;
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const tooMany = refusal(maxConns);
  const drain = new Uint8Array(4096);
  /** Aborts each live connection; shutdown calls them all. */
  const live = new Set<AbortController>();
  /** Live connections with no request in flight, the longest waiting first. */
  const waiting = new Set<AbortController>();
  const served = new Set<Promise<void>>();
  /** Connections counted against the cap: live ones not yet closed to make room. */
  let slots = 0;
  let refusing = 0;

  async function refuse(conn: Deno.Conn): Promise<void> {
    stats.refused++;
    try {
      // 200 bytes on a fresh connection: the kernel takes them at once, in one write or a few.
      for (let at = 0, i = 0; at < tooMany.length && i < tooMany.length; i++) {
        at += await conn.write(tooMany.subarray(at));
      }
      if (refusing >= MAX_REFUSING) return;
      refusing++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        // Read the request the client sent already: closing over unread bytes sends a reset,
        // which can reach the client before it has read the 503.
        await Promise.race([
          conn.read(drain),
          new Promise((resolve) => timer = setTimeout(resolve, REFUSE_LINGER_MS)),
        ]);
      } finally {
        clearTimeout(timer);
        refusing--;
      }
    } catch {
      // The client left first.
    } finally {
      closeQuietly(conn);
    }
  }

  function serve(conn: Deno.TcpConn): void {
    stats.accepted++;
    if (slots >= maxConns) {
      const oldest = waiting.values().next();
      if (oldest.done) {
        void refuse(conn);
        return;
      }
      // It asked for nothing since it connected or since its last answer; a browser opens
      // a new connection when it needs one. Its slot is free now, its close a moment later.
      stats.evicted++;
      oldest.value.abort();
    }
    try {
      conn.setNoDelay(true);
    } catch {
      // Reset before we got to it: the HTTP engine notices.
    }
    const ac = new AbortController();
    let inFlight = 0;
    let answered = false;
    let released = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // The slot frees when the connection is aborted (timeouts, room, shutdown) or ends.
    const release = () => {
      if (released) return;
      released = true;
      slots--;
      waiting.delete(ac);
    };
    const arm = () => {
      waiting.add(ac);
      if (headerTimeoutMs <= 0) return;
      timer = setTimeout(() => {
        stats.timeouts[answered ? "idle" : "header"]++;
        ac.abort();
      }, headerTimeoutMs);
    };
    const settled = () => {
      answered = true;
      if (--inFlight === 0 && !released) arm();
    };
    // The clock stops while a request is in flight, so a long response (an event stream)
    // is never cut; it restarts once the last response has been delivered.
    const timed: HttpHandler = (req, info) => {
      clearTimeout(timer);
      waiting.delete(ac);
      inFlight++;
      connections.set(req, ac);
      info.completed.then(settled, settled);
      return handler(req, info);
    };
    let finished: Promise<void>;
    try {
      finished = serveOn(conn, ac.signal, timed, internalError, () => {}).finished;
    } catch (err) {
      console.error(err);
      closeQuietly(conn);
      return;
    }
    stats.live++;
    slots++;
    live.add(ac);
    ac.signal.addEventListener("abort", release, { once: true });
    arm();
    const done = finished.catch(() => {
      // Deno logged it; the connection is gone either way.
    }).finally(() => {
      clearTimeout(timer);
      live.delete(ac);
      served.delete(done);
      stats.live--;
      release();
    });
    served.add(done);
  }

  async function acceptLoop(): Promise<void> {
    let delayMs = 0;
    while (!signal.aborted) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        delayMs = 0;
      } catch (err) {
        if (signal.aborted || err instanceof Deno.errors.BadResource) return;
        const code = (err as { code?: unknown }).code;
        const kind = typeof code === "string" ? code : "error";
        stats.acceptErrors[kind] = (stats.acceptErrors[kind] ?? 0) + 1;
        // Out of descriptors (EMFILE, ENFILE): the connection waits in the accept queue
        // until one frees up; back off so the loop neither spins nor sleeps long.
        delayMs = Math.min(Math.max(5, delayMs * 2), MAX_ACCEPT_DELAY_MS);
        await sleep(delayMs, signal);
        continue;
      }
      if (signal.aborted) {
        // Accepted while shutdown aborted the others: it would keep `finished` waiting.
        closeQuietly(conn);
        return;
      }
      serve(conn);
    }
  }

  const { promise: aborted, resolve: onAbort } = Promise.withResolvers<void>();
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", () => onAbort(), { once: true });
  const finished = (async () => {
    const loop = acceptLoop();
    await aborted;
    try {
      listener.close();
    } catch {
      // Closed already.
    }
    for (const ac of live) ac.abort();
    await loop;
    await Promise.allSettled([...served]);
  })();
  return { addr: listener.addr, finished, stats, guarded: true };
}
