/**
 * `deno task soak`: the service under mixed load for N minutes, its resident
 * memory sampled from /proc, to show it stays flat once every bounded
 * structure (capture ring, packet log, closed sockets, UDP flows) has filled.
 *
 * The service runs as `main.ts` in a child process on ephemeral ports; this
 * process drives echo bulk transfers, pipelined app requests (and now and then
 * a malformed one), UDP datagrams from ever new ports, connects and disconnects
 * on every TCP endpoint (some ending in RST), the sink demonstration, and what
 * an open dashboard does (the /api/events stream, /api/sockets, /api/packets
 * and /metrics polls). The child's VmRSS is sampled every `--sample-seconds`.
 * RSS saws up and down by tens of MiB between garbage collections, so the
 * samples after `--warmup-minutes` are judged by their floor (after a
 * collection) and peak (before one) in the first and the last third: the run
 * fails (exit 1) if either grew more than `--max-growth`, if the child died,
 * if a load did not stop, or if an answer was wrong.
 *
 *     deno task soak [--minutes 10] [--sample-seconds 10] [--warmup-minutes 2]
 *                    [--max-growth 0.1] [--json FILE]
 */
import { AppFrameDecoder, encodeRequest } from "../lib/protocol/app_codec.ts";
import { encodeChatMessage } from "../lib/protocol/chat.ts";
import { terminate } from "./_spawn.ts";

/** Flags of the soak. */
export interface SoakArgs {
  /** @default 10 */
  minutes: number;
  /** @default 10 */
  sampleSeconds: number;
  /** Samples before this are warm-up and not judged. @default 2, at most half the run */
  warmupMinutes: number;
  /** Allowed RSS growth after warm-up, as a fraction. @default 0.1 */
  maxGrowth: number;
  /** Also write the samples and verdict as JSON here. */
  json: string | null;
}

/** One RSS sample of the child. */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  rssKiB: number;
  /** Live connections over every endpoint (UDP: flows). */
  conns: number;
  /** Operations the load generator completed since the previous sample. */
  ops: number;
}

const ROOT = new URL("../", import.meta.url);
const encoder = new TextEncoder();

/** Parses the flags; throws TypeError or RangeError naming the flag. */
export function soakArgs(args: readonly string[]): SoakArgs {
  const out: SoakArgs = {
    minutes: 10,
    sampleSeconds: 10,
    warmupMinutes: NaN,
    maxGrowth: 0.1,
    json: null,
  };
  const num = (flag: string, raw: string | undefined, min: number): number => {
    const n = Number(raw);
    if (raw === undefined || !Number.isFinite(n) || n < min) {
      throw new RangeError(`Cannot soak: ${flag} "${raw}" is not a number of at least ${min}`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--minutes") out.minutes = num(arg, args[++i], 0.1);
    else if (arg === "--sample-seconds") out.sampleSeconds = num(arg, args[++i], 1);
    else if (arg === "--warmup-minutes") out.warmupMinutes = num(arg, args[++i], 0);
    else if (arg === "--max-growth") out.maxGrowth = num(arg, args[++i], 0);
    else if (arg === "--json") out.json = args[++i] ?? null;
    else throw new TypeError(`Cannot soak: unknown flag "${arg}"`);
  }
  if (Number.isNaN(out.warmupMinutes)) out.warmupMinutes = Math.min(2, out.minutes / 2);
  return out;
}

/** The verdict over the samples after warm-up. */
export interface Drift {
  samples: number;
  /** Lowest sample of the first third after warm-up: the heap after a collection. */
  firstFloorKiB: number;
  /** Lowest sample of the last third. */
  lastFloorKiB: number;
  /** Highest sample of the first third: the heap just before a collection. */
  firstPeakKiB: number;
  /** Highest sample of the last third. */
  lastPeakKiB: number;
  minKiB: number;
  maxKiB: number;
  /**
   * The larger of the floor's and the peak's growth from the first third to the
   * last: a leak raises both, the collector's sawtooth neither.
   */
  growth: number;
  /** (max − min) / min over every sample after warm-up: the sawtooth and any trend together. */
  spread: number;
}

/**
 * Growth and spread of the samples taken at or after `warmupSeconds`; null
 * with fewer than 6. Each third should span a full collection cycle (about
 * two minutes under the soak's load), so runs shorter than 10 minutes judge
 * the sawtooth's phase more than a trend.
 */
export function rssDrift(samples: readonly Sample[], warmupSeconds: number): Drift | null {
  const rss = samples.filter((s) => s.t >= warmupSeconds).map((s) => s.rssKiB);
  if (rss.length < 6) return null;
  const third = Math.floor(rss.length / 3);
  const first = rss.slice(0, third);
  const last = rss.slice(rss.length - third);
  const [firstFloorKiB, lastFloorKiB] = [Math.min(...first), Math.min(...last)];
  const [firstPeakKiB, lastPeakKiB] = [Math.max(...first), Math.max(...last)];
  const minKiB = Math.min(...rss);
  const maxKiB = Math.max(...rss);
  return {
    samples: rss.length,
    firstFloorKiB,
    lastFloorKiB,
    firstPeakKiB,
    lastPeakKiB,
    minKiB,
    maxKiB,
    growth: Math.max(lastFloorKiB / firstFloorKiB, lastPeakKiB / firstPeakKiB) - 1,
    spread: (maxKiB - minKiB) / minKiB,
  };
}

/** VmRSS of `pid` in KiB, from /proc/PID/status. */
export async function readRssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+) kB$/m);
  if (match === null) throw new Error(`Cannot read RSS: no VmRSS in /proc/${pid}/status`);
  return Number(match[1]);
}

/** What the load generator did, by kind, and what went wrong. */
class Tally {
  readonly done: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  /** Answers that were not what the protocol says, by kind, with the first of each: these fail the run. */
  readonly wrong: Record<string, { count: number; first: string }> = {};
  ops = 0;

  count(kind: string, n = 1): void {
    this.done[kind] = (this.done[kind] ?? 0) + n;
    this.ops++;
  }

  mismatch(kind: string, what: string): void {
    (this.wrong[kind] ??= { count: 0, first: what }).count++;
  }

  error(kind: string, err: unknown): void {
    const name = `${kind}: ${err instanceof Error ? err.name : String(err)}`;
    this.errors[name] = (this.errors[name] ?? 0) + 1;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** Runs `io`, closing `conn` if it takes longer than `ms` or the run stops (so it cannot hang). */
async function bounded<T>(
  conn: { close(): void },
  ms: number,
  signal: AbortSignal,
  io: () => Promise<T>,
): Promise<T> {
  const stop = () => closeQuietly(conn);
  if (signal.aborted) stop();
  const timer = setTimeout(stop, ms);
  signal.addEventListener("abort", stop, { once: true });
  try {
    return await io();
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let view = data;
  while (view.length > 0) view = view.subarray(await conn.write(view));
}

async function readExactly(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  let got = 0;
  while (got < buf.length) {
    const n = await conn.read(buf.subarray(got));
    if (n === null) throw new Deno.errors.UnexpectedEof(`End of stream after ${got} bytes`);
    got += n;
  }
}

/** Where the child listens, from its start banner. */
interface Ports {
  dashboard: string;
  tcp: Map<string, number>;
  udp: Map<string, number>;
}

type Load = (ports: Ports, tally: Tally, signal: AbortSignal) => Promise<void>;

/** Echo bulk: two connections writing 64 KiB and reading it back, reconnecting every 30 s. */
const echoBulk: Load = async (ports, tally, signal) => {
  const chunk = new Uint8Array(65536).map((_, i) => i & 0xff);
  const one = async () => {
    const back = new Uint8Array(chunk.length);
    while (!signal.aborted) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.tcp.get("echo")! });
      const until = performance.now() + 30_000;
      try {
        while (!signal.aborted && performance.now() < until) {
          await bounded(conn, 5000, signal, async () => {
            await writeAll(conn, chunk);
            await readExactly(conn, back);
          });
          if (back[65535] !== 0xff || back[1000] !== (1000 & 0xff)) {
            tally.mismatch("echo", `bytes ${back[1000]}, ${back[65535]}`);
          }
          tally.count("echo bytes", chunk.length);
          await sleep(4, signal);
        }
      } catch (err) {
        if (!signal.aborted) tally.error("echo", err);
      } finally {
        closeQuietly(conn);
      }
    }
  };
  await Promise.all([one(), one()]);
};

const APP_REQUESTS: readonly [string, string, string][] = [
  ["search", "morpheus", "Follow the white rabbit. 🐰"],
  ["search", "ring", "In the caves beneath the Misty Mountains. 💍"],
  ["search", "🐶", "🐾 Playing ball! 🏐"],
  ["search", "neo", 'No match for "neo".'],
  ["binary", "😃", ""],
];

/**
 * App requests: four connections, each sending batches of ten pipelined
 * requests and checking every answer; every 20th connection ends with a
 * malformed frame and must get the error frame and EOF.
 */
const appRequests: Load = async (ports, tally, signal) => {
  const batch = APP_REQUESTS.flatMap((r) => [encodeRequest(r[0], r[1]), encodeRequest(r[0], r[1])]);
  const batchBytes = new Uint8Array(batch.reduce((n, b) => n + b.length, 0));
  batch.reduce((at, b) => (batchBytes.set(b, at), at + b.length), 0);
  const text = new TextDecoder();
  let connections = 0;
  const one = async () => {
    const buf = new Uint8Array(16384);
    while (!signal.aborted) {
      const n = connections++;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.tcp.get("app")! });
      const decoder = new AppFrameDecoder();
      try {
        for (let b = 0; b < 200 && !signal.aborted; b++) {
          await bounded(conn, 5000, signal, async () => {
            await writeAll(conn, batchBytes);
            let answered = 0;
            while (answered < batch.length) {
              const got = await conn.read(buf);
              if (got === null) throw new Deno.errors.UnexpectedEof("End of stream mid-batch");
              const { frames, error } = decoder.push(buf.subarray(0, got));
              if (error !== null) tally.mismatch("app decode", error.message);
              for (const frame of frames) {
                const [action, value, result] = APP_REQUESTS[answered++ >> 1];
                const got = action === "search"
                  ? JSON.parse(text.decode(frame.content)).result
                  : text.decode(frame.content);
                if (
                  got !==
                    (action === "search" ? result : `First 10 bytes of request: ${action}${value}`)
                ) {
                  tally.mismatch("app answer", `${got} for ${action} ${value}`);
                }
              }
            }
          });
          tally.count("app requests", batch.length);
          await sleep(10, signal);
        }
        if (n % 20 === 19 && !signal.aborted) {
          await bounded(conn, 5000, signal, async () => {
            await writeAll(conn, new Uint8Array([0, 5, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b]));
            const chunks: string[] = [];
            while (true) {
              const got = await conn.read(buf);
              if (got === null) break;
              chunks.push(text.decode(buf.subarray(0, got)));
            }
            if (!chunks.join("").includes('"error"')) {
              tally.mismatch("app malformed", JSON.stringify(chunks.join("").slice(0, 200)));
            }
          });
          tally.count("app malformed");
        }
      } catch (err) {
        if (!signal.aborted) tally.error("app", err);
      } finally {
        closeQuietly(conn);
      }
    }
  };
  await Promise.all([one(), one(), one(), one()]);
};

/** UDP: a new socket (a new flow) every 200 ms sends 10 datagrams and reads their echoes. */
const udpFlows: Load = async (ports, tally, signal) => {
  const target = {
    transport: "udp" as const,
    hostname: "127.0.0.1",
    port: ports.udp.get("udp")!,
  };
  while (!signal.aborted) {
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await bounded(sock, 3000, signal, async () => {
        for (let i = 0; i < 10; i++) {
          const payload = encoder.encode(`datagram ${i} `.padEnd(16 + i * 100, "x"));
          await sock.send(payload, target);
          const [echo] = await sock.receive();
          if (echo.length !== payload.length) {
            tally.mismatch("udp", `${echo.length} bytes for ${payload.length}`);
          }
          tally.count("udp datagrams");
        }
      });
    } catch (err) {
      if (!signal.aborted) tally.error("udp", err);
    } finally {
      closeQuietly(sock);
    }
    await sleep(200, signal);
  }
};

/**
 * Connects and disconnects on every TCP endpoint but the sink, about 20 a
 * second: a few bytes each way, then a close; every third leaves the answer
 * unread, so the close is an RST.
 */
const churn: Load = async (ports, tally, signal) => {
  const names = [...ports.tcp.keys()].filter((n) => n !== "sink");
  const payloads: Record<string, Uint8Array> = {
    app: encodeRequest("search", "ring"),
    chat: encodeChatMessage("hello from the soak"),
    "http-hello": encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "frame-fixed": new Uint8Array(32).fill(0x61),
    "frame-prefixed": encoder.encode("00005hello"),
  };
  const buf = new Uint8Array(4096);
  for (let i = 0; !signal.aborted; i++) {
    const name = names[i % names.length];
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.tcp.get(name)! });
      try {
        await bounded(conn, 3000, signal, async () => {
          await writeAll(conn, payloads[name] ?? encoder.encode(`hello ${i}\n`));
          // frame-close and reverse answer once the message ends, at our FIN.
          if (name === "frame-close" || name === "reverse") await conn.closeWrite();
          // discard answers nothing; everything else answers something.
          if (name !== "discard" && i % 3 !== 0) await conn.read(buf);
        });
        tally.count("connects");
      } finally {
        closeQuietly(conn);
      }
    } catch (err) {
      if (!signal.aborted) tally.error(`churn ${name}`, err);
    }
    await sleep(50, signal);
  }
};

async function api(ports: Ports, path: string, init?: RequestInit): Promise<Response> {
  const res = await fetch(`http://${ports.dashboard}${path}`, {
    ...init,
    // The API takes only JSON bodies.
    headers: init?.body == null ? init?.headers : { "content-type": "application/json" },
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`${path} answered ${res.status}`);
  return res;
}

/** The sink demonstration every 20 s: fill its queues with 4 MiB, drain through the API, stop. */
const sinkDemo: Load = async (ports, tally, signal) => {
  const data = new Uint8Array(4 << 20).fill(0x73);
  while (!signal.aborted) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.tcp.get("sink")! });
      try {
        const written = bounded(conn, 15_000, signal, () => writeAll(conn, data));
        await sleep(1000, signal);
        await (await api(ports, "/api/sink/drain", {
          method: "POST",
          body: JSON.stringify({ drain: true }),
        })).body?.cancel();
        await written;
        tally.count("sink bytes", data.length);
      } finally {
        closeQuietly(conn);
        await (await api(ports, "/api/sink/drain", {
          method: "POST",
          body: JSON.stringify({ drain: false }),
        })).body?.cancel();
      }
    } catch (err) {
      if (!signal.aborted) tally.error("sink", err);
    }
    await sleep(20_000, signal);
  }
};

/** An open dashboard's event stream, reopened every 10 s. */
const events: Load = async (ports, tally, signal) => {
  while (!signal.aborted) {
    const ac = new AbortController();
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    // Cancelling the reader ends a pending read at once; an abort alone was seen not to reach
    // the body of a long-lived stream now and then, and the soak then never ended.
    const stop = () => {
      ac.abort();
      reader?.cancel().catch(() => {});
    };
    signal.addEventListener("abort", stop, { once: true });
    const timer = setTimeout(stop, 10_000);
    try {
      const res = await fetch(`http://${ports.dashboard}/api/events?socketsMs=500`, {
        signal: ac.signal,
      });
      reader = res.body!.getReader();
      if (ac.signal.aborted) await reader.cancel();
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        tally.count("event bytes", value.length);
      }
    } catch (err) {
      if (!ac.signal.aborted) tally.error("events", err);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", stop);
    }
  }
};

/** An open dashboard's polls: the sockets table, the endpoints, the packet log, metrics. */
const polls: Load = async (ports, tally, signal) => {
  for (let i = 0; !signal.aborted; i++) {
    try {
      const paths = ["/api/sockets", "/api/endpoints", "/api/packets?limit=200"];
      if (i % 5 === 0) paths.push("/metrics");
      for (const path of paths) {
        await (await api(ports, path)).arrayBuffer();
        tally.count("api polls");
      }
    } catch (err) {
      if (!signal.aborted) tally.error("polls", err);
    }
    await sleep(1000, signal);
  }
};

const LOADS: Record<string, Load> = {
  echoBulk,
  appRequests,
  udpFlows,
  churn,
  sinkDemo,
  events,
  polls,
};

/** Reads lines from the child's stdout until the banner listed every endpoint; drains the rest. */
async function readBanner(stdout: ReadableStream<Uint8Array>): Promise<Ports> {
  const reader = stdout.getReader();
  const utf8 = new TextDecoder();
  const ports: Ports = { dashboard: "", tcp: new Map(), udp: new Map() };
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot start the service: it exited after printing:\n${text}`);
    text += utf8.decode(value, { stream: true });
    if (/kernel view:/.test(text)) break;
  }
  for (const line of text.split("\n")) {
    const dash = line.match(/^sockscope dashboard\s+http:\/\/([^/]+)\//);
    if (dash !== null) ports.dashboard = dash[1];
    const endpoint = line.match(/^\s+(\S+)\s+(tcp|udp)\s+[\d.]+:(\d+)\s/);
    if (endpoint !== null) {
      ports[endpoint[2] as "tcp" | "udp"].set(endpoint[1], Number(endpoint[3]));
    }
  }
  // Keep reading so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return ports;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

/** Live connections (UDP: flows) by endpoint, those with any. */
async function liveConns(ports: Ports): Promise<Record<string, number>> {
  const res = await api(ports, "/api/endpoints");
  const body = await res.json() as { endpoints: { name: string; connections: number }[] };
  return Object.fromEntries(
    body.endpoints.filter((e) => e.connections > 0).map((e) => [e.name, e.connections]),
  );
}

function sum(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

async function main(args: string[]): Promise<number> {
  let opts: SoakArgs;
  try {
    opts = soakArgs(args);
  } catch (err) {
    console.error(`soak: ${(err as Error).message}`);
    return 2;
  }
  const { PORT_ENDPOINTS } = await import("../lib/net/endpoint_table.ts");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "--port",
      "0",
      ...PORT_ENDPOINTS.flatMap((e) => [`--${e.name}-port`, "0"]),
    ],
    cwd: ROOT.pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const ac = new AbortController();
  const samples: Sample[] = [];
  const failures: string[] = [];
  const tally = new Tally();
  let childDied = false;
  child.status.then(() => {
    childDied = !ac.signal.aborted;
    ac.abort();
  });
  try {
    const ports = await readBanner(child.stdout);
    console.log(
      `soak: service pid ${child.pid}, dashboard ${ports.dashboard}, ${opts.minutes} min, ` +
        `warm-up ${opts.warmupMinutes} min, RSS every ${opts.sampleSeconds} s`,
    );
    const started = performance.now();
    const running = new Set<string>();
    for (const [name, load] of Object.entries(LOADS)) {
      running.add(name);
      load(ports, tally, ac.signal)
        .catch((err) => tally.error(name, err))
        .finally(() => running.delete(name));
    }
    console.log("    t s   RSS MiB   conns   ops/interval");
    const end = started + opts.minutes * 60_000;
    let lastOps = 0;
    let lastConns: Record<string, number> | null = null;
    while (!ac.signal.aborted) {
      const t = Math.round((performance.now() - started) / 1000);
      const rssKiB = await readRssKiB(child.pid);
      const byEndpoint = await liveConns(ports).catch(() => null);
      const conns = byEndpoint === null ? -1 : sum(byEndpoint);
      lastConns = byEndpoint;
      samples.push({ t, rssKiB, conns, ops: tally.ops - lastOps });
      lastOps = tally.ops;
      const s = samples[samples.length - 1];
      console.log(
        `${String(s.t).padStart(6)} ${mib(s.rssKiB).padStart(9)} ${String(s.conns).padStart(7)} ${
          String(s.ops).padStart(14)
        }`,
      );
      const next = started + samples.length * opts.sampleSeconds * 1000;
      if (next > end) break;
      await sleep(next - performance.now(), ac.signal);
    }
    console.log(`live at the last sample: ${JSON.stringify(lastConns)}`);
    ac.abort();
    // Every load stops within its own bounds; name any that does not rather than wait forever.
    const never = new AbortController().signal;
    for (let i = 0; i < 200 && running.size > 0; i++) await sleep(100, never);
    if (running.size > 0) failures.push(`loads still running 20 s after the end: ${[...running]}`);
  } finally {
    ac.abort();
    await terminate(child, 5000);
  }
  const drift = rssDrift(samples, opts.warmupMinutes * 60);
  console.log(`\nload: ${JSON.stringify(tally.done)}`);
  console.log(`load errors: ${JSON.stringify(tally.errors)}`);
  console.log(`wrong answers: ${JSON.stringify(tally.wrong)}`);
  if (childDied) failures.push(`the service exited early:\n${await stderr}`);
  if (Object.keys(tally.wrong).length > 0) failures.push("wrong answers");
  if (drift === null) failures.push("fewer than 6 samples after warm-up");
  else {
    const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
    console.log(
      `RSS after warm-up: ${drift.samples} samples, ${mib(drift.minKiB)}–${mib(drift.maxKiB)} ` +
        `MiB (spread ${pct(drift.spread)}); first → last third: floor ` +
        `${mib(drift.firstFloorKiB)} → ${mib(drift.lastFloorKiB)} MiB, peak ` +
        `${mib(drift.firstPeakKiB)} → ${mib(drift.lastPeakKiB)} MiB; growth ` +
        `${pct(drift.growth)} (limit ${pct(opts.maxGrowth)})`,
    );
    if (drift.growth > opts.maxGrowth) {
      failures.push(`RSS grew ${(drift.growth * 100).toFixed(1)}% after warm-up`);
    }
  }
  if (opts.json !== null) {
    await Deno.writeTextFile(
      opts.json,
      JSON.stringify({ args: opts, samples, drift, load: tally, failures }, null, 2) + "\n",
    );
  }
  for (const f of failures) console.error(`soak: FAIL: ${f}`);
  if (failures.length === 0) console.log("soak: ok");
  return failures.length === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
