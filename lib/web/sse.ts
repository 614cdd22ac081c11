/**
 * Server-Sent Events with the headers set once, client abort noticed, cleanup
 * in finally, and a bounded backlog: events wait while the client reads slower
 * than they come, at most one per event name (the newest snapshot, or older
 * and newer merged), and a stream that stays behind too long is closed.
 */
import type { HttpStats } from "./http_stats.ts";

const encoder = new TextEncoder();

/** Sends one event; returns false once the stream is closed. */
export type SendEvent = (event: string, data: unknown) => boolean;

/** What a producer can see of its stream. */
export interface SseStream {
  /** True while events wait for a client that reads slower than they come: skip costly work. */
  readonly behind: boolean;
}

/** Options of {@linkcode sseResponse}. */
export interface SseOptions {
  /** Comment line sent this often so proxies keep the stream open. @default 15000 */
  keepAliveMs?: number;
  /** The stream ends after this long; clients reconnect with EventSource. @default 3600000 */
  maxDurationMs?: number;
  /**
   * A stream whose waiting events its client has not taken for this long is closed
   * and counted in `stats.sseDropped`; 0 = never. @default 30000
   */
  maxBehindMs?: number;
  /**
   * How an event still waiting combines with a newer one of the same name: the
   * result is sent once. Events not listed are snapshots: the newer replaces the
   * older. @default {}
   */
  merge?: Readonly<Record<string, (older: never, newer: never) => unknown>>;
  /**
   * Ends the connection under a stream dropped for staying behind: Deno waits on the
   * blocked write and never sees the body's error (lib/web/http_server.ts closeConnection).
   * Returns false when it could not, and the body's error has to do.
   * @default none
   */
  closeConnection?: () => boolean;
  /** Where the stream's counters go. @default none */
  stats?: Pick<HttpStats, "sseStreams" | "sseCoalesced" | "sseDropped">;
}

/** Key of the keep-alive comment among the waiting events (no event has an empty name). */
const KEEP_ALIVE = "";

function encode(pending: Map<string, unknown>): Uint8Array {
  let text = "";
  for (const [event, data] of pending) {
    text += event === KEEP_ALIVE
      ? ": keep-alive\n\n"
      : `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  }
  return encoder.encode(text);
}

/** Defaults of {@linkcode SseOptions}, declared once: `--sse-max-behind` shows them. */
export const SSE_DEFAULTS = { maxBehindMs: 30_000 } as const;

/**
 * Streams events until the request is aborted, `maxDurationMs` passes, or the
 * client stays behind `maxBehindMs`. `run` starts producing and returns its
 * cleanup, called exactly once.
 */
export function sseResponse(
  signal: AbortSignal,
  run: (send: SendEvent, stream: SseStream) => () => void,
  options: SseOptions = {},
): Response {
  const maxBehindMs = options.maxBehindMs ?? SSE_DEFAULTS.maxBehindMs;
  const merge = options.merge ?? {};
  const stats = options.stats;
  let cleanup: (() => void) | null = null;
  let timers: ReturnType<typeof setInterval>[] = [];
  let open = true;
  // Events the stream's queue had no room for, by name, in the order they first came.
  const pending = new Map<string, unknown>();
  let dropTimer: ReturnType<typeof setTimeout> | undefined;
  const state: SseStream = {
    get behind() {
      return pending.size > 0;
    },
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stop = (error?: Error) => {
    if (!open) return;
    open = false;
    if (stats) stats.sseStreams--;
    for (const t of timers) clearTimeout(t);
    timers = [];
    clearTimeout(dropTimer);
    pending.clear();
    try {
      cleanup?.();
    } finally {
      cleanup = null;
      try {
        // An error, not a close: a close would wait for the client to take what is queued.
        if (error) controller.error(error);
        else controller.close();
      } catch {
        // Already closed by the client going away.
      }
    }
  };
  const flush = () => {
    // Only what the queue has room for (one chunk): what the client does not read waits in
    // `pending`, where newer events replace older ones instead of piling up.
    if (open && pending.size > 0 && (controller.desiredSize ?? 0) > 0) {
      const chunk = encode(pending);
      pending.clear();
      controller.enqueue(chunk);
    }
    if (pending.size === 0) {
      clearTimeout(dropTimer);
      dropTimer = undefined;
    } else if (dropTimer === undefined && maxBehindMs > 0) {
      dropTimer = setTimeout(() => {
        if (stats) stats.sseDropped++;
        if (options.closeConnection?.()) stop();
        else stop(new Error(`Event stream closed: its client stayed behind for ${maxBehindMs} ms`));
      }, maxBehindMs);
    }
  };
  const queue = (event: string, data: unknown) => {
    if (pending.has(event)) {
      if (stats) stats.sseCoalesced++;
      const fold = merge[event] as ((older: unknown, newer: unknown) => unknown) | undefined;
      pending.set(event, fold ? fold(pending.get(event), data) : data);
    } else {
      pending.set(event, data);
    }
    flush();
  };
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      if (stats) stats.sseStreams++;
      const send: SendEvent = (event, data) => {
        if (!open) return false;
        try {
          queue(event, data);
          return true;
        } catch {
          stop();
          return false;
        }
      };
      signal.addEventListener("abort", () => stop(), { once: true });
      timers.push(setInterval(() => send(KEEP_ALIVE, null), options.keepAliveMs ?? 15_000));
      timers.push(setTimeout(() => stop(), options.maxDurationMs ?? 3_600_000));
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
      cleanup = run(send, state);
    },
    pull() {
      flush();
    },
    cancel() {
      stop();
    },
  }, { highWaterMark: 1 });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
