import type { LayoutProps } from "../lib/web/page.tsx";
import { PAGES } from "./_pages.ts";

/** The top navigation: the pages that have a label, in the table's order. */
const NAV = PAGES.flatMap((p) => p.nav === undefined ? [] : [[p.path, p.nav] as const]);

function active(path: string, href: string): boolean {
  return href === "/" ? path === "/" : path === href || path.startsWith(`${href}/`);
}

/** The layout every page renders in: header, navigation, and the islands bundle. */
export default function App({ Component, url, title, state, assets }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title === "sockscope" ? title : `${title} · sockscope`}</title>
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        {assets.jsCss && <link rel="stylesheet" href={assets.jsCss} />}
        {assets.css && <link rel="stylesheet" href={assets.css} />}
        {assets.js && <script type="module" src={assets.js} />}
      </head>
      <body>
        <header class="topbar">
          <a class="brand" href="/">
            <span class="brand-mark" aria-hidden="true">◉</span> sockscope
          </a>
          <nav>
            {NAV.map(([href, label]) => (
              <a
                href={href}
                class={active(url.pathname, href) ? "active" : undefined}
                aria-current={active(url.pathname, href) ? "page" : undefined}
              >
                {label}
              </a>
            ))}
          </nav>
          <span class="topbar-meta mono" title="Dashboard address">
            {state.dashboard || url.host}
          </span>
        </header>
        {assets.js === null && (
          <p class="banner warn">
            Live updates are off: the islands bundle is missing. Run <code>deno task build</code>
            {" "}
            (or start with <code>deno task start</code>, which builds it first).
          </p>
        )}
        {!state.service.wire.available && (
          <p class="banner info" id="wire-off">
            Wire view off: {state.service.wire.reason}. Segments, the real close and{" "}
            <code>?source=wire</code> captures need it; everything else works.
          </p>
        )}
        <main>
          <Component />
        </main>
      </body>
    </html>
  );
}
