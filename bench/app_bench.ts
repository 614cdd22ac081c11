/**
 * The tutorial's application protocol: the service's app endpoint (full
 * decoding, packet log with decoded annotations, capture, latency histogram)
 * against a bare Deno server of the same protocol (fixtures/bare_app.ts) and,
 * one request per connection, the tutorial's own Python selectors server
 * (fixtures/app_server.py), all started in the same run, A/B interleaved,
 * server on CPU 0 and the load generator (app_load.ts) on CPU 1.
 *
 * - keep-alive: 8 connections, each sending the next request once the
 *   answer is in (the Python server answers one request per connection, so
 *   it sits this one out);
 * - one request per connection: 8 clients connecting, asking, reading, closing.
 *
 *     deno run -A bench/app_bench.ts [--rounds 3] [--seconds 3] [--conns 8] [--json FILE]
 *
 * Prints a Markdown table, then one JSON line (`{"bench":"app",…}`).
 */
import { benchMain, eachFlag, type RoundArgs, roundFlag } from "./_main.ts";
import { markdownTable } from "./_stats.ts";
import {
  jsonReady,
  median,
  pinPrefix,
  runJson,
  type Spawned,
  spawnServer,
  spawnService,
} from "./_spawn.ts";

/** Servers this bench compares. */
export type AppServer = "bare" | "observed" | "python" | "python-quiet";

interface Args extends RoundArgs {
  /** Keep-alive connections. */
  conns: number;
  /**
   * Clients at once in the one-request-per-connection runs: enough that the
   * server, not the round trips of a few clients, sets the rate.
   */
  oneshotConns: number;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = { rounds: 3, seconds: 3, conns: 8, oneshotConns: 64, json: null };
  eachFlag("app bench", argv, (flag, value) => {
    if (roundFlag(out, flag, value)) return true;
    switch (flag) {
      case "--conns":
        out.conns = Math.max(1, Math.round(Number(value())));
        break;
      case "--oneshot-conns":
        out.oneshotConns = Math.max(1, Math.round(Number(value())));
        break;
      default:
        return false;
    }
    return true;
  });
  return out;
}

async function start(server: AppServer, pin: string[]): Promise<{ s: Spawned; port: number }> {
  if (server === "bare") {
    const s = await spawnServer(
      pin,
      [Deno.execPath(), "run", "-A", "bench/fixtures/bare_app.ts", "--max-seconds", "300"],
      jsonReady,
    );
    return { s, port: s.info.port as number };
  }
  if (server === "python" || server === "python-quiet") {
    // "python" is the tutorial's server as it runs: its four log lines per connection, written
    // a line at a time (to /dev/null, the cheapest terminal). "python-quiet" prints nothing.
    const log = server === "python" ? ["--verbose", "--log-to", "/dev/null"] : [];
    const s = await spawnServer(
      pin,
      ["python3", "bench/fixtures/app_server.py", ...log, "--max-seconds", "300"],
      jsonReady,
    );
    return { s, port: s.info.port as number };
  }
  const s = await spawnService(pin, { flags: ["--no-kernel"] });
  return { s, port: s.info.app as number };
}

/** Requests per second per server and workload (medians), with p99 latency. */
export interface AppBenchResult {
  bench: "app";
  conns: number;
  oneshotConns: number;
  keepalive: Record<string, { reqPerSec: number | null; p99Us: number | null }>;
  oneshot: Record<string, { reqPerSec: number | null; p99Us: number | null }>;
  runs: Record<string, unknown>[];
}

/** Runs the app bench. */
export async function appBench(argv: readonly string[]): Promise<AppBenchResult> {
  const args = parseArgs(argv);
  const [serverPin, loadPin] = await Promise.all([pinPrefix(0), pinPrefix(1)]);
  const plan: [AppServer, "keepalive" | "oneshot"][] = [
    ["bare", "keepalive"],
    ["observed", "keepalive"],
    ["bare", "oneshot"],
    ["observed", "oneshot"],
    ["python", "oneshot"],
    ["python-quiet", "oneshot"],
  ];
  const runs: Record<string, unknown>[] = [];
  for (let round = 0; round < args.rounds; round++) {
    for (const [server, mode] of round % 2 === 0 ? plan : plan.toReversed()) {
      const { s, port } = await start(server, serverPin);
      try {
        const load = await runJson(loadPin, "bench/app_load.ts", [
          "--mode",
          mode,
          "--port",
          String(port),
          "--conns",
          String(mode === "oneshot" ? args.oneshotConns : args.conns),
          "--seconds",
          String(args.seconds),
          "--server-pid",
          String(s.pid),
        ], (args.seconds + 30) * 1000);
        if (typeof load.error === "string") throw new Error(`App load failed: ${load.error}`);
        runs.push({ server, round, ...load });
        console.error(
          `  app ${mode.padEnd(9)} round ${round + 1} ${server.padEnd(12)} ${
            Math.round(load.reqPerSec as number)
          } req/s, p99 ${load.p99Us} µs, server CPU ${
            Math.round((load.serverCpu as number) * 100)
          }%` + ((load.errors as number) > 0 ? `, ${load.errors} errors` : ""),
        );
      } finally {
        await s.stop();
      }
    }
  }
  const result: AppBenchResult = {
    bench: "app",
    conns: args.conns,
    oneshotConns: args.oneshotConns,
    keepalive: {},
    oneshot: {},
    runs,
  };
  for (const [server, mode] of plan) {
    const mine = runs.filter((r) => r.server === server && r.mode === mode);
    result[mode][server] = {
      reqPerSec: median(mine.map((r) => r.reqPerSec as number)),
      p99Us: median(mine.map((r) => r.p99Us as number)),
    };
  }
  return result;
}

/** The table of a result. */
export function appTable(r: AppBenchResult): string {
  const x = (a: number | null | undefined, b: number | null | undefined) =>
    a == null || b == null || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
  const n = (a: number | null | undefined) =>
    a == null ? "–" : Math.round(a).toLocaleString("en-US");
  const k = r.keepalive, o = r.oneshot;
  return markdownTable(
    [
      "app protocol",
      "bare Deno req/s",
      "service req/s",
      "service / bare",
      "tutorial's Python req/s",
      "service / Python",
      "Python, no log lines",
      "service / that",
      "p99 bare/service µs",
    ],
    [
      [
        `keep-alive, ${r.conns} conns`,
        n(k.bare?.reqPerSec),
        n(k.observed?.reqPerSec),
        x(k.observed?.reqPerSec, k.bare?.reqPerSec),
        "–",
        "–",
        "–",
        "–",
        `${n(k.bare?.p99Us)} / ${n(k.observed?.p99Us)}`,
      ],
      [
        `1 request per conn, ${r.oneshotConns} clients`,
        n(o.bare?.reqPerSec),
        n(o.observed?.reqPerSec),
        x(o.observed?.reqPerSec, o.bare?.reqPerSec),
        n(o.python?.reqPerSec),
        x(o.observed?.reqPerSec, o.python?.reqPerSec),
        n(o["python-quiet"]?.reqPerSec),
        x(o.observed?.reqPerSec, o["python-quiet"]?.reqPerSec),
        `${n(o.bare?.p99Us)} / ${n(o.observed?.p99Us)}`,
      ],
    ],
  );
}

if (import.meta.main) {
  await benchMain(() => appBench(Deno.args), appTable, parseArgs(Deno.args).json);
}
