/**
 * `deno task bench`: the cost of observation, measured against a bare Deno
 * echo started in the same run.
 *
 * For each workload, the bare server (bare_echo.ts) and the observed one
 * (observed_echo.ts, sockscope's Service) are run A/B interleaved, the order
 * alternating by round; servers are pinned to core 0 and the load generator
 * (load.ts, its own process) to core 1. Each run starts a fresh server, so no
 * run inherits another's heap. The table shows each server's medians and the
 * median of the per-round observed/bare ratios (paired, so slow drift of the
 * machine cancels).
 *
 * The machine may be shared (other people's tests): each run is preceded by
 * a bounded wait for a quiet moment, the CPU used outside the server and the
 * load generator is measured, contended runs are repeated within a budget,
 * and medians are taken over uncontended runs when there are any.
 *
 * Then the other workloads of issue 5, each its own module that starts its
 * own servers (and can run alone): `udp` (udp_bench.ts: against bare Deno and
 * Node's dgram, plus the batched FFI path), `app` (app_bench.ts: the
 * tutorial's protocol against a bare Deno server and the tutorial's Python
 * server), `conns` (conns_bench.ts: 10,000 connections: connect burst, idle
 * memory, bulk with them held, kernel table and /api/sockets). Last, one
 * table of every target with its figure, reference and ratio.
 *
 * The observed server runs with the V8 flags `deno task start` uses
 * (START_V8_FLAGS); `--deno-flag F` (repeatable) replaces them, to compare.
 *
 *     deno task bench [--quick] [--rounds N] [--seconds S] [--warmup S]
 *                     [--only NAME,…] [--dashboard] [--json FILE]
 *                     [--service-options JSON] [--quiet-wait S] [--retries N]
 *                     [--window BYTES] [--deno-flag F]
 */
import { appBench, type AppBenchResult, appTable } from "./app_bench.ts";
import { connsBench, type ConnsBenchResult, connsTable } from "./conns_bench.ts";
import type { LoadResult } from "./load.ts";
import { parseOptionsJson } from "./_server.ts";
import { lines, START_V8_FLAGS, terminate } from "./_spawn.ts";
import { busyTicks, fmt, markdownTable, median, ratio } from "./_stats.ts";
import { udpBench, type UdpBenchResult, udpTable } from "./udp_bench.ts";

/** One workload of the table. */
export interface Workload {
  name: string;
  label: string;
  mode: "throughput" | "rtt";
  conns: number;
  size: number;
}

/** The workloads in table order. */
export const WORKLOADS: readonly Workload[] = [
  { name: "tp-1x64", label: "echo 1 conn × 64 B", mode: "throughput", conns: 1, size: 64 },
  { name: "tp-1x16k", label: "echo 1 conn × 16 KiB", mode: "throughput", conns: 1, size: 16384 },
  { name: "tp-64x64", label: "echo 64 conns × 64 B", mode: "throughput", conns: 64, size: 64 },
  {
    name: "tp-64x16k",
    label: "echo 64 conns × 16 KiB",
    mode: "throughput",
    conns: 64,
    size: 16384,
  },
  { name: "rtt-32x64", label: "round trips 32 conns × 64 B", mode: "rtt", conns: 32, size: 64 },
];

/** The other benchmarks, run after the echo workloads; `--only` selects them by these names. */
// The 10,000-connection bench first: the app bench's one connection per request leaves tens of
// thousands of TIME_WAIT sockets for a minute, and every kernel sample walks them all.
export const EXTRAS = ["conns", "udp", "app"] as const;

/** One of {@linkcode EXTRAS}. */
export type Extra = typeof EXTRAS[number];

/** Flags of the orchestrator. */
export interface BenchArgs {
  /** @default 3 */
  rounds: number;
  /** Measured seconds per run. @default 3 */
  seconds: number;
  /** Seconds of traffic before measuring. @default 0.5 */
  warmup: number;
  /** Unechoed bytes per connection in throughput runs. @default 131072 */
  window: number;
  /** Workload names to run. @default all */
  only: string[] | null;
  /** Run the observed server with a dashboard-like packet-log consumer. */
  dashboard: boolean;
  /** Extra service options for the observed server, as JSON. @default null */
  serviceOptions: string | null;
  /** `deno run` flags for the observed server. @default START_V8_FLAGS, as `deno task start` */
  denoFlags: string[] | null;
  /** Where to write the results as JSON. */
  json: string | null;
  /** Seconds the whole bench may spend waiting for other work on the machine to stop. @default 30 */
  quietWait: number;
  /** Contended runs repeated, in the whole bench. @default 6 */
  retries: number;
}

/** Parses the flags (`--quick` is 1 round of 1 s); throws TypeError or RangeError. */
export function parseBenchArgs(args: readonly string[]): BenchArgs {
  const out: BenchArgs = {
    rounds: 3,
    seconds: 3,
    warmup: 0.5,
    window: 131072,
    only: null,
    dashboard: false,
    serviceOptions: null,
    denoFlags: null,
    json: null,
    quietWait: 30,
    retries: 6,
  };
  const value = (i: number) => {
    if (i + 1 >= args.length) throw new TypeError(`Cannot run bench: ${args[i]} needs a value`);
    return args[i + 1];
  };
  const num = (i: number, min: number, max: number) => {
    const n = Number(value(i));
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new RangeError(
        `Cannot run bench: ${args[i]} "${args[i + 1]}" is not in ${min}..${max}`,
      );
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    switch (args[i]) {
      case "--quick":
        out.rounds = 1;
        out.seconds = 1;
        out.warmup = 0.25;
        out.quietWait = 5;
        out.retries = 2;
        break;
      case "--dashboard":
        out.dashboard = true;
        break;
      case "--rounds":
        out.rounds = Math.round(num(i++, 1, 50));
        break;
      case "--seconds":
        out.seconds = num(i++, 0.2, 60);
        break;
      case "--warmup":
        out.warmup = num(i++, 0, 10);
        break;
      case "--window":
        out.window = Math.round(num(i++, 16384, 1 << 26));
        break;
      case "--quiet-wait":
        out.quietWait = num(i++, 0, 600);
        break;
      case "--retries":
        out.retries = Math.round(num(i++, 0, 100));
        break;
      case "--service-options":
        out.serviceOptions = value(i++);
        // Checked here so a typo fails before the first run, not inside every server.
        parseOptionsJson(out.serviceOptions);
        break;
      case "--deno-flag":
        (out.denoFlags ??= []).push(value(i++));
        break;
      case "--json":
        out.json = value(i++);
        break;
      case "--only": {
        const names = value(i++).split(",").map((s) => s.trim()).filter((s) => s !== "");
        for (const n of names) {
          if (!WORKLOADS.some((w) => w.name === n) && !(EXTRAS as readonly string[]).includes(n)) {
            throw new TypeError(
              `Cannot run bench: workload "${n}" is not one of ${
                [...WORKLOADS.map((w) => w.name), ...EXTRAS].join(", ")
              }`,
            );
          }
        }
        out.only = names;
        break;
      }
      default:
        throw new TypeError(`Cannot run bench: unknown flag "${args[i]}"`);
    }
  }
  return out;
}

type ServerKind = "bare" | "observed" | "no-wire";

/** Workloads that also run the observed server with `--no-wire`: the wire view's own cost. */
const WIRE_WORKLOADS = ["rtt-32x64", "tp-64x16k"];

/** CPU busy outside the server and the load generator above which a run counts as contended. */
const CONTENDED_CORES = 0.1;
/** A contended run is repeated at most this many times. */
const RETRIES_PER_RUN = 2;

function contended(load: LoadResult): boolean {
  return load.otherCpu !== null && load.otherCpu > CONTENDED_CORES;
}

function readProcStat(): string | null {
  try {
    return Deno.readTextFileSync("/proc/stat");
  } catch {
    return null;
  }
}

/**
 * Waits, at most `maxMs`, until the whole machine is below
 * {@linkcode CONTENDED_CORES} busy over a 250 ms sample (other people's tests
 * share it); returns how long it waited.
 */
async function waitForQuiet(maxMs: number, clkTck: number): Promise<number> {
  const start = performance.now();
  while (true) {
    const a = readProcStat();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const b = readProcStat();
    if (a === null || b === null) return 0;
    const busy = (busyTicks(b) - busyTicks(a)) / clkTck / 0.25;
    const waited = performance.now() - start;
    if (busy <= CONTENDED_CORES || waited >= maxMs) return waited;
  }
}

/** What a server reported when it stopped (cumulative, warm-up included). */
interface ServerStats {
  accepted: number;
  bytesIn: number;
  reads: number;
  writes: number;
  errors: number;
  [key: string]: unknown;
}

/** One run: the load generator's result and the server's counters. */
interface Run {
  server: ServerKind;
  round: number;
  load: LoadResult;
  stats: ServerStats | null;
}

const root = new URL("../", import.meta.url);
const live = new Set<Deno.ChildProcess>();

/** Which core each side runs on, or why nothing is pinned. */
interface Pinning {
  server: string[];
  load: string[];
  note: string;
}

async function detectPinning(): Promise<Pinning> {
  const none = (why: string): Pinning => ({ server: [], load: [], note: `not pinned: ${why}` });
  if (navigator.hardwareConcurrency < 2) return none("fewer than 2 CPUs");
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", "1", "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!success) return none("taskset -c 1 failed");
  } catch {
    return none("taskset not found");
  }
  return {
    server: ["taskset", "-c", "0"],
    load: ["taskset", "-c", "1"],
    note: "server on CPU 0, load generator on CPU 1 (taskset)",
  };
}

async function clockTicks(): Promise<number> {
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stderr: "null" }).output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

function command(
  prefix: string[],
  script: string,
  args: string[],
  denoFlags: readonly string[] = [],
): Deno.Command {
  const deno = [Deno.execPath(), "run", "-A", ...denoFlags, script, ...args];
  const argv = [...prefix, ...deno];
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    // Drained to the end so the child never blocks on a full pipe; only the start is kept.
    if (text.length < 16384) text += decoder.decode(chunk, { stream: true });
  }
  return text;
}

/** Starts a server, runs one load against it, stops the server in every case. */
async function runOnce(
  kind: ServerKind,
  w: Workload,
  args: BenchArgs,
  pin: Pinning,
  clkTck: number,
): Promise<{ load: LoadResult; stats: ServerStats | null }> {
  const runSeconds = args.warmup + args.seconds;
  const serverArgs = ["--max-seconds", String(Math.ceil(runSeconds + 60))];
  if (kind !== "bare" && args.dashboard) serverArgs.push("--dashboard");
  if (kind !== "bare") {
    const options = args.serviceOptions === null ? {} : parseOptionsJson(args.serviceOptions);
    if (kind === "no-wire") options.wire = false;
    if (Object.keys(options).length > 0) serverArgs.push("--options", JSON.stringify(options));
  }
  const script = kind === "bare" ? "bench/bare_echo.ts" : "bench/observed_echo.ts";
  // The service runs with the V8 flags `deno task start` gives it; the bare loop with Deno's defaults.
  const flags = kind === "bare" ? [] : args.denoFlags ?? START_V8_FLAGS;
  const child = command(pin.server, script, serverArgs, flags).spawn();
  live.add(child);
  const stderr = collect(child.stderr);
  const out = lines(child.stdout);
  let exited = false;
  const status = child.status.finally(() => exited = true);
  try {
    const first = await withTimeout(out.next(), 15_000, `Starting ${script}`);
    const port = first.done ? null : (JSON.parse(first.value) as { port?: number }).port;
    if (typeof port !== "number") {
      throw new Error(`Cannot start ${script}: no port printed; stderr: ${await stderr}`);
    }
    const loadArgs = [
      "--mode",
      w.mode,
      "--port",
      String(port),
      "--conns",
      String(w.conns),
      "--size",
      String(w.size),
      "--seconds",
      String(args.seconds),
      "--warmup",
      String(args.warmup),
      "--window",
      String(args.window),
      "--server-pid",
      String(child.pid),
      "--clk-tck",
      String(clkTck),
    ];
    const loadOut = await withTimeout(
      command(pin.load, "bench/load.ts", loadArgs).output(),
      (runSeconds + 30) * 1000,
      "The load generator",
    );
    const text = new TextDecoder().decode(loadOut.stdout).trim().split("\n").at(-1) ?? "";
    const load = JSON.parse(text || "{}") as LoadResult & { error?: string };
    if (!loadOut.success || load.error !== undefined) {
      throw new Error(
        `Load run failed: ${load.error ?? "no result"}; stderr: ${
          new TextDecoder().decode(loadOut.stderr).slice(0, 2000)
        }`,
      );
    }
    if (exited) throw new Error(`${script} exited during the run; stderr: ${await stderr}`);
    child.kill("SIGTERM");
    let stats: ServerStats | null = null;
    const rest = (async () => {
      for await (const line of out) {
        if (line.startsWith('{"stats"')) stats = (JSON.parse(line) as { stats: ServerStats }).stats;
      }
    })();
    await withTimeout(rest, 5000, `Stopping ${script}`).catch(() => {});
    return { load, stats };
  } finally {
    if (!exited) await terminate(child, 5000);
    await status.catch(() => {});
    await stderr.catch(() => "");
    live.delete(child);
  }
}

/** Medians of one workload's rounds, per server. */
interface Summary {
  /** Runs the medians are taken over. */
  runs: number;
  /** True when no uncontended run was available. */
  contended: boolean;
  figure: number | null;
  p50Us: number | null;
  p99Us: number | null;
  serverCpu: number | null;
  loadCpu: number | null;
  /** Figure per server-core-second (bytes or messages per CPU second). */
  perCpu: number | null;
  bytesPerRead: number | null;
  min: number | null;
  max: number | null;
}

function figureOf(w: Workload, load: LoadResult): number {
  return w.mode === "rtt" ? load.msgPerSec : load.bytesPerSec / 1e6;
}

/** Medians over the uncontended runs, or over all of them when every run was contended. */
function summarise(w: Workload, all: readonly Run[]): Summary {
  const clean = all.filter((r) => !contended(r.load));
  const runs = clean.length > 0 ? clean : all;
  const figures = runs.map((r) => figureOf(w, r.load));
  return {
    runs: runs.length,
    contended: clean.length === 0 && all.length > 0,
    figure: median(figures),
    p50Us: median(runs.map((r) => r.load.p50Us)),
    p99Us: median(runs.map((r) => r.load.p99Us)),
    serverCpu: median(runs.map((r) => r.load.serverCpu)),
    loadCpu: median(runs.map((r) => r.load.loadCpu)),
    perCpu: median(runs.map((r) => ratio(figureOf(w, r.load), r.load.serverCpu))),
    bytesPerRead: median(
      runs.map((r) => r.stats === null ? null : ratio(r.stats.bytesIn, r.stats.reads)),
    ),
    min: figures.length === 0 ? null : Math.min(...figures),
    max: figures.length === 0 ? null : Math.max(...figures),
  };
}

const pct = (x: number | null) => x === null ? "–" : `${Math.round(x * 100)}%`;
const x2 = (x: number | null) => x === null ? "–" : `${x.toFixed(2)}×`;

/** One workload's outcome: each server's medians and the paired ratios. */
interface Comparison {
  w: Workload;
  bare: Summary;
  observed: Summary;
  /** Median over rounds of observed / bare within the round (pairs cancel slow drift). */
  ratio: number | null;
  ratioMin: number | null;
  ratioMax: number | null;
  /** The same for work per second of server CPU. */
  perCpuRatio: number | null;
  /** Rounds the ratios are taken over. */
  pairs: number;
}

function compare(w: Workload, runs: readonly Run[]): Comparison {
  const pairs: [Run, Run][] = [];
  for (const b of runs) {
    if (b.server !== "bare") continue;
    const o = runs.find((r) => r.server === "observed" && r.round === b.round);
    if (o !== undefined) pairs.push([b, o]);
  }
  const clean = pairs.filter(([b, o]) => !contended(b.load) && !contended(o.load));
  const used = clean.length > 0 ? clean : pairs;
  const ratios = used.map(([b, o]) => ratio(figureOf(w, o.load), figureOf(w, b.load)));
  const perCpu = (r: Run) => ratio(figureOf(w, r.load), r.load.serverCpu);
  const finite = ratios.filter((r): r is number => r !== null);
  return {
    w,
    bare: summarise(w, runs.filter((r) => r.server === "bare")),
    observed: summarise(w, runs.filter((r) => r.server === "observed")),
    ratio: median(ratios),
    ratioMin: finite.length === 0 ? null : Math.min(...finite),
    ratioMax: finite.length === 0 ? null : Math.max(...finite),
    perCpuRatio: median(used.map(([b, o]) => ratio(perCpu(o), perCpu(b)))),
    pairs: used.length,
  };
}

/** The wire view's own cost in one workload: observed (wire on) over `--no-wire`, per round. */
export interface WireCost {
  w: Workload;
  /** Median over rounds of on / off and of on / bare; ranges. */
  onOff: number | null;
  onOffMin: number | null;
  onOffMax: number | null;
  onBare: number | null;
  offBare: number | null;
  /** PACKET_STATISTICS drops and packets per run with the wire on. */
  drops: (number | null)[];
  packets: (number | null)[];
  /** Captured TCP payload bytes equal the app's bytes (in + out) in every run. */
  bytesMatch: boolean | null;
  /** Per run: captured TCP payload bytes, less retransmitted ones, less the app's (in + out). */
  bytesDiff: (number | null)[];
  /** Per run: payload bytes of segments analysed as retransmissions. */
  retransmitted: (number | null)[];
  /** The reason when the wire view could not open. */
  unavailable: string | null;
}

function wireCost(w: Workload, runs: readonly Run[]): WireCost {
  const byRound = (kind: ServerKind, round: number) =>
    runs.find((r) => r.server === kind && r.round === round);
  const rounds = [...new Set(runs.map((r) => r.round))];
  const onOff: number[] = [];
  const onBare: number[] = [];
  const offBare: number[] = [];
  for (const round of rounds) {
    const [b, on, off] = [
      byRound("bare", round),
      byRound("observed", round),
      byRound("no-wire", round),
    ];
    if (on !== undefined && off !== undefined) {
      const r = ratio(figureOf(w, on.load), figureOf(w, off.load));
      if (r !== null) onOff.push(r);
    }
    if (b !== undefined && on !== undefined) {
      const r = ratio(figureOf(w, on.load), figureOf(w, b.load));
      if (r !== null) onBare.push(r);
    }
    if (b !== undefined && off !== undefined) {
      const r = ratio(figureOf(w, off.load), figureOf(w, b.load));
      if (r !== null) offBare.push(r);
    }
  }
  const on = runs.filter((r) => r.server === "observed");
  const wire = (r: Run) =>
    r.stats?.wire as
      | {
        available: boolean;
        reason: string | null;
        packets: number;
        drops: number;
        payloadBytes: number;
        retransmittedBytes: number;
        appBytes: number;
      }
      | undefined;
  const unavailable = on.map(wire).find((x) => x !== undefined && !x.available)?.reason ?? null;
  const known = on.map(wire).filter((x) => x !== undefined && x.available);
  return {
    w,
    onOff: median(onOff),
    onOffMin: onOff.length === 0 ? null : Math.min(...onOff),
    onOffMax: onOff.length === 0 ? null : Math.max(...onOff),
    onBare: median(onBare),
    offBare: median(offBare),
    drops: on.map((r) => wire(r)?.drops ?? null),
    packets: on.map((r) => wire(r)?.packets ?? null),
    // Retransmitted segments carry their bytes twice on the wire; the app counted them once.
    bytesMatch: known.length === 0
      ? null
      : known.every((x) => x!.payloadBytes - (x!.retransmittedBytes ?? 0) === x!.appBytes),
    bytesDiff: on.map((r) => {
      const x = wire(r);
      return x === undefined || !x.available
        ? null
        : x.payloadBytes - (x.retransmittedBytes ?? 0) - x.appBytes;
    }),
    retransmitted: on.map((r) => wire(r)?.retransmittedBytes ?? null),
    unavailable,
  };
}

// Issue 17's targets: on/bare and on/off per workload, no drops, payload bytes exact.
function wireGoal(c: WireCost): string {
  const [bare, own] = c.w.mode === "rtt" ? [0.88, 0.9] : [0.92, 0.95];
  const met = c.onBare !== null && c.onBare >= bare && c.onOff !== null && c.onOff >= own &&
    c.drops.every((d) => d === 0);
  return `on/bare ≥ ${bare}, on/off ≥ ${own}, 0 drops: ${met ? "met" : "not met"}`;
}

/** The wire view's table: on/off, each against the bare loop, drops, bytes. */
export function wireTable(rows: readonly WireCost[]): string {
  const head = [
    "wire view",
    "on / off (range)",
    "on / bare",
    "off / bare",
    "drops",
    "packets",
    "payload − retransmitted − app bytes",
    "retransmitted bytes",
    "goal (issue 17)",
  ];
  const body = rows.map((c) => [
    c.w.label,
    c.unavailable !== null
      ? `unavailable: ${c.unavailable}`
      : `${x2(c.onOff)}` + (c.onOffMin !== null && c.onOffMin !== c.onOffMax
        ? ` (${c.onOffMin.toFixed(2)}–${c.onOffMax!.toFixed(2)})`
        : ""),
    x2(c.onBare),
    x2(c.offBare),
    c.drops.map((d) => d ?? "–").join(", "),
    c.packets.map((p) => p ?? "–").join(", "),
    c.bytesDiff.map((d) => d ?? "–").join(", "),
    c.retransmitted.map((d) => d ?? "–").join(", "),
    wireGoal(c),
  ]);
  return markdownTable(head, body);
}

/** The results table: medians, observed/bare ratios, and what the server spent. */
export function resultTable(rows: readonly Comparison[]): string {
  const header = [
    "workload",
    "unit",
    "bare",
    "observed",
    "ratio (range)",
    "p50 bare/obs µs",
    "p99 bare/obs µs",
    "server CPU bare/obs",
    "per server CPU ratio",
    "bytes/read bare/obs",
  ];
  const body = rows.map(({ w, bare, observed, ...c }) => [
    w.label + (bare.contended || observed.contended ? " (contended)" : ""),
    w.mode === "rtt" ? "msg/s" : "MB/s",
    fmt(bare.figure),
    fmt(observed.figure),
    `${x2(c.ratio)}` +
    (c.pairs > 1 ? ` (${c.ratioMin!.toFixed(2)}–${c.ratioMax!.toFixed(2)})` : ""),
    w.mode === "rtt" ? `${fmt(bare.p50Us)} / ${fmt(observed.p50Us)}` : "",
    w.mode === "rtt" ? `${fmt(bare.p99Us)} / ${fmt(observed.p99Us)}` : "",
    `${pct(bare.serverCpu)} / ${pct(observed.serverCpu)}`,
    x2(c.perCpuRatio),
    `${fmt(bare.bytesPerRead)} / ${fmt(observed.bytesPerRead)}`,
  ]);
  return markdownTable(header, body);
}

/** Whatever the extra benchmarks measured (each null when not run). */
export interface ExtraResults {
  udp: UdpBenchResult | null;
  app: AppBenchResult | null;
  conns: ConnsBenchResult | null;
}

/**
 * Issue 5's targets, one row each: the service's figure, what it is measured
 * against, the ratio, the goal and whether this run met it.
 */
export function targetsTable(rows: readonly Comparison[], extra: ExtraResults): string {
  const body: string[][] = [];
  const n = (x: number | null | undefined, digits = 3) => x == null ? "–" : fmt(x, digits);
  const add = (
    target: string,
    figure: string,
    reference: string,
    value: number | null | undefined,
    goal: string,
    met: (v: number) => boolean,
    shown = value == null ? "–" : `${value.toFixed(2)}×`,
  ) =>
    body.push([
      target,
      figure,
      reference,
      shown,
      goal,
      value == null ? "–" : met(value) ? "yes" : "no",
    ]);
  const bulk = rows.find((c) => c.w.name === "tp-64x16k");
  if (bulk !== undefined) {
    add(
      "echo 64 conns × 16 KiB",
      `${n(bulk.observed.figure)} MB/s`,
      `bare Deno ${n(bulk.bare.figure)} MB/s`,
      bulk.ratio,
      "≥ 0.95×",
      (v) => v >= 0.95,
    );
  }
  const rtt = rows.find((c) => c.w.name === "rtt-32x64");
  if (rtt !== undefined) {
    add(
      "round trips 32 conns × 64 B",
      `${n(rtt.observed.figure)} msg/s`,
      `bare Deno ${n(rtt.bare.figure)} msg/s`,
      rtt.ratio,
      "≥ 0.95×",
      (v) => v >= 0.95,
    );
    add(
      "round trips p99",
      `${n(rtt.observed.p99Us)} µs`,
      `bare Deno ${n(rtt.bare.p99Us)} µs`,
      ratio(rtt.observed.p99Us, rtt.bare.p99Us),
      "≤ 1.2×",
      (v) => v <= 1.2,
    );
  }
  const udp = extra.udp;
  if (udp !== null) {
    const node = udp.flight.node;
    add(
      "UDP echo 64 B, 64 in flight",
      `${n(udp.flight.observed)}/s`,
      `Node dgram ${n(node)}/s`,
      ratio(udp.flight.observed, node),
      "≥ 1.0×",
      (v) => v >= 1,
    );
    const loss = udp.pacedLossPct.observed;
    add(
      `UDP loss at ${udp.rate / 1000}k/s paced`,
      loss == null ? "–" : `${loss.toFixed(3)}%`,
      `Node ${udp.pacedLossPct.node?.toFixed(3) ?? "–"}%`,
      loss,
      "< 0.1%",
      (v) => v < 0.1,
      loss == null ? "–" : `${loss.toFixed(3)}%`,
    );
    if (udp.flight["observed-fast"] !== undefined) {
      add(
        "UDP, batched FFI path (default)",
        `${n(udp.flight["observed-fast"])}/s`,
        `Node dgram ${n(node)}/s`,
        ratio(udp.flight["observed-fast"], node),
        "≥ 2×",
        (v) => v >= 2,
      );
    }
  }
  const conns = extra.conns;
  if (conns !== null) {
    const o = conns.summary.observed;
    const bare = conns.summary.bare;
    const node = conns.summary.node;
    const k = conns.conns.toLocaleString("en-US");
    if (o !== undefined) {
      // Marginal: RSS growth per connection from 10,000 to 10,000 + --extra held. The cold
      // figure (from the idle server to 10,000) adds what the process pays once when the first
      // connections arrive (executable code paged in, V8's young generation growing), ≈ 0.9 KB
      // per connection at 10,000; shown next to it.
      const perConn = o.kbPerConnMarginal ?? o.kbPerConn;
      add(
        `${k} idle connections, RSS each`,
        `${n(perConn)} KB (cold ${n(o.kbPerConn)} KB)`,
        `bare Deno ${n(bare?.kbPerConnMarginal ?? bare?.kbPerConn)} KB, Node ${
          n(node?.kbPerConnMarginal ?? node?.kbPerConn)
        } KB`,
        perConn,
        "≤ 4 KB",
        (v) => v <= 4,
        `${n(perConn)} KB`,
      );
      add(
        `bulk echo with ${k} held`,
        `${n(o.bulkMBps)} MB/s`,
        `bare Deno ${n(bare?.bulkMBps)} MB/s`,
        ratio(o.bulkMBps, bare?.bulkMBps ?? null),
        "≥ 1.0×",
        (v) => v >= 1,
      );
      add(
        `${k} connects, ${conns.parallel} parallel`,
        `${n(o.burstSeconds)} s (${o.slowConnects} SYN retries)`,
        `bare Deno ${n(bare?.burstSeconds)} s, Node ${n(node?.burstSeconds)} s`,
        o.burstSeconds,
        "≤ 0.5 s",
        (v) => v <= 0.5,
        `${n(o.burstSeconds)} s`,
      );
      add(
        `kernel sample with tcp_info, ${k} conns`,
        `${n(o.kernelSampleMs)} ms`,
        `${o.timeWait ?? "–"} TIME_WAIT sockets on the machine`,
        o.kernelSampleMs,
        "≤ 25 ms",
        (v) => v <= 25,
        `${n(o.kernelSampleMs)} ms`,
      );
      add(
        `/api/sockets, ${k} conns`,
        `${n(o.socketsMs)} ms (${o.socketsCount} rows)`,
        `/api/endpoints ${n(o.apiMedianMs)} ms (max ${n(o.apiMaxMs)})`,
        o.socketsMs,
        "≤ 100 ms",
        (v) => v <= 100,
        `${n(o.socketsMs)} ms`,
      );
    }
  }
  const app = extra.app;
  if (app !== null) {
    add(
      `app protocol, keep-alive, ${app.conns} conns`,
      `${n(app.keepalive.observed?.reqPerSec)} req/s`,
      `bare Deno ${n(app.keepalive.bare?.reqPerSec)} req/s`,
      ratio(app.keepalive.observed?.reqPerSec ?? null, app.keepalive.bare?.reqPerSec ?? null),
      "≥ 1.0×",
      (v) => v >= 1,
    );
    add(
      "app protocol, 1 request per connection",
      `${n(app.oneshot.observed?.reqPerSec)} req/s`,
      `tutorial's Python server ${n(app.oneshot.python?.reqPerSec)} req/s`,
      ratio(app.oneshot.observed?.reqPerSec ?? null, app.oneshot.python?.reqPerSec ?? null),
      "≥ 1.3×",
      (v) => v >= 1.3,
    );
    const quiet = app.oneshot["python-quiet"]?.reqPerSec ?? null;
    body.push([
      "same, against Python without the tutorial's log lines",
      `${n(app.oneshot.observed?.reqPerSec)} req/s`,
      `Python, no log lines ${n(quiet)} req/s`,
      ratio(app.oneshot.observed?.reqPerSec ?? null, quiet)?.toFixed(2).concat("×") ?? "–",
      "(context)",
      "–",
    ]);
  }
  return markdownTable(["target", "service", "measured against", "ratio", "goal", "met"], body);
}

function progressLine(w: Workload, { server, round, load }: Run): string {
  const lat = w.mode === "rtt" ? `, p50 ${load.p50Us} µs, p99 ${load.p99Us} µs` : "";
  return `  ${w.name} round ${round + 1} ${server.padEnd(8)} ${fmt(figureOf(w, load))} ` +
    `${w.mode === "rtt" ? "msg/s" : "MB/s"}${lat}, server CPU ${pct(load.serverCpu)}, ` +
    `load CPU ${pct(load.loadCpu)}, elsewhere ${pct(load.otherCpu)}` +
    (contended(load) ? " (contended)" : "") +
    (load.errors > 0 ? `, ${load.errors} errors` : "");
}

/** The commit measured and the files under lib/ that differ from it (others edit the tree). */
async function treeState(): Promise<{ commit: string | null; dirty: string[] }> {
  const git = async (args: string[]) => {
    try {
      const out = await new Deno.Command("git", { args, cwd: root, stderr: "null" }).output();
      return out.success ? new TextDecoder().decode(out.stdout) : null;
    } catch {
      return null;
    }
  };
  const [head, status] = await Promise.all([
    git(["rev-parse", "--short", "HEAD"]),
    git(["status", "--porcelain", "--", "lib"]),
  ]);
  return {
    commit: head?.trim() || null,
    dirty: (status ?? "").split("\n").filter((l) => l.trim() !== "").map((l) => l.slice(3)),
  };
}

async function machine(): Promise<Record<string, unknown>> {
  let cpu: string | null = null;
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? null;
  } catch {
    // Not Linux, or /proc not readable.
  }
  return {
    nproc: navigator.hardwareConcurrency,
    cpu,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
  };
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const workloads = WORKLOADS.filter((w) => args.only === null || args.only.includes(w.name));
  const extras = EXTRAS.filter((e) => args.only === null || args.only.includes(e));
  const [pin, clkTck, host, tree] = await Promise.all([
    detectPinning(),
    clockTicks(),
    machine(),
    treeState(),
  ]);
  const stopAll = () => {
    for (const c of live) {
      try {
        c.kill("SIGKILL");
      } catch {
        // Already gone.
      }
    }
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stopAll);
  console.error(
    `machine: ${host.nproc} CPUs (${host.cpu ?? "unknown"}), Linux ${host.kernel}, ` +
      `deno ${host.deno} (V8 ${host.v8})`,
  );
  console.error(`pinning: ${pin.note}`);
  console.error(
    `tree: ${tree.commit ?? "unknown commit"}` +
      (tree.dirty.length > 0 ? ` + ${tree.dirty.length} changed file(s) under lib/` : ""),
  );
  if (args.serviceOptions !== null) {
    console.error(`observed server options: ${args.serviceOptions}`);
  }
  console.error(
    `runs: ${args.rounds} round(s) × ${workloads.length} workload(s) × 2 servers, ` +
      `${args.warmup} s warm-up + ${args.seconds} s measured each` +
      (args.dashboard ? "; observed server polls the packet log like a dashboard" : ""),
  );
  const started = performance.now();
  let quietBudgetMs = args.quietWait * 1000;
  let retriesLeft = args.retries;
  const results: { w: Workload; runs: Run[] }[] = [];
  try {
    for (const w of workloads) {
      const runs: Run[] = [];
      for (let round = 0; round < args.rounds; round++) {
        const kinds: ServerKind[] = WIRE_WORKLOADS.includes(w.name)
          ? ["bare", "observed", "no-wire"]
          : ["bare", "observed"];
        // Rotated by round so drift and order hit every server alike.
        const order = kinds.map((_, i) => kinds[(i + round) % kinds.length]);
        for (const server of order) {
          // Other work on the machine (others' tests) steals cores: wait for a quiet moment
          // and repeat a contended run, both within the run's budgets.
          let load: LoadResult | null = null;
          let stats: ServerStats | null = null;
          for (let attempt = 0; attempt <= RETRIES_PER_RUN; attempt++) {
            if (attempt > 0 && retriesLeft <= 0) break;
            if (attempt > 0) retriesLeft--;
            if (quietBudgetMs > 0) {
              quietBudgetMs -= await waitForQuiet(Math.min(quietBudgetMs, 10_000), clkTck);
            }
            ({ load, stats } = await runOnce(server, w, args, pin, clkTck));
            if (!contended(load)) break;
            console.error(
              `  ${w.name} round ${round + 1} ${server}: ${
                fmt(load.otherCpu)
              } cores busy elsewhere during the run`,
            );
          }
          const run: Run = { server, round, load: load!, stats };
          runs.push(run);
          console.error(progressLine(w, run));
        }
      }
      results.push({ w, runs });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stopAll);
  }
  const rows = results.map(({ w, runs }) => compare(w, runs));
  if (rows.length > 0) console.log(resultTable(rows));
  const wireRows = results.filter(({ w }) => WIRE_WORKLOADS.includes(w.name)).map(({ w, runs }) =>
    wireCost(w, runs)
  );
  if (wireRows.length > 0) console.log(`\n${wireTable(wireRows)}`);
  const extra: ExtraResults = { udp: null, app: null, conns: null };
  // The extras start their own servers and load generators, pinned the same way.
  const quick = args.rounds === 1 && args.seconds <= 1 ? ["--quick"] : [];
  const timing = ["--rounds", String(args.rounds), "--seconds", String(args.seconds)];
  for (const name of extras) {
    console.error(`${name}: starting`);
    if (name === "udp") {
      extra.udp = await udpBench(quick.length > 0 ? quick : timing);
      console.log(`\n${udpTable(extra.udp)}`);
    } else if (name === "app") {
      extra.app = await appBench(quick.length > 0 ? quick : timing);
      console.log(`\n${appTable(extra.app)}`);
    } else {
      // As many rounds as the echo workloads (a round is ~40 s: three servers, 10,000
      // connections each); its bulk figure swings ±15% from one round to the next.
      extra.conns = await connsBench(quick.length > 0 ? quick : ["--rounds", String(args.rounds)]);
      console.log(`\n${connsTable(extra.conns)}`);
    }
  }
  console.log(`\n${targetsTable(rows, extra)}`);
  const stillContended = results.flatMap((r) => r.runs).filter((r) => contended(r.load)).length;
  console.log(
    `\nbare/observed: medians of ${args.rounds} round(s), uncontended runs preferred. ` +
      `ratio: median (and range) of observed / bare within each round. "per server CPU": the ` +
      `same for work done per second of server CPU (it matters when the load generator, not ` +
      `the server, is the bottleneck). Took ${
        ((performance.now() - started) / 1000).toFixed(0)
      } s; ${pin.note}` +
      (stillContended > 0
        ? `; ${stillContended} run(s) kept although other work used > ${CONTENDED_CORES} cores.`
        : "."),
  );
  if (args.json !== null) {
    const report = {
      date: new Date().toISOString(),
      machine: host,
      tree,
      pinning: pin.note,
      options: args,
      workloads: rows.map(({ w, ...c }) => ({
        ...w,
        unit: w.mode === "rtt" ? "msg/s" : "MB/s",
        ...c,
        runs: results.find((r) => r.w === w)!.runs,
      })),
      ...extra,
    };
    await Deno.writeTextFile(args.json, JSON.stringify(report, null, 2) + "\n");
    console.error(`wrote ${args.json}`);
  }
}

if (import.meta.main) await main(Deno.args);
