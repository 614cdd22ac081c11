/**
 * The load generator, run as its own process (pinned to another core than the
 * server). Prints one JSON line.
 *
 * - `throughput`: each connection keeps writing `--size`-byte messages and
 *   reading the echo, with at most `--window` bytes unechoed, so both
 *   directions flow; echoed bytes are counted over `--seconds` after
 *   `--warmup`.
 * - `rtt`: each connection sends `--size` bytes, reads the whole echo, and
 *   only then sends the next; every round trip's latency is recorded.
 *
 * With `--server-pid`, the server's CPU time over the measured window is read
 * from /proc, so a load-generator-bound run still shows what the server spent.
 *
 *     deno run -A bench/load.ts --mode rtt --port 4000 --conns 32 --size 64
 */
import { busyTicks, cpuSecondsBetween, LatencyHistogram } from "./_stats.ts";

/** Flags of the load generator. */
export interface LoadArgs {
  mode: "throughput" | "rtt";
  port: number;
  /** @default 1 */
  conns: number;
  /** Bytes per message. @default 64 */
  size: number;
  /** Measured seconds. @default 3 */
  seconds: number;
  /** Seconds of traffic before measuring. @default 0.5 */
  warmup: number;
  /** Throughput only: unechoed bytes allowed per connection. @default 131072 */
  window: number;
  /** Pid whose CPU time is read from /proc over the measured window. */
  serverPid: number | null;
  /** Clock ticks per second of /proc stat times. @default 100 */
  clkTck: number;
}

/** One run's result, as printed. */
export interface LoadResult {
  mode: "throughput" | "rtt";
  conns: number;
  size: number;
  /** Measured wall seconds. */
  seconds: number;
  bytes: number;
  messages: number;
  bytesPerSec: number;
  msgPerSec: number;
  p50Us: number | null;
  p99Us: number | null;
  p999Us: number | null;
  /** Server CPU over the window, as a fraction of one core; null without --server-pid. */
  serverCpu: number | null;
  /** This process's CPU over the window, as a fraction of one core. */
  loadCpu: number | null;
  /**
   * CPU busy over the window outside the server and this process (kernel
   * network softirqs, and anything else on the machine), in cores: a high
   * value means the run shared the machine.
   */
  otherCpu: number | null;
  errors: number;
}

function number(args: readonly string[], i: number, min: number, max: number): number {
  const n = Number(args[i + 1]);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new RangeError(`Cannot run load: ${args[i]} "${args[i + 1]}" is not in ${min}..${max}`);
  }
  return n;
}

/** Parses the flags; throws TypeError or RangeError naming the bad one. */
export function parseLoadArgs(args: readonly string[]): LoadArgs {
  const out: LoadArgs = {
    mode: "throughput",
    port: 0,
    conns: 1,
    size: 64,
    seconds: 3,
    warmup: 0.5,
    window: 131072,
    serverPid: null,
    clkTck: 100,
  };
  for (let i = 0; i < args.length; i += 2) {
    switch (args[i]) {
      case "--mode": {
        const mode = args[i + 1];
        if (mode !== "throughput" && mode !== "rtt") {
          throw new TypeError(`Cannot run load: --mode "${mode}" is not throughput or rtt`);
        }
        out.mode = mode;
        break;
      }
      case "--port":
        out.port = number(args, i, 1, 65535);
        break;
      case "--conns":
        out.conns = number(args, i, 1, 1024);
        break;
      case "--size":
        out.size = number(args, i, 1, 1 << 20);
        break;
      case "--seconds":
        out.seconds = number(args, i, 0.1, 600);
        break;
      case "--warmup":
        out.warmup = number(args, i, 0, 60);
        break;
      case "--window":
        out.window = number(args, i, 1, 1 << 26);
        break;
      case "--server-pid":
        out.serverPid = number(args, i, 1, 2 ** 31);
        break;
      case "--clk-tck":
        out.clkTck = number(args, i, 1, 100_000);
        break;
      default:
        throw new TypeError(`Cannot run load: unknown flag "${args[i]}"`);
    }
  }
  if (out.port === 0) throw new TypeError("Cannot run load: --port is required");
  if (out.window < out.size) {
    throw new RangeError(`Cannot run load: --window "${out.window}" is smaller than --size`);
  }
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function readStat(pid: number | "self" | null): string | null {
  try {
    return Deno.readTextFileSync(pid === null ? "/proc/stat" : `/proc/${pid}/stat`);
  } catch {
    return null;
  }
}

/** Counters every connection adds into; the orchestrating code snapshots them. */
interface Totals {
  bytes: number;
  messages: number;
  errors: number;
  measuring: boolean;
  running: boolean;
  latency: LatencyHistogram;
}

async function throughputConn(conn: Deno.TcpConn, args: LoadArgs, t: Totals): Promise<void> {
  const msg = new Uint8Array(args.size).fill(0x61);
  let sent = 0;
  let echoed = 0;
  let wake: (() => void) | null = null;
  const writer = async () => {
    while (t.running) {
      if (sent - echoed + args.size > args.window) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      let off = 0;
      while (off < msg.length) off += await conn.write(off === 0 ? msg : msg.subarray(off));
      sent += msg.length;
    }
  };
  const reader = async () => {
    const buf = new Uint8Array(65536);
    try {
      while (t.running) {
        const n = await conn.read(buf);
        if (n === null) return;
        echoed += n;
        t.bytes += n;
        if (wake !== null && sent - echoed + args.size <= args.window) {
          const w = wake;
          wake = null;
          w();
        }
      }
    } finally {
      // A writer waiting for room must not wait forever once reading stopped.
      echoed = sent;
      wake?.();
    }
  };
  try {
    await Promise.all([writer(), reader()]);
  } catch {
    // Closing the connections at the end rejects the pending read or write.
    if (t.running) t.errors++;
  }
}

async function rttConn(conn: Deno.TcpConn, args: LoadArgs, t: Totals): Promise<void> {
  const msg = new Uint8Array(args.size).fill(0x62);
  const buf = new Uint8Array(Math.max(65536, args.size));
  try {
    while (t.running) {
      const start = performance.now();
      let off = 0;
      while (off < msg.length) off += await conn.write(off === 0 ? msg : msg.subarray(off));
      let got = 0;
      while (got < msg.length) {
        const n = await conn.read(buf);
        if (n === null) throw new Deno.errors.UnexpectedEof("Echo closed mid-message");
        got += n;
      }
      if (t.measuring) {
        t.latency.add(performance.now() - start);
        t.messages++;
        t.bytes += got;
      }
    }
  } catch {
    if (t.running) t.errors++;
  }
}

/** Runs the load described by `args` against 127.0.0.1 and returns what it measured. */
export async function runLoad(args: LoadArgs): Promise<LoadResult> {
  const conns = await Promise.all(
    Array.from({ length: args.conns }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: args.port });
      conn.setNoDelay(true);
      return conn;
    }),
  );
  const t: Totals = {
    bytes: 0,
    messages: 0,
    errors: 0,
    measuring: false,
    running: true,
    latency: new LatencyHistogram(),
  };
  const each = args.mode === "rtt" ? rttConn : throughputConn;
  const done = Promise.all(conns.map((c) => each(c, args, t)));
  try {
    await sleep(args.warmup * 1000);
    const server0 = args.serverPid === null ? null : readStat(args.serverPid);
    const self0 = readStat("self");
    const all0 = readStat(null);
    const bytes0 = t.bytes;
    const t0 = performance.now();
    t.measuring = true;
    await sleep(args.seconds * 1000);
    t.measuring = false;
    const t1 = performance.now();
    const bytes1 = t.bytes;
    const server1 = args.serverPid === null ? null : readStat(args.serverPid);
    const self1 = readStat("self");
    const all1 = readStat(null);
    const seconds = (t1 - t0) / 1000;
    const cpu = (a: string | null, b: string | null) =>
      a === null || b === null ? null : cpuSecondsBetween(a, b, args.clkTck) / seconds;
    const serverCpu = cpu(server0, server1);
    const loadCpu = cpu(self0, self1);
    const allCpu = all0 === null || all1 === null
      ? null
      : (busyTicks(all1) - busyTicks(all0)) / args.clkTck / seconds;
    const bytes = bytes1 - bytes0;
    const messages = args.mode === "rtt" ? t.messages : Math.floor(bytes / args.size);
    return {
      mode: args.mode,
      conns: args.conns,
      size: args.size,
      seconds,
      bytes,
      messages,
      bytesPerSec: bytes / seconds,
      msgPerSec: messages / seconds,
      p50Us: args.mode === "rtt" ? t.latency.percentileUs(50) : null,
      p99Us: args.mode === "rtt" ? t.latency.percentileUs(99) : null,
      p999Us: args.mode === "rtt" ? t.latency.percentileUs(99.9) : null,
      serverCpu,
      loadCpu,
      otherCpu: allCpu === null || serverCpu === null || loadCpu === null
        ? null
        : Math.max(0, allCpu - serverCpu - loadCpu),
      errors: t.errors,
    };
  } finally {
    t.running = false;
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
    }
    await done;
  }
}

if (import.meta.main) {
  const args = parseLoadArgs(Deno.args);
  // A hard bound in case the server stops answering mid-run.
  const guard = setTimeout(() => {
    console.log(JSON.stringify({ error: "load run exceeded its time bound" }));
    Deno.exit(2);
  }, (args.warmup + args.seconds + 10) * 1000);
  try {
    console.log(JSON.stringify(await runLoad(args)));
  } catch (err) {
    console.log(JSON.stringify({ error: String(err) }));
    Deno.exitCode = 1;
  } finally {
    clearTimeout(guard);
  }
}
