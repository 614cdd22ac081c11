/**
 * What the diagnoses (lib/diagnoses, issue 18) cost at `--conns` held idle loopback
 * connections:
 *
 * - in this process, a {@linkcode Service} as `deno task start` builds it (kernel table, wire
 *   view where the process may capture) holds the echo side of the connections a child process
 *   opens. With the monitor's timer off, the bench ticks it by hand, each tick past the kernel
 *   table's cache, and times (a) the rules alone (`DiagnosisEngine.update` over the joined rows
 *   of one real sample, nothing else), (b) the monitor's whole tick (kernel dump, joins, owners,
 *   counters, rules), with the kernel dump and the socket-owner lookup timed apart, and the same
 *   tick when a connection arrived just before (the owner lookup then scans /proc), and the
 *   kernel dumps per second when a dashboard's sockets stream samples every second too;
 * - then main.ts in a child process holds the connections of this one and the bench reads its
 *   CPU time over `--seconds`, idle, with the diagnoses on and with `--no-diagnoses` (a 10 ms
 *   tick clock over 8 s: ±0.2 points, more on a shared machine).
 *
 *     deno run -A bench/diagnoses_bench.ts [--conns 1000,10000] [--ticks 8] [--seconds 8]
 *                                          [--no-cpu] [--json FILE]
 *
 * With `--v8-flags=--expose-gc,--min-semi-space-size=256,--max-semi-space-size=256` (after
 * `-A`) it also reports what a tick allocates (`tickAllocKB`: the heap's growth from a
 * collection to the tick's end); the 1 s ticks of a service run with `--max-semi-space-size=4`
 * (deno task start) want that well under the young generation, or what a tick keeps until the
 * next is promoted and RSS grows with the connections (23 MB a tick at 10,000 before the
 * rules read columns; ~0.8 MB after).
 *
 * Bounded: every run stops within `--max-seconds` (default 300). Prints a Markdown table, then
 * one JSON line (`{"bench":"diagnoses",…}`).
 */
import { DiagnosisEngine } from "../lib/diagnoses/engine.ts";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import { readSockDiag, readSockDiagRows } from "../lib/kernel/netlink.ts";
import { SocketOwners } from "../lib/kernel/socket_owners.ts";
import { ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { Service } from "../lib/net/service.ts";
import { benchMain, eachFlag } from "./_main.ts";
import { markdownTable } from "./_stats.ts";
import { cpuTicksOf, killAll, median, pinPrefix, sleep, spawnService } from "./_spawn.ts";

interface Args {
  conns: number[];
  ticks: number;
  seconds: number;
  cpu: boolean;
  maxSeconds: number;
  json: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = {
    conns: [1000, 10000],
    ticks: 8,
    seconds: 8,
    cpu: true,
    maxSeconds: 300,
    json: null,
  };
  eachFlag("diagnoses bench", argv, (flag, value) => {
    switch (flag) {
      case "--conns":
        out.conns = value().split(",").map((s) => {
          const n = Number(s);
          if (!Number.isInteger(n) || n < 1 || n > 15000) {
            throw new RangeError(
              `Cannot run the diagnoses bench: --conns "${s}" is not in 1-15000`,
            );
          }
          return n;
        });
        break;
      case "--ticks":
        out.ticks = Math.max(2, Math.round(Number(value())));
        break;
      case "--seconds":
        out.seconds = Math.max(1, Number(value()));
        break;
      case "--no-cpu":
        out.cpu = false;
        break;
      case "--max-seconds":
        out.maxSeconds = Math.max(10, Number(value()));
        break;
      case "--json":
        out.json = value();
        break;
      case "--quick":
        out.conns = [1000];
        out.ticks = 4;
        out.seconds = 3;
        break;
      default:
        return false;
    }
    return true;
  });
  return out;
}

/** The figures at one size. */
export interface DiagnosesRun {
  conns: number;
  /** Rows the monitor's sample held (both ends of each connection, listeners, UDP). */
  rows: number;
  /** (a) The rules alone, per sample, ms (median of 20 over one real sample's rows). */
  rulesMs: number;
  /** (b) The monitor's whole tick, ms (median of `ticks`). */
  tickMs: number;
  /**
   * KiB the heap grew over one tick (median), or null unless run with `--v8-flags=--expose-gc,
   * --min-semi-space-size=256,--max-semi-space-size=256` (no collection within a tick).
   */
  tickAllocKB: number | null;
  /** The kernel dumps made per tick (1 when nothing else shares them). */
  dumpsPerTick: number;
  /** Kernel dumps per second with the monitor and a 1 s sockets stream (1: they share). */
  dumpsPerSecondWithStream: number;
  /** One sock_diag dump with tcp_info, ms (median). */
  dumpMs: number | null;
  /** The owner lookup (/proc) inside the tick, ms (median; 0 when the tick makes none). */
  ownersMs: number;
  /** The tick right after one new connection arrived (the owner lookup scans /proc), ms. */
  tickNewConnMs: number;
  /** Owner lookups the ticks after a new connection made, and their median time, ms. */
  ownersNewConnMs: number;
  /** The service's CPU, % of one core, over `seconds`, idle; null without `--no-cpu`. */
  cpuOn: number | null;
  cpuOff: number | null;
}

/** Connects `conns` times to `port` from a child; on a line on stdin closes them with RST. */
function holder(port: number, conns: number) {
  const script = `
const held = [];
for (let i = 0; i < ${conns}; i += 256) {
  const batch = [];
  for (let j = i; j < Math.min(${conns}, i + 256); j++) {
    batch.push(Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
  }
  held.push(...await Promise.all(batch));
}
console.log("up");
for await (const chunk of Deno.stdin.readable) {
  if (new TextDecoder().decode(chunk).includes("more")) {
    held.push(await Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
    console.log("more");
    continue;
  }
  break;
}
// A close with the echo unread sends RST: no TIME_WAIT left behind for later runs to walk.
await Promise.allSettled(held.map((c) => c.write(new Uint8Array([46]))));
await new Promise((r) => setTimeout(r, 300));
for (const c of held) c.close();
console.log("closed");
`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const writer = child.stdin.getWriter();
  return {
    child,
    async line(): Promise<string> {
      const { value, done } = await lines.read();
      if (done) throw new Error("The connection holder exited");
      return value.trim();
    },
    async send(text: string): Promise<void> {
      await writer.write(new TextEncoder().encode(text + "\n"));
    },
  };
}

async function inProcess(conns: number, args: Args): Promise<DiagnosesRun> {
  const dumps: number[] = [];
  const ownerMs: number[] = [];
  const owners = new SocketOwners();
  const service = new Service({
    ports: Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0])),
    maxConns: conns + 1000,
    captureBytes: 0,
    // As `deno task start`: the wire view where the process may capture (root), else off.
    wire: true,
    kernel: new KernelTable({
      // Bound to 127.0.0.1, as main.ts: the IPv4 tables only.
      ipv6: false,
      readNetlink: async (read) => {
        const t0 = performance.now();
        const rows = await readSockDiag({ ports: read.ports, families: [4] });
        dumps.push(performance.now() - t0);
        return rows;
      },
      // The monitor's own dumps, into columns (as the default table makes them).
      readNetlinkRows: async (rows, read) => {
        const t0 = performance.now();
        await readSockDiagRows(rows, { ports: read.ports, families: [4] });
        dumps.push(performance.now() - t0);
      },
      owners: {
        async attach(rows) {
          const t0 = performance.now();
          await owners.attach(rows);
          ownerMs.push(performance.now() - t0);
        },
      },
    }),
    // The bench ticks by hand; the interval is the service's, which sets the age of the
    // kernel sample a tick may reuse.
    diagnoses: { enabled: false, intervalMs: 1000 },
  });
  const hold = holder(service.tcp.get("echo")!.port, conns);
  try {
    if (await hold.line() !== "up") throw new Error("The holder did not connect");
    // Every connection accepted and in the table (both ends: the holder's side is kernel-only).
    const deadline = performance.now() + 60_000;
    while ((await service.sockets()).filter((r) => r.endpoint === "echo").length < 2 * conns) {
      if (performance.now() > deadline) throw new Error(`Not all ${conns} connections accepted`);
      await sleep(200);
    }
    const monitor = service.diagnoses;
    // Warm-up: the owner lookup's first scan and the code's first runs are not what a
    // service that has been up pays each second.
    for (let i = 0; i < 3; i++) {
      await sleep(600);
      await monitor.tick();
    }
    const ticks: number[] = [];
    const tickDumps: number[] = [];
    const tickOwners: number[] = [];
    for (let i = 0; i < args.ticks; i++) {
      // Past the kernel table's 500 ms cache, as the monitor's 1 s ticks are.
      await sleep(600);
      dumps.length = ownerMs.length = 0;
      await monitor.tick();
      ticks.push(monitor.lastTookMs);
      tickDumps.push(...dumps);
      tickOwners.push(...ownerMs);
    }
    const dumpsPerTick = tickDumps.length / args.ticks;
    // Bytes a tick allocates, where the bench runs with --v8-flags=--expose-gc and a new space
    // too large to be collected within a tick (see the header): the heap's growth over one.
    const gc = (globalThis as { gc?: () => void }).gc;
    const allocs: number[] = [];
    for (let i = 0; gc !== undefined && i < args.ticks; i++) {
      await sleep(600);
      gc();
      const before = Deno.memoryUsage().heapUsed;
      await monitor.tick();
      allocs.push((Deno.memoryUsage().heapUsed - before) / 1024);
    }
    // The monitor and the sockets stream of an open dashboard, both every second (the stream
    // asks as lib/live/event_source.ts does), 300 and 700 ms apart: kernel dumps per second.
    const together: number[] = [];
    for (const offset of [300, 700]) {
      await sleep(1000);
      dumps.length = 0;
      const seconds = 4;
      const stop = performance.now() + seconds * 1000;
      const every = async (first: number, work: () => Promise<unknown>) => {
        await sleep(first);
        while (performance.now() < stop) {
          const t0 = performance.now();
          await work();
          await sleep(Math.max(0, 1000 - (performance.now() - t0)));
        }
      };
      await Promise.all([
        every(0, () => monitor.tick()),
        every(offset, () => service.sockets({ kernelMaxAgeMs: 1000 })),
      ]);
      together.push(dumps.length / seconds);
    }
    // A connection arrives, then the next tick (past the owner lookup's 2 s between scans).
    const newConn: number[] = [];
    const newConnOwners: number[] = [];
    for (let i = 0; i < 3; i++) {
      await sleep(2100);
      await hold.send("more");
      await hold.line();
      dumps.length = ownerMs.length = 0;
      await monitor.tick();
      newConn.push(monitor.lastTookMs);
      newConnOwners.push(...ownerMs);
    }
    // (a) The rules alone over one real sample's rows.
    const rows = await service.sockets();
    const closed = service.registry.closed();
    const engine = new DiagnosisEngine({ startedAt: Date.now() });
    const sample = (now: number) => ({
      now,
      sockets: rows,
      closed,
      netstat: null,
      portRange: null,
      wire: monitor.wire,
      kernel: true,
    });
    let now = Date.now();
    for (let i = 0; i < 5; i++) engine.update(sample(now += 1000));
    const rules: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      engine.update(sample(now += 1000));
      rules.push(performance.now() - t0);
    }
    return {
      conns,
      rows: rows.length,
      rulesMs: median(rules)!,
      tickMs: median(ticks)!,
      tickAllocKB: allocs.length === 0 ? null : Math.round(median(allocs)!),
      dumpsPerTick,
      dumpsPerSecondWithStream: Math.max(...together),
      dumpMs: median(tickDumps),
      ownersMs: median(tickOwners) ?? 0,
      tickNewConnMs: median(newConn)!,
      ownersNewConnMs: median(newConnOwners) ?? 0,
      cpuOn: null,
      cpuOff: null,
    };
  } finally {
    await hold.send("close").catch(() => {});
    await hold.line().catch(() => "");
    try {
      hold.child.kill();
    } catch {
      // Exited once its connections were closed.
    }
    await hold.child.status;
    await service.close();
  }
}

/** The service's CPU (% of one core) over `seconds` while this process holds `conns`. */
async function serviceCpu(
  conns: number,
  diagnoses: boolean,
  args: Args,
  pin: string[],
): Promise<number | null> {
  const s = await spawnService(pin, {
    flags: ["--max-conns", String(conns + 1000), ...(diagnoses ? [] : ["--no-diagnoses"])],
  });
  const held: Deno.TcpConn[] = [];
  try {
    const port = s.info.echo as number;
    for (let i = 0; i < conns; i += 256) {
      const batch: Promise<Deno.TcpConn>[] = [];
      for (let j = i; j < Math.min(conns, i + 256); j++) {
        batch.push(Deno.connect({ hostname: "127.0.0.1", port }));
      }
      held.push(...await Promise.all(batch));
    }
    // Settle: the accepts, the first samples and owner scan, V8's first optimisations.
    await sleep(3000);
    const t0 = cpuTicksOf(s.pid);
    const w0 = performance.now();
    await sleep(args.seconds * 1000);
    const t1 = cpuTicksOf(s.pid);
    const wall = (performance.now() - w0) / 1000;
    // CLK_TCK is 100 on Linux.
    return t0 === null || t1 === null ? null : (t1 - t0) / 100 / wall * 100;
  } finally {
    await Promise.allSettled(held.map((c) => c.write(new Uint8Array([46]))));
    await sleep(300);
    for (const c of held) {
      try {
        c.close();
      } catch {
        // Reset already.
      }
    }
    await s.stop();
  }
}

/** Everything the bench measured. */
export interface DiagnosesBenchResult {
  bench: "diagnoses";
  runs: DiagnosesRun[];
  /** Per size: rules and tick ms, CPU % on/off (what the one-line JSON keeps). */
  summary: Record<string, Record<string, number | null>>;
}

/** Runs the bench. */
export async function diagnosesBench(argv: readonly string[]): Promise<DiagnosesBenchResult> {
  const args = parseArgs(argv);
  const limit = setTimeout(() => {
    console.error(`diagnoses bench: still running after ${args.maxSeconds} s, stopped`);
    killAll();
    Deno.exit(2);
  }, args.maxSeconds * 1000);
  const pin = await pinPrefix(0);
  const runs: DiagnosesRun[] = [];
  try {
    for (const conns of args.conns) {
      const run = await inProcess(conns, args);
      if (args.cpu) {
        run.cpuOn = await serviceCpu(conns, true, args, pin);
        run.cpuOff = await serviceCpu(conns, false, args, pin);
      }
      console.error(`  diagnoses ${JSON.stringify(run)}`);
      runs.push(run);
    }
  } finally {
    clearTimeout(limit);
  }
  const round = (x: number | null) => x === null ? null : Math.round(x * 100) / 100;
  const summary = Object.fromEntries(runs.map((r) => [r.conns, {
    rulesMs: round(r.rulesMs),
    tickMs: round(r.tickMs),
    tickAllocKB: r.tickAllocKB,
    tickNewConnMs: round(r.tickNewConnMs),
    cpuOn: round(r.cpuOn),
    cpuOff: round(r.cpuOff),
  }]));
  return { bench: "diagnoses", runs, summary };
}

const f = (x: number | null, digits = 2) =>
  x === null || !Number.isFinite(x) ? "–" : x.toFixed(digits);

/** The table of a result: one row per size. */
export function diagnosesTable(r: DiagnosesBenchResult): string {
  return markdownTable(
    [
      "conns (rows)",
      "rules ms/sample",
      "monitor tick ms (KiB allocated)",
      "kernel dump ms (per tick; per s with a stream)",
      "owners ms in tick",
      "tick after a new conn ms (owners)",
      "service CPU % idle: on / off",
    ],
    r.runs.map((x) => [
      `${x.conns} (${x.rows})`,
      f(x.rulesMs),
      `${f(x.tickMs, 1)} (${f(x.tickAllocKB, 0)})`,
      `${f(x.dumpMs, 1)} (${f(x.dumpsPerTick, 1)}; ${f(x.dumpsPerSecondWithStream, 2)})`,
      f(x.ownersMs),
      `${f(x.tickNewConnMs, 1)} (${f(x.ownersNewConnMs, 1)})`,
      `${f(x.cpuOn, 2)} / ${f(x.cpuOff, 2)}`,
    ]),
  );
}

if (import.meta.main) {
  await benchMain(diagnosesBench.bind(null, Deno.args), diagnosesTable, parseArgs(Deno.args).json);
}
