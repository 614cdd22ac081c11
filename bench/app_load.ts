/**
 * The app-protocol load generator (the tutorial's client, many times over),
 * run as its own process. Each of `--conns` workers sends the tutorial's
 * request (`search "morpheus"`, text/json) and reads the whole answer frame
 * before the next one:
 *
 * - `keepalive`: every request on the worker's one connection;
 * - `oneshot`: a new connection per request, closed once the answer is read
 *   (what `app-client.py` does).
 *
 * Prints one JSON line: requests per second over `--seconds` after
 * `--warmup`, p50/p99 latency, errors.
 *
 *     deno run -A bench/app_load.ts --mode keepalive --port 4000 --conns 8
 */
import { encodeRequest } from "../lib/protocol/app_codec.ts";
import { LatencyHistogram } from "./_stats.ts";
import { cpuTicksOf } from "./_spawn.ts";

interface Args {
  mode: "keepalive" | "oneshot";
  port: number;
  conns: number;
  seconds: number;
  warmup: number;
  serverPid: number | null;
}

function parseArgs(argv: readonly string[]): Args {
  const out: Args = {
    mode: "keepalive",
    port: 0,
    conns: 8,
    seconds: 3,
    warmup: 0.5,
    serverPid: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case "--mode":
        if (v !== "keepalive" && v !== "oneshot") {
          throw new TypeError(`Cannot run app load: --mode "${v}" is not keepalive or oneshot`);
        }
        out.mode = v;
        break;
      case "--port":
        out.port = Number(v);
        break;
      case "--conns":
        out.conns = Number(v);
        break;
      case "--seconds":
        out.seconds = Number(v);
        break;
      case "--warmup":
        out.warmup = Number(v);
        break;
      case "--server-pid":
        out.serverPid = Number(v);
        break;
      default:
        throw new TypeError(`Cannot run app load: unknown flag "${argv[i]}"`);
    }
  }
  if (!(out.port > 0)) throw new TypeError("Cannot run app load: --port is required");
  return out;
}

const REQUEST = encodeRequest("search", "morpheus");

/** Reads one answer frame (2-byte header length, JSON header, content) into `buf`. */
async function readAnswer(conn: Deno.Conn, buf: Uint8Array): Promise<void> {
  let have = 0;
  let need = 2;
  let headerDone = false;
  while (have < need) {
    const n = await conn.read(buf.subarray(have));
    if (n === null) throw new Deno.errors.UnexpectedEof("The server closed before answering");
    have += n;
    if (!headerDone && have >= 2) {
      const headerLength = (buf[0] << 8) | buf[1];
      if (have >= 2 + headerLength) {
        const header = JSON.parse(new TextDecoder().decode(buf.subarray(2, 2 + headerLength)));
        need = 2 + headerLength + header["content-length"];
        headerDone = true;
      } else {
        need = 2 + headerLength;
      }
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  const t = {
    running: true,
    measuring: false,
    requests: 0,
    errors: 0,
    latency: new LatencyHistogram(),
  };
  const worker = async () => {
    const buf = new Uint8Array(65536);
    let conn: Deno.TcpConn | null = null;
    while (t.running) {
      const start = performance.now();
      try {
        if (conn === null) {
          conn = await Deno.connect({ hostname: "127.0.0.1", port: args.port });
          conn.setNoDelay(true);
        }
        await writeAll(conn, REQUEST);
        await readAnswer(conn, buf);
        if (args.mode === "oneshot") {
          conn.close();
          conn = null;
        }
        if (t.measuring) {
          t.requests++;
          t.latency.add(performance.now() - start);
        }
      } catch {
        if (t.running) t.errors++;
        try {
          conn?.close();
        } catch {
          // Gone.
        }
        conn = null;
      }
    }
    try {
      conn?.close();
    } catch {
      // Gone.
    }
  };
  const guard = setTimeout(() => {
    console.log(JSON.stringify({ error: "app load exceeded its time bound" }));
    Deno.exit(2);
  }, (args.warmup + args.seconds + 15) * 1000);
  const done = Promise.all(Array.from({ length: args.conns }, worker));
  await new Promise((r) => setTimeout(r, args.warmup * 1000));
  const cpu0 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
  const t0 = performance.now();
  t.measuring = true;
  await new Promise((r) => setTimeout(r, args.seconds * 1000));
  t.measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
  t.running = false;
  await done;
  clearTimeout(guard);
  console.log(JSON.stringify({
    mode: args.mode,
    conns: args.conns,
    seconds,
    requests: t.requests,
    reqPerSec: t.requests / seconds,
    p50Us: t.latency.percentileUs(50),
    p99Us: t.latency.percentileUs(99),
    serverCpu: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / 100 / seconds,
    errors: t.errors,
  }));
}
