/** Server-Sent Events with the headers set once, client abort noticed, and cleanup in finally. */

const encoder = new TextEncoder();

/** Sends one event; returns false once the client is gone. */
export type SendEvent = (event: string, data: unknown) => boolean;

/** Options of {@linkcode sseResponse}. */
export interface SseOptions {
  /** Comment line sent this often so proxies keep the stream open. @default 15000 */
  keepAliveMs?: number;
  /** The stream ends after this long; clients reconnect with EventSource. @default 3600000 */
  maxDurationMs?: number;
}

/**
 * Streams events until the request is aborted or `maxDurationMs` passes.
 * `run` starts producing and returns its cleanup, called exactly once.
 */
export function sseResponse(
  signal: AbortSignal,
  run: (send: SendEvent) => () => void,
  options: SseOptions = {},
): Response {
  let cleanup: (() => void) | null = null;
  let timers: ReturnType<typeof setInterval>[] = [];
  let open = true;
  const stop = (controller?: ReadableStreamDefaultController<Uint8Array>) => {
    if (!open) return;
    open = false;
    for (const t of timers) clearTimeout(t);
    timers = [];
    try {
      cleanup?.();
    } finally {
      cleanup = null;
      try {
        controller?.close();
      } catch {
        // Already closed by the client going away.
      }
    }
  };
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send: SendEvent = (event, data) => {
        if (!open) return false;
        try {
          controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
          return true;
        } catch {
          stop();
          return false;
        }
      };
      signal.addEventListener("abort", () => stop(controller), { once: true });
      timers.push(setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
        } catch {
          stop();
        }
      }, options.keepAliveMs ?? 15_000));
      timers.push(setTimeout(() => stop(controller), options.maxDurationMs ?? 3_600_000));
      controller.enqueue(encoder.encode("retry: 2000\n\n"));
      cleanup = run(send);
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
