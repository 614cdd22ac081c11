/**
 * Fresh's `define` helper, for our Hono-based app: identity functions that
 * exist for type inference, so route files stay typed without ceremony.
 */
import type { Service } from "../net/service.ts";
import type { HttpStats } from "./http_stats.ts";

/** What every route can reach. */
export interface AppState {
  service: Service;
  /** Epoch ms when the service started. */
  startedAt: number;
  /** The dashboard's own URL, for the try-it lines. */
  dashboard: string;
  /** How try-it lines spell the CLI, from `clientCommand()`. @default "deno task client" */
  client?: string;
  /** The dashboard server's counters, for /metrics; absent when the app is called in process. */
  http?: HttpStats;
  /** Milliseconds an event stream may stay behind its client before it is closed. @default 30000 */
  sseMaxBehindMs?: number;
}

/** The context a route handler gets: the request, its URL and params, the app state. */
export interface RouteContext {
  req: Request;
  url: URL;
  params: Record<string, string>;
  state: AppState;
}

/** One HTTP method's handler. */
export type RouteHandler = (ctx: RouteContext) => Response | Promise<Response>;

/** A route's handlers keyed by method; other methods get 405, GET also answers HEAD. */
export type Handlers = Partial<Record<"GET" | "POST" | "PUT" | "DELETE" | "PATCH", RouteHandler>>;

/** Type helpers for route files, as in Fresh 2. */
export const define = {
  /** Declares a route's handlers. */
  handlers<T extends Handlers>(handlers: T): T {
    return handlers;
  },
};

const JSON_TYPE = "application/json; charset=utf-8";

/** A JSON response; errors are never HTML. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": JSON_TYPE, ...headers },
  });
}

/** Rows per chunk of {@linkcode jsonRows}: ≈ 0.6 MB of JSON at the sockets table's row size. */
const ROWS_PER_CHUNK = 1000;

/**
 * A JSON object whose last field, `field`, is a long array, sent in chunks as it is
 * serialised: the client reads the first rows while later ones are still being written,
 * and the process never holds the whole text (11.8 MB at 20,000 sockets) twice, as a string
 * and as bytes. `head` holds the other fields. The text equals `JSON.stringify` of the whole.
 */
export function jsonRows(
  head: Record<string, unknown>,
  field: string,
  rows: readonly unknown[],
  status = 200,
): Response {
  const encoder = new TextEncoder();
  const opening = JSON.stringify(head);
  let next = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next === 0) {
        const open = opening === "{}" ? "{" : opening.slice(0, -1) + ",";
        controller.enqueue(encoder.encode(`${open}${JSON.stringify(field)}:[`));
      }
      if (next >= rows.length) {
        controller.enqueue(encoder.encode("]}"));
        controller.close();
        return;
      }
      const end = Math.min(rows.length, next + ROWS_PER_CHUNK);
      const text = JSON.stringify(rows.slice(next, end));
      // The slice's own brackets dropped; a comma between chunks.
      controller.enqueue(encoder.encode((next === 0 ? "" : ",") + text.slice(1, -1)));
      next = end;
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    status,
    headers: { "content-type": JSON_TYPE },
  });
}

/** A 400/404/405 JSON error with a specific message. */
export function jsonError(status: number, message: string, headers: HeadersInit = {}): Response {
  return json({ error: message }, status, headers);
}
