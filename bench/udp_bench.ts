/**
 * UDP echo, 64 B datagrams: the service's UDP endpoint against a bare Deno
 * echo (`receive(buf)` into one buffer) and Node's `dgram` echo, started in
 * the same run, A/B interleaved, server on CPU 0 and the load generator
 * (udp_load.ts, batched through FFI) on CPU 1. Two workloads: 64 datagrams in
 * flight (echoes per second, after 1 s of warm-up) and 50k/s paced (loss, after
 * 2 s at that rate: the first JIT compilations pause a server long enough to
 * overflow a socket buffer). The service runs with `--udp-plain` (Deno's
 * socket) and, unless `--no-fast`, also with its default batched FFI path.
 *
 *     deno run -A bench/udp_bench.ts [--rounds 3] [--seconds 3] [--rate 50000]
 *                                   [--no-fast] [--json FILE]
 *
 * Prints a Markdown table, then one JSON line (`{"bench":"udp",…}`).
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
export type UdpServer = "bare" | "node" | "observed" | "observed-fast";

interface Args extends RoundArgs {
  rate: number;
  fast: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = { rounds: 3, seconds: 3, rate: 50_000, fast: true, json: null };
  eachFlag("UDP bench", argv, (flag, value) => {
    if (roundFlag(out, flag, value)) return true;
    switch (flag) {
      case "--rate":
        out.rate = Math.max(1000, Number(value()));
        break;
      case "--no-fast":
        out.fast = false;
        break;
      default:
        return false;
    }
    return true;
  });
  return out;
}

async function start(server: UdpServer, pin: string[]): Promise<{ s: Spawned; port: number }> {
  if (server === "bare") {
    const s = await spawnServer(
      pin,
      [Deno.execPath(), "run", "-A", "bench/fixtures/bare_udp_echo.ts", "--max-seconds", "300"],
      jsonReady,
    );
    return { s, port: s.info.udpPort as number };
  }
  if (server === "node") {
    const s = await spawnServer(
      pin,
      ["node", "bench/node_echo.mjs", "--max-seconds", "300"],
      jsonReady,
    );
    return { s, port: s.info.udpPort as number };
  }
  const s = await spawnService(pin, {
    flags: server === "observed-fast" ? ["--no-kernel"] : ["--udp-plain", "--no-kernel"],
  });
  return { s, port: s.info.udp as number };
}

/** One figure per server and workload, medians of the rounds. */
export interface UdpBenchResult {
  bench: "udp";
  rate: number;
  servers: UdpServer[];
  /** Echoes per second with 64 in flight. */
  flight: Record<string, number | null>;
  /** Server CPU (fraction of a core) in the flight runs. */
  flightCpu: Record<string, number | null>;
  /** Loss in percent at `rate` per second, paced. */
  pacedLossPct: Record<string, number | null>;
  runs: Record<string, unknown>[];
}

/** Runs the UDP bench and returns its medians. */
export async function udpBench(argv: readonly string[]): Promise<UdpBenchResult> {
  const args = parseArgs(argv);
  const [serverPin, loadPin] = await Promise.all([pinPrefix(0), pinPrefix(1)]);
  const servers: UdpServer[] = [
    "bare",
    "node",
    "observed",
    ...(args.fast ? ["observed-fast" as const] : []),
  ];
  const runs: Record<string, unknown>[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const order = round % 2 === 0 ? servers : servers.toReversed();
    for (const server of order) {
      for (const mode of ["flight", "paced"] as const) {
        const { s, port } = await start(server, serverPin);
        try {
          const load = await runJson(loadPin, "bench/udp_load.ts", [
            "--mode",
            mode,
            "--port",
            String(port),
            "--seconds",
            String(args.seconds),
            "--rate",
            String(args.rate),
            // Past the JIT's first compilations: their pauses, not the steady state, drop datagrams.
            "--warmup",
            mode === "paced" ? "2" : "1",
            "--server-pid",
            String(s.pid),
          ], (args.seconds + 20) * 1000);
          if (typeof load.error === "string") throw new Error(`UDP load failed: ${load.error}`);
          runs.push({ server, mode, round, ...load });
          console.error(
            `  udp ${mode} round ${round + 1} ${server.padEnd(13)} ` +
              (mode === "flight"
                ? `${Math.round(load.perSec as number)}/s, server CPU ${
                  Math.round((load.serverCpu as number) * 100)
                }%`
                : `loss ${(load.lossPct as number).toFixed(3)}% of ${load.sent}`),
          );
        } finally {
          await s.stop();
        }
      }
    }
  }
  const pick = (server: UdpServer, mode: string, key: string) =>
    median(runs.filter((r) => r.server === server && r.mode === mode).map((r) => r[key] as number));
  const result: UdpBenchResult = {
    bench: "udp",
    rate: args.rate,
    servers,
    flight: {},
    flightCpu: {},
    pacedLossPct: {},
    runs,
  };
  for (const s of servers) {
    result.flight[s] = pick(s, "flight", "perSec");
    result.flightCpu[s] = pick(s, "flight", "serverCpu");
    result.pacedLossPct[s] = pick(s, "paced", "lossPct");
  }
  return result;
}

/** The table of a result: one row per server. */
export function udpTable(r: UdpBenchResult): string {
  const node = r.flight.node ?? null;
  const bare = r.flight.bare ?? null;
  const x = (a: number | null, b: number | null) =>
    a === null || b === null || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
  return markdownTable(
    [
      "UDP echo 64 B",
      "64 in flight /s",
      "vs bare Deno",
      "vs Node",
      "server CPU",
      `loss at ${r.rate / 1000}k/s`,
    ],
    r.servers.map((s) => [
      s,
      r.flight[s] === null ? "–" : Math.round(r.flight[s]!).toLocaleString("en-US"),
      x(r.flight[s], bare),
      x(r.flight[s], node),
      r.flightCpu[s] === null ? "–" : `${Math.round(r.flightCpu[s]! * 100)}%`,
      r.pacedLossPct[s] === null ? "–" : `${r.pacedLossPct[s]!.toFixed(3)}%`,
    ]),
  );
}

if (import.meta.main) {
  await benchMain(() => udpBench(Deno.args), udpTable, parseArgs(Deno.args).json);
}
