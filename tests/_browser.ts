/**
 * The browser tests' harness: a service on port 0 for every endpoint, its
 * dashboard served in process, and Debian's Chromium (through playwright-core)
 * pointed at it; screenshots go to shots/. Private to tests/.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { type Browser, chromium, type Page } from "playwright-core";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import { ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { Service } from "../lib/net/service.ts";
import type { AppState } from "../lib/web/define.ts";
import { serveHttp } from "../lib/web/http_server.ts";
import { createApp } from "../routes/_routes.ts";

const CHROMIUM = Deno.env.get("SOCKSCOPE_CHROMIUM") ?? "/usr/bin/chromium";
/** True when the browser tests are to be skipped. */
export const SKIP = Deno.env.get("SOCKSCOPE_SKIP_BROWSER") === "1";
const ROOT = new URL("../", import.meta.url);
/** Where screenshots go. */
export const SHOTS = new URL("shots/", ROOT);
/** The browser window every test uses. */
export const VIEWPORT = { width: 1440, height: 900 };
/** Options every browser test passes to `Deno.test`. */
export const BROWSER_TEST = { ignore: SKIP, sanitizeOps: false, sanitizeResources: false };

/** A service on port 0 for every endpoint, its dashboard, and a browser pointed at it. */
export interface Harness extends AsyncDisposable {
  service: Service;
  base: string;
  browser: Browser;
  page: Page;
  port(name: string): number;
}

/** Options of {@linkcode start}. */
export interface HarnessOptions {
  /** Default timeout of the page's waits and actions, in ms: generous, for a busy machine. @default 15000 */
  timeoutMs?: number;
  /** Size of the service's full-payload capture. @default 67108864 */
  captureBytes?: number;
  /** The dashboard's `--token`; pages need `?token=` once to get its cookie. @default none */
  token?: string;
  /** The browser window, e.g. 1280 px wide for what a laptop shows. @default VIEWPORT */
  viewport?: { width: number; height: number };
  /** Turn the service's wire view on (needs root or CAP_NET_RAW). @default false */
  wire?: boolean;
}

async function requireChromium(): Promise<void> {
  try {
    await Deno.stat(CHROMIUM);
  } catch {
    throw new Error(
      `Browser tests need Chromium at ${CHROMIUM} (apt-get install chromium); ` +
        "set SOCKSCOPE_SKIP_BROWSER=1 to skip them",
    );
  }
}

const BUNDLES = ["static/build/_client.js", "static/build/_sockets_worker.js"];
const SOURCES = ["islands/", "lib/"];

async function newestIn(dir: URL): Promise<number> {
  let newest = 0;
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.isDirectory ? `${entry.name}/` : entry.name, dir);
    if (entry.isDirectory) newest = Math.max(newest, await newestIn(url));
    else if (/\.tsx?$/.test(entry.name)) {
      newest = Math.max(newest, (await Deno.stat(url)).mtime?.getTime() ?? Infinity);
    }
  }
  return newest;
}

/** True when every bundle is newer than every source file it could contain. */
async function bundleIsFresh(): Promise<boolean> {
  let built = Infinity;
  for (const path of BUNDLES) {
    try {
      built = Math.min(built, (await Deno.stat(new URL(path, ROOT))).mtime?.getTime() ?? 0);
    } catch {
      return false;
    }
  }
  for (const dir of SOURCES) if (await newestIn(new URL(dir, ROOT)) > built) return false;
  return true;
}

let built: Promise<void> | undefined;

/**
 * Bundles the islands once per run, as `deno task start` does before
 * serving. Test files run in parallel, and a bundle rewritten while another
 * file's browser loads it breaks that page: a lock file serialises the
 * builds, and a bundle newer than its sources is left alone.
 */
function build(): Promise<void> {
  built ??= (async () => {
    const tmp = Deno.env.get("TMPDIR") ?? "/tmp";
    const name = ROOT.pathname.replaceAll(/[^A-Za-z0-9]+/g, "_");
    const lock = await Deno.open(`${tmp}/sockscope-build${name}lock`, {
      create: true,
      write: true,
    });
    try {
      await lock.lock(true);
      if (await bundleIsFresh()) return;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "build"],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(`deno task build failed: ${new TextDecoder().decode(out.stderr)}`);
      }
    } finally {
      // Closing the file releases the lock.
      lock.close();
    }
  })();
  return built;
}

/** Starts the service, its dashboard and a browser; dispose of the result to stop them all. */
export async function start(options: HarnessOptions = {}): Promise<Harness> {
  await requireChromium();
  await build();
  const service = new Service({
    ports: Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0])),
    kernel: new KernelTable({ minIntervalMs: 0 }),
    captureBytes: options.captureBytes,
    wire: options.wire,
  });
  const state: AppState = { service, startedAt: Date.now(), dashboard: "" };
  const ac = new AbortController();
  // The server main.ts runs, so the pages are tested through its timeouts and cap, and bound
  // as main.ts binds it: the Host check applies to every browser test.
  const server = serveHttp(
    createApp(state, { token: options.token, bind: "127.0.0.1" }).fetch,
    { signal: ac.signal },
  );
  state.dashboard = `127.0.0.1:${server.addr.port}`;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      timeout: 20_000,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const context = await browser.newContext({ viewport: options.viewport ?? VIEWPORT });
    context.setDefaultTimeout(options.timeoutMs ?? 15_000);
    const page = await context.newPage();
    page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
    return {
      service,
      base: `http://${state.dashboard}`,
      browser,
      page,
      port(name) {
        return (service.tcp.get(name) ?? service.udp.get(name))!.port;
      },
      async [Symbol.asyncDispose]() {
        await browser!.close().catch(() => {});
        ac.abort();
        await Promise.allSettled([server.finished, service.close()]);
      },
    };
  } catch (err) {
    await browser?.close().catch(() => {});
    ac.abort();
    await Promise.allSettled([server.finished, service.close()]);
    throw err;
  }
}

/** Opens a page and waits until `island` is hydrated. */
export async function open(h: Harness, path: string, island: string): Promise<void> {
  await h.page.goto(`${h.base}${path}`);
  await h.page.waitForSelector(`[data-island="${island}"][data-hydrated]`);
}

/** Saves a screenshot of the page as shots/<name>.png. */
export async function shot(h: Harness, name: string, fullPage = false): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  await h.page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage });
}
