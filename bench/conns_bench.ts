/**
 * Many connections: each server (bare Deno echo, Node's echo, the service
 * itself) is started on CPU 0, then this process (CPU 1) opens `--conns`
 * connections, `--parallel` at a time, and holds them idle.
 *
 * - connect burst: wall time until every connect resolved, how many took
 *   longer than 900 ms (a SYN retry: the listen queue overflowed), and for
 *   the service the time until its endpoint counted them all;
 * - idle memory: RSS growth per connection, after a settle ("cold": from the
 *   idle server to 10,000 held, so it includes what the process pays once
 *   when connections first arrive: code paged in from the executable, V8's
 *   young generation growing), and the marginal cost: RSS growth while
 *   `--extra` more connections are opened on top of the 10,000, per
 *   connection. The extra ones are then closed before anything else runs;
 * - bulk with the connections held: 64 conns × 16 KiB echo (load.ts);
 * - service only: the latency of /api/endpoints while the connections are
 *   held, one kernel sample with tcp_info (`kernel.tookMs`), the whole
 *   /api/sockets response time, and during the bulk run the sockets page's
 *   event stream (`/api/events?packets=0&socketsMs=2000`, what the page asks
 *   for at this size).
 *
 *     deno run -A bench/conns_bench.ts [--conns 10000] [--parallel 256] [--rounds 1]
 *                                      [--servers bare,node,observed] [--json FILE]
 *
 * Prints a Markdown table, then one JSON line (`{"bench":"conns",…}`).
 */
import { benchMain, eachFlag } from "./_main.ts";
import { markdownTable } from "./_stats.ts";
import {
  jsonReady,
  median,
  pinPrefix,
  rssBytes,
  runJson,
  sleep,
  type Spawned,
  spawnServer,
  spawnService,
} from "./_spawn.ts";

/** Servers this bench compares. */
export type ConnsServer = "bare" | "node" | "observed";

interface Args {
  conns: number;
  parallel: number;
  rounds: number;
  servers: ConnsServer[];
  bulkSeconds: number;
  /** Connections opened on top of `conns` to measure the marginal RSS per connection; 0: skip. */
  extra: number;
  json: string | null;
  /** Extra `deno run` flags for the service (e.g. V8 flags), to compare. */
  denoFlags: string[];
  /** Attach a dashboard's event stream to the service during the bulk run. @default true */
  dashboard: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = {
    conns: 10_000,
    parallel: 256,
    rounds: 1,
    // The service first: each server's 10,000 closed connections leave TIME_WAIT sockets for a
    // minute, and the kernel walks every one of them in each sample the service takes.
    servers: ["observed", "bare", "node"],
    bulkSeconds: 3,
    extra: 5_000,
    json: null,
    denoFlags: [],
    dashboard: true,
  };
  eachFlag("conns bench", argv, (flag, value) => {
    switch (flag) {
      case "--conns":
        out.conns = Math.max(1, Math.round(Number(value())));
        break;
      case "--parallel":
        out.parallel = Math.max(1, Math.round(Number(value())));
        break;
      case "--rounds":
        out.rounds = Math.max(1, Math.round(Number(value())));
        break;
      case "--servers":
        out.servers = value().split(",") as ConnsServer[];
        break;
      case "--extra":
        out.extra = Math.max(0, Math.round(Number(value())));
        break;
      case "--bulk-seconds":
        out.bulkSeconds = Math.max(0.5, Number(value()));
        break;
      case "--deno-flag":
        out.denoFlags.push(value());
        break;
      case "--no-dashboard":
        out.dashboard = false;
        break;
      case "--json":
        out.json = value();
        break;
      case "--quick":
        out.conns = 2000;
        out.extra = 1000;
        out.bulkSeconds = 1;
        break;
      default:
        return false;
    }
    return true;
  });
  return out;
}

/** One server's figures. */
export interface ConnsRun {
  server: ConnsServer;
  /** Seconds until every connect resolved. */
  burstSeconds: number;
  /** Connects that took longer than 900 ms (a SYN was dropped and sent again). */
  slowConnects: number;
  failedConnects: number;
  /** Service only: seconds until its endpoint counted every connection. */
  acceptedSeconds: number | null;
  rssBeforeMB: number | null;
  rssAfterMB: number | null;
  /** RSS growth per idle connection from the idle server to `conns` held, KB (1000 bytes). */
  kbPerConn: number | null;
  /** RSS growth per connection while `extra` more were opened on top of `conns`, KB. */
  kbPerConnMarginal: number | null;
  /** Echo MB/s, 64 conns × 16 KiB, with the idle connections held. */
  bulkMBps: number | null;
  bulkServerCpu: number | null;
  /** Service only: /api/endpoints latency while the connections are held (median, max), ms. */
  apiMedianMs: number | null;
  apiMaxMs: number | null;
  /** Service only: one kernel sample with tcp_info (the service's own timing), ms. */
  kernelSampleMs: number | null;
  /** TIME_WAIT sockets on the machine when the kernel was sampled (/proc/net/sockstat). */
  timeWait: number | null;
  /** Service only: the first /api/sockets request and its kernel sample (code not yet optimised), ms. */
  socketsFirstMs: number | null;
  kernelFirstMs: number | null;
  /** Service only: GET /api/sockets, request to last byte, ms (median of 3). */
  socketsMs: number | null;
  socketsCount: number | null;
  socketsMB: number | null;
  /** Service only: bytes the dashboard's event stream delivered while the bulk ran. */
  dashboardMB: number | null;
}

async function start(
  server: ConnsServer,
  pin: string[],
  args: Args,
): Promise<{ s: Spawned; port: number }> {
  if (server === "bare") {
    const s = await spawnServer(
      pin,
      [Deno.execPath(), "run", "-A", "bench/bare_echo.ts", "--max-seconds", "600"],
      jsonReady,
    );
    return { s, port: s.info.port as number };
  }
  if (server === "node") {
    const s = await spawnServer(
      pin,
      ["node", "bench/node_echo.mjs", "--max-seconds", "600", "--backlog", "4096"],
      jsonReady,
    );
    return { s, port: s.info.port as number };
  }
  // The bulk run's 64 connections come on top of the idle ones.
  const s = await spawnService(pin, {
    flags: ["--max-conns", String(args.conns + args.extra + 1000)],
    // Without --deno-flag, the service runs with the start task's flags.
    denoFlags: args.denoFlags.length > 0 ? args.denoFlags : undefined,
  });
  return { s, port: s.info.echo as number };
}

async function burst(
  port: number,
  total: number,
  parallel: number,
): Promise<{ conns: Deno.TcpConn[]; seconds: number; slow: number; failed: number }> {
  const conns: Deno.TcpConn[] = [];
  let next = 0;
  let slow = 0;
  let failed = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      next++;
      const started = performance.now();
      try {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      } catch {
        failed++;
      }
      if (performance.now() - started > 900) slow++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { conns, seconds: (performance.now() - t0) / 1000, slow, failed };
}

/** Requests to /api/sockets per run, and how many of the last ones the figures are taken from. */
const SOCKETS_REQUESTS = 8;
const SOCKETS_MEASURED = 5;

/** TIME_WAIT sockets on the machine (the `tw` of /proc/net/sockstat's TCP line), or null. */
function timeWaitCount(): number | null {
  try {
    const m = /^TCP:.*\btw (\d+)/m.exec(Deno.readTextFileSync("/proc/net/sockstat"));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
}

async function timedFetch(url: string): Promise<{ ms: number; body: Uint8Array }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = new Uint8Array(await res.arrayBuffer());
  return { ms: performance.now() - t0, body };
}

/** Reads an event stream until aborted; counts its bytes. */
function dashboard(url: string): { stop(): Promise<number> } {
  const ac = new AbortController();
  let bytes = 0;
  const done = (async () => {
    try {
      const res = await fetch(url, { signal: ac.signal });
      for await (const chunk of res.body!) bytes += chunk.length;
    } catch {
      // Aborted at the end.
    }
  })();
  return {
    async stop() {
      ac.abort();
      await done;
      return bytes;
    },
  };
}

async function runServer(
  server: ConnsServer,
  args: Args,
  serverPin: string[],
  loadPin: string[],
): Promise<ConnsRun> {
  const { s, port } = await start(server, serverPin, args);
  const api = server === "observed" ? `http://127.0.0.1:${s.info.dashboard}` : null;
  const run: ConnsRun = {
    server,
    burstSeconds: 0,
    slowConnects: 0,
    failedConnects: 0,
    acceptedSeconds: null,
    rssBeforeMB: null,
    rssAfterMB: null,
    kbPerConn: null,
    kbPerConnMarginal: null,
    bulkMBps: null,
    bulkServerCpu: null,
    apiMedianMs: null,
    apiMaxMs: null,
    kernelSampleMs: null,
    timeWait: null,
    socketsFirstMs: null,
    kernelFirstMs: null,
    socketsMs: null,
    socketsCount: null,
    socketsMB: null,
    dashboardMB: null,
  };
  let conns: Deno.TcpConn[] = [];
  let dash: { stop(): Promise<number> } | null = null;
  try {
    await sleep(1000);
    const rss0 = rssBytes(s.pid);
    const t0 = performance.now();
    let accepted: Promise<number> | null = null;
    if (api !== null) {
      // Polls the endpoint's live count while the burst runs (one request in flight).
      accepted = (async () => {
        while (performance.now() - t0 < 20_000) {
          const { endpoints } = await (await fetch(`${api}/api/endpoints`)).json() as {
            endpoints: { name: string; connections: number }[];
          };
          if ((endpoints.find((e) => e.name === "echo")?.connections ?? 0) >= args.conns) {
            return (performance.now() - t0) / 1000;
          }
          await sleep(10);
        }
        return NaN;
      })();
    }
    const b = await burst(port, args.conns, args.parallel);
    conns = b.conns;
    run.burstSeconds = b.seconds;
    run.slowConnects = b.slow;
    run.failedConnects = b.failed;
    if (accepted !== null) run.acceptedSeconds = await accepted;
    // Idle: let the runtime settle (a young-generation GC or two) before reading RSS.
    await sleep(3000);
    const rss1 = rssBytes(s.pid);
    if (rss0 !== null && rss1 !== null) {
      run.rssBeforeMB = rss0 / 1e6;
      run.rssAfterMB = rss1 / 1e6;
      run.kbPerConn = (rss1 - rss0) / conns.length / 1000;
    }
    if (args.extra > 0) {
      // Unhurried (32 at a time: no SYN retries even at a backlog of 511), then a settle.
      const more = (await burst(port, args.extra, 32)).conns;
      await sleep(3000);
      const rss2 = rssBytes(s.pid);
      if (rss1 !== null && rss2 !== null && more.length > 0) {
        run.kbPerConnMarginal = (rss2 - rss1) / more.length / 1000;
      }
      // Back to `conns` before the rest, which is measured at that size.
      await closeWithReset(more);
      await sleep(500);
    }
    if (api !== null) {
      const lat: number[] = [];
      for (let i = 0; i < 20; i++) {
        lat.push((await timedFetch(`${api}/api/endpoints`)).ms);
        await sleep(25);
      }
      run.apiMedianMs = median(lat);
      run.apiMaxMs = Math.max(...lat);
      const took: number[] = [];
      const kernel: number[] = [];
      // The first requests run the decoder and the join in V8's interpreter (the first took
      // 3–4× longer than the fifth); a dashboard that stays open is past that within seconds,
      // so the figures are medians of the last SOCKETS_MEASURED of SOCKETS_REQUESTS, and the
      // first is kept apart.
      for (let i = 0; i < SOCKETS_REQUESTS; i++) {
        // Past the kernel table's 500 ms cache, so each request samples the kernel.
        await sleep(600);
        const { ms, body } = await timedFetch(`${api}/api/sockets`);
        const parsed = JSON.parse(new TextDecoder().decode(body)) as {
          count: number;
          kernel: { tookMs: number | null };
        };
        if (i === 0) {
          run.socketsFirstMs = ms;
          run.kernelFirstMs = parsed.kernel.tookMs;
        }
        if (i < SOCKETS_REQUESTS - SOCKETS_MEASURED) continue;
        took.push(ms);
        if (parsed.kernel.tookMs !== null) kernel.push(parsed.kernel.tookMs);
        run.socketsCount = parsed.count;
        run.socketsMB = body.length / 1e6;
      }
      run.timeWait = timeWaitCount();
      run.socketsMs = median(took);
      run.kernelSampleMs = median(kernel);
      // What the sockets page asks for at this size: the joined table every 2 s.
      if (args.dashboard) dash = dashboard(`${api}/api/events?packets=0&socketsMs=2000`);
    }
    const load = await runJson(loadPin, "bench/load.ts", [
      "--mode",
      "throughput",
      "--port",
      String(port),
      "--conns",
      "64",
      "--size",
      "16384",
      "--seconds",
      String(args.bulkSeconds),
      "--warmup",
      "0.5",
      "--server-pid",
      String(s.pid),
    ], (args.bulkSeconds + 30) * 1000);
    if (typeof load.error === "string") throw new Error(`Bulk load failed: ${load.error}`);
    run.bulkMBps = (load.bytesPerSec as number) / 1e6;
    run.bulkServerCpu = load.serverCpu as number | null;
    if (dash !== null) run.dashboardMB = (await dash.stop()) / 1e6;
    dash = null;
  } finally {
    await dash?.stop();
    await closeWithReset(conns);
    await s.stop();
  }
  return run;
}

/**
 * Closes the held connections without leaving 10,000 TIME_WAIT sockets behind. Each one sends a
 * byte and leaves the echo unread; closing a socket with unread data sends RST instead of FIN,
 * and a reset connection has no TIME_WAIT. Without this, each server's round left its
 * connections in TIME_WAIT for a minute, and the kernel walked all of them in every later
 * round's samples and connect bursts.
 */
async function closeWithReset(conns: Deno.TcpConn[]): Promise<void> {
  const byte = new Uint8Array([0x2e]);
  await Promise.allSettled(conns.map((c) => c.write(byte)));
  // The echoes come back within milliseconds on loopback; a late one only means a FIN.
  await sleep(300);
  for (const c of conns) {
    try {
      c.close();
    } catch {
      // Reset by the server already.
    }
  }
}

/** Everything the bench measured: one run per server and round. */
export interface ConnsBenchResult {
  bench: "conns";
  conns: number;
  parallel: number;
  runs: ConnsRun[];
  /** Medians per server. */
  summary: Record<string, ConnsRun>;
}

/** Runs the bench. */
export async function connsBench(argv: readonly string[]): Promise<ConnsBenchResult> {
  const args = parseArgs(argv);
  const [serverPin, loadPin] = await Promise.all([pinPrefix(0), pinPrefix(1)]);
  const runs: ConnsRun[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const order = round % 2 === 0 ? args.servers : args.servers.toReversed();
    for (const server of order) {
      const r = await runServer(server, args, serverPin, loadPin);
      runs.push(r);
      console.error(
        `  conns ${server.padEnd(9)} burst ${
          r.burstSeconds.toFixed(2)
        } s (${r.slowConnects} slow, ` +
          `${r.failedConnects} failed)` +
          (r.acceptedSeconds === null ? "" : `, all accepted ${r.acceptedSeconds.toFixed(2)} s`) +
          `, ${r.kbPerConn?.toFixed(2)} KB/conn (${
            r.kbPerConnMarginal?.toFixed(2)
          } marginal), bulk ${r.bulkMBps?.toFixed(0)} MB/s` +
          (r.socketsMs === null
            ? ""
            : `, /api/sockets ${r.socketsMs.toFixed(0)} ms (${r.socketsCount} rows, ` +
              `${r.socketsMB?.toFixed(1)} MB), kernel sample ${r.kernelSampleMs?.toFixed(1)} ms, ` +
              `/api/endpoints ${r.apiMedianMs?.toFixed(1)}/${r.apiMaxMs?.toFixed(1)} ms`),
      );
    }
  }
  const summary: Record<string, ConnsRun> = {};
  for (const server of args.servers) {
    const mine = runs.filter((r) => r.server === server);
    const m = (k: keyof ConnsRun) => median(mine.map((r) => r[k] as number | null));
    summary[server] = {
      server,
      burstSeconds: m("burstSeconds")!,
      slowConnects: m("slowConnects")!,
      failedConnects: m("failedConnects")!,
      acceptedSeconds: m("acceptedSeconds"),
      rssBeforeMB: m("rssBeforeMB"),
      rssAfterMB: m("rssAfterMB"),
      kbPerConn: m("kbPerConn"),
      kbPerConnMarginal: m("kbPerConnMarginal"),
      bulkMBps: m("bulkMBps"),
      bulkServerCpu: m("bulkServerCpu"),
      apiMedianMs: m("apiMedianMs"),
      apiMaxMs: m("apiMaxMs"),
      kernelSampleMs: m("kernelSampleMs"),
      timeWait: m("timeWait"),
      socketsFirstMs: m("socketsFirstMs"),
      kernelFirstMs: m("kernelFirstMs"),
      socketsMs: m("socketsMs"),
      socketsCount: m("socketsCount"),
      socketsMB: m("socketsMB"),
      dashboardMB: m("dashboardMB"),
    };
  }
  return { bench: "conns", conns: args.conns, parallel: args.parallel, runs, summary };
}

const f = (x: number | null, digits = 2) =>
  x === null || !Number.isFinite(x) ? "–" : x.toFixed(digits);

/** The table of a result: one row per server. */
export function connsTable(r: ConnsBenchResult): string {
  const bare = r.summary.bare?.bulkMBps ?? null;
  return markdownTable(
    [
      `${r.conns.toLocaleString("en-US")} conns`,
      `burst (${r.parallel} parallel) s`,
      "SYN retries",
      "all accepted s",
      "KB/idle conn (marginal)",
      "bulk MB/s (held)",
      "vs bare",
      "/api/sockets ms (first)",
      "kernel sample ms (first; TIME_WAITs)",
      "/api/endpoints ms",
    ],
    Object.values(r.summary).map((s) => [
      s.server,
      f(s.burstSeconds),
      String(s.slowConnects),
      f(s.acceptedSeconds),
      `${f(s.kbPerConn)} (${f(s.kbPerConnMarginal)})`,
      f(s.bulkMBps, 0),
      bare === null || s.bulkMBps === null ? "–" : `${(s.bulkMBps / bare).toFixed(2)}×`,
      s.socketsMs === null
        ? "–"
        : `${f(s.socketsMs, 0)} (${f(s.socketsFirstMs, 0)}; ${s.socketsCount} rows)`,
      s.kernelSampleMs === null
        ? "–"
        : `${f(s.kernelSampleMs, 1)} (${f(s.kernelFirstMs, 1)}; ${s.timeWait ?? "–"})`,
      s.apiMedianMs === null ? "–" : `${f(s.apiMedianMs, 1)} (max ${f(s.apiMaxMs, 1)})`,
    ]),
  );
}

if (import.meta.main) {
  await benchMain(() => connsBench(Deno.args), connsTable, parseArgs(Deno.args).json);
}
