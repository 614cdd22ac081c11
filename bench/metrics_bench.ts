/**
 * A /metrics scrape at `--conns` held connections: today's writer (lib/telemetry/prometheus.ts
 * and process_stats.ts) against a prom-client registry producing the same families (issue 19,
 * item 7). A child process holds the connections to the echo endpoint; this process runs the
 * service and scrapes it `--scrapes` times each way.
 *
 * The prom-client side is given its sample values already parsed (that work is not timed), so
 * its figure is a lower bound: it pays the sockets() join like today's, then sets every sample
 * on its gauges and counters and renders the registry, plus its default metrics (the process
 * and event-loop families prom-client adds in place of process_stats.ts).
 *
 *     deno run -A bench/metrics_bench.ts [--conns 10000] [--scrapes 20]
 *
 * Prints one JSON line (`{"bench":"metrics",…}`).
 */
// Bench-only: prom-client was measured and not adopted, so it stays out of deno.json's imports.
// deno-lint-ignore no-import-prefix
import client from "npm:prom-client@^15.1.3";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import { ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { Service } from "../lib/net/service.ts";
import { readProcessStats } from "../lib/telemetry/process_stats.ts";
import { renderMetrics } from "../lib/telemetry/prometheus.ts";

function flag(name: string, fallback: number): number {
  const at = Deno.args.indexOf(`--${name}`);
  const value = Number(at < 0 ? fallback : Deno.args[at + 1]);
  if (!Number.isInteger(value) || value < 1 || value > 15000) {
    throw new RangeError(
      `Cannot run the bench: --${name} "${Deno.args[at + 1]}" is not in 1-15000`,
    );
  }
  return value;
}
const conns = flag("conns", 10000);
const scrapes = flag("scrapes", 20);

const service = new Service({
  ports: Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0])),
  kernel: new KernelTable({ minIntervalMs: 0 }),
  captureBytes: 0,
});
const startedAt = Date.now();
const port = service.tcp.get("echo")!.port;
const holder = new Deno.Command(Deno.execPath(), {
  args: [
    "eval",
    `
const held = [];
for (let i = 0; i < ${conns}; i += 256) {
  const batch = [];
  for (let j = i; j < Math.min(${conns}, i + 256); j++) {
    batch.push(Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
  }
  held.push(...await Promise.all(batch));
}
console.log("up");
setInterval(() => held.length, 60_000);
`,
  ],
  stdout: "piped",
  stderr: "inherit",
}).spawn();

/** Today's route: the joined sockets, the process stats, the hand-written writer. */
async function scrapeToday(): Promise<string> {
  const [sockets, processStats] = await Promise.all([
    service.sockets(),
    readProcessStats(startedAt),
  ]);
  const log = service.log;
  return renderMetrics({
    endpoints: service.registry.endpoints.values(),
    packetLog: {
      entries: Math.min(log.lastSeq, log.capacity),
      capacity: log.capacity,
      dropped: log.dropped,
    },
    sockets: service.kernelStatus.available ? sockets : null,
    uptimeSeconds: (Date.now() - startedAt) / 1000,
    capture: null,
    latency: [{ endpoint: "app", histogram: service.appLatency }],
    fdBudget: service.fds.toJSON(),
    process: processStats,
  });
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The families of today's text, to register the same ones with prom-client. */
function parseFamilies(
  text: string,
): Map<string, { type: string; help: string; samples: Sample[] }> {
  const families = new Map<string, { type: string; help: string; samples: Sample[] }>();
  let current: { type: string; help: string; samples: Sample[] } | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [, name, ...help] = line.split(" ").slice(1);
      current = { type: "gauge", help: help.join(" ") || name, samples: [] };
      families.set(line.split(" ")[2], current);
    } else if (line.startsWith("# TYPE ")) {
      current!.type = line.split(" ")[3];
    } else if (line !== "" && current !== undefined) {
      const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/i.exec(line);
      if (m === null) continue;
      const labels: Record<string, string> = {};
      for (const pair of (m[2] ?? "").match(/[a-z_]+="[^"]*"/gi) ?? []) {
        const eq = pair.indexOf("=");
        labels[pair.slice(0, eq)] = pair.slice(eq + 2, -1);
      }
      current.samples.push({ labels, value: Number(m[3]) });
    }
  }
  return families;
}

for (const _ of [0]) {
  const lines = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
  await lines.read();
}
// Every connection accepted and in the table.
for (let i = 0; i < 600; i++) {
  if ((await service.sockets()).filter((r) => r.endpoint === "echo").length >= 2 * conns) break;
  await new Promise((r) => setTimeout(r, 100));
}
const first = await scrapeToday();
const families = parseFamilies(first);
const registry = new client.Registry();
const gauges: { g: client.Gauge; samples: Sample[] }[] = [];
for (const [name, f] of families) {
  // Histograms and counters become gauges here: prom-client can't be handed buckets or totals
  // someone else counted, which is itself a reason it fits this service badly.
  if (f.type === "histogram") continue;
  // process_* (process_stats.ts uses Prometheus' standard names): prom-client's defaults add them.
  if (name.startsWith("process_")) continue;
  const labelNames = [...new Set(f.samples.flatMap((s) => Object.keys(s.labels)))];
  gauges.push({
    g: new client.Gauge({ name, help: f.help, labelNames, registers: [registry] }),
    samples: f.samples,
  });
}
client.collectDefaultMetrics({ register: registry });

async function scrapePromClient(): Promise<string> {
  // The join is the same work either way: today's route does it too.
  await service.sockets();
  for (const { g, samples } of gauges) {
    for (const s of samples) g.set(s.labels, s.value);
  }
  return await registry.metrics();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[s.length >> 1] * 100) / 100;
}
const today: number[] = [];
const prom: number[] = [];
let todayBytes = 0;
let promBytes = 0;
for (let i = 0; i < scrapes; i++) {
  let t = performance.now();
  todayBytes = (await scrapeToday()).length;
  today.push(performance.now() - t);
  t = performance.now();
  promBytes = (await scrapePromClient()).length;
  prom.push(performance.now() - t);
}
const socketRows = (await service.sockets()).length;
// The writers alone, without the join both pay.
const sockets = await service.sockets();
const processStats = await readProcessStats(startedAt);
let t = performance.now();
for (let i = 0; i < scrapes; i++) {
  renderMetrics({
    endpoints: service.registry.endpoints.values(),
    packetLog: { entries: 0, capacity: 0, dropped: 0 },
    sockets,
    uptimeSeconds: 1,
    fdBudget: service.fds.toJSON(),
    process: await readProcessStats(startedAt),
  });
}
const todayWriterMs = (performance.now() - t) / scrapes;
t = performance.now();
for (let i = 0; i < scrapes; i++) {
  for (const { g, samples } of gauges) for (const s of samples) g.set(s.labels, s.value);
  await registry.metrics();
}
const promWriterMs = (performance.now() - t) / scrapes;
void processStats;
console.log(JSON.stringify({
  bench: "metrics",
  conns,
  socketRows,
  scrapes,
  todayScrapeMedianMs: median(today),
  promClientScrapeMedianMs: median(prom),
  todayWriterMs: Math.round(todayWriterMs * 100) / 100,
  promClientWriterMs: Math.round(promWriterMs * 100) / 100,
  todayBytes,
  promClientBytes: promBytes,
  families: families.size,
}));
holder.kill();
await holder.status;
await service.close();
Deno.exit(0);
