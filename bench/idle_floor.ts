/**
 * What an idle TCP connection costs in Deno itself, before any observation:
 * RSS growth per connection while 10,000 connections are held (by a child
 * process, so only the server's side counts), for three servers that do
 * nothing else:
 *
 * - `held`: accepted and kept, no read pending;
 * - `read`: one pending `read()` into a 64-byte slice of a shared slab (the
 *   least a server can do to notice the peer's next bytes);
 * - `read+object`: the same, plus a small per-connection object and callback,
 *   as any real handler has.
 *
 * The difference between `held` and `read` is the runtime's pending read op;
 * `read` is the floor under sockscope's "KB per idle connection".
 *
 * Each mode runs twice, each time in a fresh process with the V8 flags of
 * `deno task start`: with half the connections and with all of them. "cold"
 * is the growth from the idle process to all of them, per connection, so it
 * includes what the process pays once when connections first arrive (code
 * paged in from the executable, V8's young generation growing); "marginal" is
 * the growth between the two counts per connection, without it.
 *
 *     deno run -A bench/idle_floor.ts [--conns 10000]
 */
import { START_V8_FLAGS } from "./_spawn.ts";

const HOLD_FLAG = "--hold";
const MEASURE_FLAG = "--measure";

type Mode = "held" | "read" | "read+object";

/** Child: opens `n` connections to `port`, prints "ready", keeps them until stdin closes. */
async function hold(port: number, n: number): Promise<void> {
  const conns: Deno.TcpConn[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  console.log(`ready ${conns.length}`);
  const buf = new Uint8Array(16);
  while ((await Deno.stdin.read(buf)) !== null) {
    // Held until the parent closes stdin.
  }
  for (const c of conns) c.close();
}

function rssBytes(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Parent: serves in `mode`, has a child open `n` connections, returns the RSS growth in bytes. */
async function measure(mode: Mode, n: number): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 4096 });
  const port = (listener.addr as Deno.NetAddr).port;
  const slab = new Uint8Array(64 * n);
  const kept: unknown[] = [];
  let i = 0;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const slot = slab.subarray((i % n) * 64, (i % n) * 64 + 64);
        i++;
        if (mode === "held") {
          kept.push(conn);
        } else if (mode === "read") {
          kept.push(conn);
          conn.read(slot).then(() => {}, () => {});
        } else {
          const state = { conn, slot, bytes: 0, onRead: (_: unknown) => {} };
          kept.push(state);
          conn.read(slot).then(state.onRead, state.onRead);
        }
      }
    } catch {
      // Closed at the end.
    }
  })();
  await sleep(1000);
  const before = rssBytes();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, HOLD_FLAG, String(port), String(n)],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = performance.now() + 60_000;
  while (!text.includes("ready") && performance.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  while (kept.length < n && performance.now() < deadline) await sleep(50);
  // Let the young generation settle before reading RSS, as the conns bench does.
  await sleep(3000);
  const after = rssBytes();
  await child.stdin.close();
  await reader.cancel();
  await child.status;
  listener.close();
  await accepting;
  for (const k of kept) {
    try {
      ((k as { conn?: Deno.Conn }).conn ?? k as Deno.Conn).close();
    } catch {
      // The peer closed first.
    }
  }
  return after - before;
}

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    stdin: "null",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`Cannot measure: ${args.join(" ")} failed`);
  return new TextDecoder().decode(out.stdout).trim();
}

if (import.meta.main) {
  if (Deno.args[0] === HOLD_FLAG) {
    await hold(Number(Deno.args[1]), Number(Deno.args[2]));
  } else if (Deno.args[0] === MEASURE_FLAG) {
    console.log(await measure(Deno.args[1] as Mode, Number(Deno.args[2])));
  } else {
    const at = Deno.args.indexOf("--conns");
    const n = at >= 0 ? Number(Deno.args[at + 1]) : 10_000;
    if (!(Number.isInteger(n) && n >= 1 && n <= 50_000)) {
      throw new RangeError(`Cannot measure: --conns "${Deno.args[at + 1]}" is not in 1-50000`);
    }
    const half = Math.floor(n / 2);
    console.log(
      `| ${n.toLocaleString("en-US")} idle connections, server | KB each, cold (RSS) | ` +
        `KB each, marginal (${half.toLocaleString("en-US")} to ${n.toLocaleString("en-US")}) |`,
    );
    console.log("| --- | --- | --- |");
    const grown = (mode: Mode, count: number) =>
      run([...START_V8_FLAGS, import.meta.filename!, MEASURE_FLAG, mode, String(count)])
        .then(Number);
    for (const mode of ["held", "read", "read+object"] as const) {
      const all = await grown(mode, n);
      const some = await grown(mode, half);
      const cold = all / n / 1000;
      const marginal = (all - some) / (n - half) / 1000;
      console.log(`| ${mode} | ${cold.toFixed(2)} | ${marginal.toFixed(2)} |`);
    }
  }
}
