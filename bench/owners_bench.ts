/**
 * What finding socket owners (lib/kernel/socket_owners.ts, `ss -p`'s /proc walk) costs at
 * `--conns` held loopback connections: one child process listens, another connects to it
 * `--conns` times (so /proc holds twice that many socket links), then this process samples the
 * kernel's table for that port and times the first lookup (a full scan), a lookup of known
 * sockets (no scan), and a lookup after one new connection (a scan again).
 *
 *     ulimit -n 65536; deno run -A bench/owners_bench.ts [--conns 10000]
 *
 * Prints one JSON line (`{"bench":"owners",…}`).
 */
import { readSockDiag } from "../lib/kernel/netlink.ts";
import { SocketOwners } from "../lib/kernel/socket_owners.ts";

const at = Deno.args.indexOf("--conns");
const given = at < 0 ? "10000" : Deno.args[at + 1];
const conns = Number(given);
if (!Number.isInteger(conns) || conns < 1 || conns > 15000) {
  throw new RangeError(`Cannot run the bench: --conns "${given}" is not in 1-15000`);
}

// The server: accepts and holds every connection, prints its port.
const server = `
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0, backlog: 4096 });
console.log(listener.addr.port);
const held = [];
for await (const c of listener) held.push(c);
`;
// The client: connects, prints once every connection is up, and opens one more connection
// for each line read on stdin.
const client = `
const port = Number(Deno.args[0]);
const held = [];
for (let i = 0; i < ${conns}; i += 256) {
  const batch = [];
  for (let j = i; j < Math.min(${conns}, i + 256); j++) {
    batch.push(Deno.connect({ hostname: "127.0.0.1", port }));
  }
  held.push(...await Promise.all(batch));
}
console.log("up");
for await (const _ of Deno.stdin.readable) {
  held.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  console.log("more");
}
`;
function spawn(script: string, args: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  return {
    child,
    writer: child.stdin.getWriter(),
    async line(): Promise<string> {
      const { value, done } = await lines.read();
      if (done) throw new Error("A child exited");
      return value.trim();
    },
  };
}
const listening = spawn(server);
let connecting: ReturnType<typeof spawn> | undefined;
try {
  const port = Number(await listening.line());
  connecting = spawn(client, [String(port)]);
  const { line, writer } = connecting;
  await line();
  // Deno's readers, timed: where a scan's time goes.
  const spent = { readDirMs: 0, readLinkMs: 0 };
  const owners = new SocketOwners({
    scanIntervalMs: 0,
    readers: {
      readDir(path) {
        const t0 = performance.now();
        const names = [...Deno.readDirSync(path)].map((e) => e.name);
        spent.readDirMs += performance.now() - t0;
        return names;
      },
      readLink(path) {
        const t0 = performance.now();
        const target = Deno.readLinkSync(path);
        spent.readLinkMs += performance.now() - t0;
        return target;
      },
      readText: (path) => Deno.readTextFileSync(path),
    },
  });
  const sample = async () => await readSockDiag({ ports: [port], families: [4] });
  let rows = await sample();
  let t = performance.now();
  await owners.attach(rows);
  const firstMs = performance.now() - t;
  const named = rows.filter((r) => r.process !== undefined).length;
  const scan = { ...owners.stats };
  rows = await sample();
  t = performance.now();
  await owners.attach(rows);
  const cachedMs = performance.now() - t;
  const firstSpent = { ...spent };
  spent.readDirMs = spent.readLinkMs = 0;
  await writer.write(new TextEncoder().encode("1\n"));
  await line();
  rows = await sample();
  t = performance.now();
  await owners.attach(rows);
  const newConnMs = performance.now() - t;
  const rescan = { ...owners.stats };
  // ss -p for comparison: the same walk, in C.
  t = performance.now();
  await new Deno.Command("ss", { args: ["-tanp", `sport = :${port}`], stdout: "null" }).output();
  const ssMs = performance.now() - t;
  console.log(JSON.stringify({
    bench: "owners",
    conns,
    rows: rows.length,
    named,
    links: scan.links,
    processes: scan.processes,
    firstScanMs: Math.round(firstMs * 10) / 10,
    cachedMs: Math.round(cachedMs * 100) / 100,
    newConnScanMs: Math.round(newConnMs * 10) / 10,
    newConnLinksRead: rescan.links,
    firstScanReadDirMs: Math.round(firstSpent.readDirMs),
    firstScanReadLinkMs: Math.round(firstSpent.readLinkMs),
    newConnReadDirMs: Math.round(spent.readDirMs),
    newConnReadLinkMs: Math.round(spent.readLinkMs),
    ssTanpMs: Math.round(ssMs * 10) / 10,
  }));
} finally {
  for (const c of [listening, connecting]) {
    if (c === undefined) continue;
    c.child.kill();
    await c.child.status;
  }
}
