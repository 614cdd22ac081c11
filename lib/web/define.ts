/**
 * Fresh's `define` helper, for our Hono-based app: identity functions that
 * exist for type inference, so route files stay typed without ceremony.
 */
import type { Service } from "../net/service.ts";

/** What every route can reach. */
export interface AppState {
  service: Service;
  /** Epoch ms when the service started. */
  startedAt: number;
  /** The dashboard's own URL, for the try-it lines. */
  dashboard: string;
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

/** A JSON response; errors are never HTML. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** A 400/404/405 JSON error with a specific message. */
export function jsonError(status: number, message: string, headers: HeadersInit = {}): Response {
  return json({ error: message }, status, headers);
}
