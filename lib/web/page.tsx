/**
 * Pages, Fresh-style: a route file under `routes/` exports an optional
 * `handler` that returns `page(data)` (or any Response) and a default
 * component that renders that data inside the `routes/_app.tsx` layout.
 */
import type { ComponentType, VNode } from "preact";
import { renderToString } from "preact-render-to-string";
import { visibleControls } from "../view/format.ts";
import type { AppState, Handlers, RouteContext } from "./define.ts";

/** What a page component gets. */
export interface PageProps<D> {
  data: D;
  url: URL;
  params: Record<string, string>;
  state: AppState;
}

/** What a page handler returns to have its page rendered. */
export interface PageResult<D> {
  readonly data: D;
  /** @default 200 */
  readonly status?: number;
  /** Shown in the tab and the layout's heading. */
  readonly title?: string;
}

/** Renders the route's page with `data` (Fresh's `page()`). */
export function page<D>(data: D, options: { status?: number; title?: string } = {}): PageResult<D> {
  return { data, ...options };
}

/** A page handler: returns the page's data, or a Response (a redirect, an error). */
export type PageHandler<D> = (
  ctx: RouteContext,
) => PageResult<D> | Response | Promise<PageResult<D> | Response>;

/** A route file under `routes/`, as imported with `import * as`. */
export interface PageModule<D> {
  handler?: { GET?: PageHandler<D>; POST?: PageHandler<D> };
  default: ComponentType<PageProps<D>>;
  /** The page's title when its handler gives none. */
  title?: string;
}

/** Asset URLs the layout links, versioned so they can be cached for good. */
export interface LayoutAssets {
  /** The stylesheet. */
  css: string | null;
  /** The islands bundle, or null when `deno task build` has not run. */
  js: string | null;
  /** The bundle's stylesheet (uPlot's rules). */
  jsCss: string | null;
}

/** What the layout (`routes/_app.tsx`) gets. */
export interface LayoutProps {
  Component: () => VNode;
  url: URL;
  title: string;
  state: AppState;
  assets: LayoutAssets;
}

/** Finds the current asset URLs (a request's worth of file stats). */
export type AssetResolver = () => Promise<LayoutAssets>;

/** A page's handlers, keyed by method. */
export interface PageHandlers {
  // deno-lint-ignore no-explicit-any
  GET?: PageHandler<any>;
  // deno-lint-ignore no-explicit-any
  POST?: PageHandler<any>;
}

type DataOf<R> = R extends PageResult<infer D> ? D : never;

/** The data type a page's handlers produce (a union when they return several shapes). */
export type HandlerData<H> = H extends { GET?: infer F }
  ? F extends (ctx: RouteContext) => infer R ? DataOf<Awaited<R>> : never
  : never;

/** Page helpers in the style of Fresh 2's `define`. */
export const definePage = {
  /** Declares a page's handlers; the data type flows to the page component. */
  handlers<H extends PageHandlers>(handlers: H): H {
    return handlers;
  },
  /** Declares a page component whose data is whatever the route's handler returns. */
  page<H extends PageHandlers>(
    component: ComponentType<PageProps<HandlerData<H>>>,
  ): ComponentType<PageProps<HandlerData<H>>> {
    return component;
  },
};

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  // Pages show live numbers: never serve a stale copy.
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  // Islands come from our own bundle only; no inline script runs on any page.
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
};

/**
 * Turns a page module into route handlers (GET, HEAD, and POST where the
 * page has one) that render the page inside the layout.
 */
export function pageHandlers<D>(
  mod: PageModule<D>,
  layout: ComponentType<LayoutProps>,
  assets: AssetResolver,
): Handlers {
  const Page = mod.default;
  const Layout = layout;
  const render = async (ctx: RouteContext, result: PageResult<D>): Promise<Response> => {
    const props: PageProps<D> = {
      data: result.data,
      url: ctx.url,
      params: ctx.params,
      state: ctx.state,
    };
    const html = renderToString(
      <Layout
        Component={() => <Page {...props} />}
        url={ctx.url}
        title={result.title ?? mod.title ?? "sockscope"}
        state={ctx.state}
        assets={await assets()}
      />,
    );
    // Payload text (chat lines, decoded notes in title attributes) may hold ESC or NUL: markup
    // never does, so the whole page is the one place to make them visible for curl's sake.
    return new Response(`<!DOCTYPE html>${visibleControls(html)}`, {
      status: result.status ?? 200,
      headers: PAGE_HEADERS,
    });
  };
  const method = (fn: PageHandler<D> | undefined) =>
    async function renderPage(ctx: RouteContext) {
      const result = fn === undefined ? page(undefined as D) : await fn(ctx);
      return result instanceof Response ? result : render(ctx, result);
    };
  const handlers: Handlers = { GET: method(mod.handler?.GET) };
  if (mod.handler?.POST !== undefined) handlers.POST = method(mod.handler.POST);
  return handlers;
}
