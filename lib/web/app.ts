/**
 * The dashboard's HTTP app from a table of routes and pages: method dispatch
 * (405 with `Allow`, HEAD from GET), the trust rules (Host, cross-site
 * mutations, the token), the pages in their layout, static files, JSON 404s.
 * The table itself is `routes/_routes.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import type { ComponentType } from "preact";
import { type AppState, type Handlers, jsonError, type RouteContext } from "./define.ts";
import { type LayoutProps, pageHandlers, type PageModule } from "./page.tsx";
import { ParamError } from "./params.ts";
import { StaticFiles } from "./static_files.ts";
import { bearerToken, checkHost, checkMutation, cookieValue, TokenCheck } from "./trust.ts";

/** Options of {@linkcode buildApp} (and `createApp`). */
export interface AppOptions {
  /** When set, every request must carry it (`Authorization: Bearer …` or `?token=`). */
  token?: string;
  /**
   * The address the dashboard listens on (`--host`): requests whose `Host` names
   * anything else, `localhost` or `allowHosts` aside, get 421 (DNS rebinding).
   * Unset, `Host` is not checked: right in process (`app.fetch`), where no socket
   * listens for a rebound name; whoever serves the app over a socket sets it.
   */
  bind?: string;
  /** More names `Host` may give, from `--allow-host`. @default [] */
  allowHosts?: readonly string[];
}

/** A page of the dashboard: its path, its module, and its label in the navigation if any. */
export interface PageEntry {
  /** The route, with `:params`. */
  path: string;
  /** The page module (`routes/*.tsx`). */
  // deno-lint-ignore no-explicit-any
  module: PageModule<any>;
  /** The label in the top navigation; pages without one are reached by links. */
  nav?: string;
}

/** What the app serves. */
export interface AppTable {
  /** API routes and their handlers, keyed by method. */
  routes: ReadonlyArray<readonly [string, Handlers]>;
  /** The pages, rendered inside `layout`. */
  pages: readonly PageEntry[];
  /** The layout every page renders in. */
  layout: ComponentType<LayoutProps>;
  /** The folder static files are served from. */
  staticDir: URL;
}

/** Builds the HTTP app serving `table` for a running service. */
export function buildApp(table: AppTable, state: AppState, options: AppOptions = {}): Hono {
  const app = new Hono();
  // Before routing and before the token: a rebound name or another site's page
  // is refused even when the browser sends the token's cookie along.
  app.use(trustMiddleware(options));
  if (options.token !== undefined) app.use(tokenMiddleware(options.token));
  for (const [path, handlers] of table.routes) {
    const route = dispatch(handlers, state);
    app.all(path, (c) => route(c.req.raw, c.req.param() as Record<string, string>));
  }
  const files = new StaticFiles(table.staticDir);
  const assets = async () => ({
    css: await files.url("/styles.css"),
    js: await files.url("/build/_client.js"),
    jsCss: await files.url("/build/_client.css"),
  });
  for (const page of table.pages) {
    const route = dispatch(pageHandlers(page.module, table.layout, assets), state);
    app.all(page.path, (c) => route(c.req.raw, c.req.param() as Record<string, string>));
  }
  app.use(async function serveStatic(c, next) {
    const res = await files.serve(c.req.raw);
    if (res !== null) return res;
    await next();
  });
  app.notFound((c) => jsonError(404, `No route "${new URL(c.req.url).pathname}"`));
  return app;
}

/** Refuses a `Host` the dashboard does not answer to, and cross-site mutations. */
function trustMiddleware(options: AppOptions): MiddlewareHandler {
  const hosts = options.bind === undefined
    ? null
    : { bind: options.bind, allowHosts: options.allowHosts ?? [] };
  return async function trust(c, next) {
    const req = c.req.raw;
    const host = req.headers.get("host") ?? new URL(req.url).host;
    const refused = (hosts === null ? null : checkHost(host, hosts)) ??
      checkMutation(req.method, req.headers, host);
    if (refused !== null) return jsonError(refused.status, refused.error);
    await next();
  };
}

/** Requires `token` (header, query or cookie); a query token is kept in a cookie. */
function tokenMiddleware(token: string): MiddlewareHandler {
  const check = new TokenCheck(token);
  return async function requireToken(c, next) {
    const url = new URL(c.req.url);
    const given = bearerToken(c.req.header("authorization")) ??
      url.searchParams.get("token") ??
      cookieValue(c.req.header("cookie"), "sockscope_token");
    if (!await check.matches(given)) {
      return jsonError(401, "Token required: pass ?token= or Authorization: Bearer");
    }
    await next();
    if (url.searchParams.has("token")) {
      c.res.headers.append(
        "set-cookie",
        `sockscope_token=${token}; HttpOnly; SameSite=Strict; Path=/`,
      );
    }
  };
}

/** One route's handlers as a function of the request: 405 for other methods, HEAD from GET. */
function dispatch(handlers: Handlers, state: AppState) {
  const allow = [...Object.keys(handlers), ...("GET" in handlers ? ["HEAD"] : [])].join(", ");
  return async function route(req: Request, params: Record<string, string>): Promise<Response> {
    const method = req.method === "HEAD" ? "GET" : req.method;
    const fn = handlers[method as keyof Handlers];
    if (fn === undefined) {
      return jsonError(405, `Method "${req.method}" not allowed: use ${allow}`, { allow });
    }
    const ctx: RouteContext = { req, url: new URL(req.url), params, state };
    try {
      const res = await fn(ctx);
      if (req.method !== "HEAD") return res;
      // Nobody reads a HEAD body: cancel it so a stream (SSE) stops producing.
      await res.body?.cancel();
      return new Response(null, res);
    } catch (err) {
      if (err instanceof ParamError) return jsonError(400, err.message);
      console.error(err);
      return jsonError(500, `Internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}
