/** The load generator's modes over real sockets: --bidir, --reverse, --rate, --json-stream. */
import assert from "node:assert/strict";
import { main } from "../cli.ts";
import type { CliIo } from "../lib/cli/io.ts";
import { multiconn } from "../lib/client/multiconn.ts";
import { closeQuietly, HOST, startService } from "./_helpers.ts";

/** Runs the CLI in process and collects what it printed. */
async function run(args: (string | number)[]) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = { stdout: (t) => stdout += t, stderr: (t) => stderr += t, progress: false };
  const code = await main(args.map(String), io);
  return { code, stdout, stderr };
}

/**
 * An echo server that answers only once it holds two messages' worth of a
 * connection's bytes: a lock-step client (one message, then wait) stalls on
 * it, a client that writes while it reads does not.
 */
function startPairEcho(size: number) {
  const listener = Deno.listen({ hostname: HOST, port: 0 });
  const conns = new Set<Deno.Conn>();
  const served = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const buf = new Uint8Array(64 * 1024);
        const held: Uint8Array[] = [];
        let heldBytes = 0;
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            held.push(buf.slice(0, n));
            heldBytes += n;
            while (heldBytes >= 2 * size) {
              const all = new Uint8Array(heldBytes);
              let at = 0;
              for (const h of held) all.set(h, at), at += h.length;
              const out = all.subarray(0, 2 * size);
              for (let w = 0; w < out.length;) w += await conn.write(out.subarray(w));
              held.length = 0;
              held.push(all.slice(2 * size));
              heldBytes -= 2 * size;
            }
          }
        } catch {
          // The client closed.
        } finally {
          conns.delete(conn);
          closeQuietly(conn);
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await served.catch(() => {});
    },
  };
}

Deno.test("multiconn --bidir writes while it reads, and counts both directions", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  const result = await multiconn({ port, mode: "bidir", conns: 3, messages: 200, size: 1000 });
  assert.equal(result.ok, true, result.error);
  assert.deepEqual(result.sent, { messages: 600, bytes: 600_000 });
  assert.deepEqual(result.received, { messages: 600, bytes: 600_000 });
  assert.equal(result.latencyMs!.count, 600);
  assert.ok(result.sentMegabytesPerSecond > 0 && result.megabytesPerSecond > 0);
  // The service saw the same bytes each way.
  const echo = (await svc.api<{ endpoints: { name: string; bytesIn: number; bytesOut: number }[] }>(
    "/api/endpoints",
  )).body.endpoints.find((e) => e.name === "echo")!;
  assert.deepEqual([echo.bytesIn, echo.bytesOut], [600_000, 600_000]);

  // Two messages must be in flight before anything comes back: only a concurrent writer gets
  // there. Lock-step echo times out on the same server.
  await using pair = startPairEcho(100);
  const both = await multiconn({
    port: pair.port,
    mode: "bidir",
    conns: 2,
    messages: 20,
    size: 100,
  });
  assert.equal(both.ok, true, both.error);
  assert.equal(both.received.messages, 40);
  const lockStep = await multiconn({
    port: pair.port,
    conns: 1,
    messages: 2,
    size: 100,
    timeoutMs: 300,
  });
  assert.equal(lockStep.ok, false);
  assert.match(lockStep.error!, /no echo within 300 ms/);
});

Deno.test("multiconn --reverse reads the server's stream (chargen) and checks it", async () => {
  await using svc = startService();
  const result = await multiconn({
    port: svc.port("chargen"),
    mode: "reverse",
    conns: 2,
    messages: 40,
    size: 5000,
  });
  assert.equal(result.ok, true, result.error);
  assert.deepEqual(result.received, { messages: 80, bytes: 400_000 });
  assert.deepEqual(result.sent, { messages: 0, bytes: 0 });
  assert.equal(result.latencyMs, null);
  // The bytes came from the server side: chargen's counters say it wrote them.
  const chargen = (await svc.api<{ endpoints: { name: string; bytesOut: number }[] }>(
    "/api/endpoints",
  )).body.endpoints.find((e) => e.name === "chargen")!;
  assert.ok(chargen.bytesOut >= 400_000, `chargen wrote ${chargen.bytesOut}`);

  // An echo server sends nothing unasked: reverse against it says so.
  const echo = await multiconn({
    port: svc.port("echo"),
    mode: "reverse",
    conns: 1,
    messages: 1,
    timeoutMs: 200,
  });
  assert.equal(echo.ok, false);
  assert.match(echo.error!, /no data within 200 ms/);
});

Deno.test("multiconn --rate bounds messages per second per connection", async () => {
  await using svc = startService();
  const result = await multiconn({
    port: svc.port("echo"),
    conns: 2,
    size: 64,
    rate: 40,
    durationMs: 1000,
  });
  assert.equal(result.ok, true, result.error);
  // The bucket lets at most rate × seconds plus its burst (1 here) per connection; a busy machine
  // only makes fewer. Unpaced, loopback does thousands.
  const perConn = result.messages / 2;
  const bound = 40 * result.seconds + 2;
  assert.ok(perConn <= bound, `${perConn} messages per connection in ${result.seconds} s`);
  assert.ok(perConn >= 10, `${perConn} messages per connection: pacing stalled`);
  assert.equal(result.rate, 40);

  const bidir = await multiconn({
    port: svc.port("echo"),
    mode: "bidir",
    conns: 1,
    size: 64,
    rate: 40,
    durationMs: 500,
  });
  assert.ok(bidir.sent.messages <= 40 * bidir.seconds + 2, `bidir sent ${bidir.sent.messages}`);
});

Deno.test("multiconn --json-stream prints one object per interval, then the summary", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  const { code, stdout, stderr } = await run([
    "multiconn",
    "--port",
    port,
    "--conns",
    2,
    "--size",
    100,
    "--rate",
    200,
    "--duration",
    1,
    "--interval",
    0.25,
    "--json-stream",
  ]);
  assert.equal(code, 0, stderr);
  const lines = stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
  const intervals = lines.slice(0, -1);
  const end = lines.at(-1);
  assert.equal(end.event, "end");
  assert.equal(end.data.command, "multiconn");
  assert.ok(intervals.every((l) => l.event === "interval"), stdout);
  // Four intervals of 0.25 s in one second, give or take one for timer slack.
  assert.ok(intervals.length >= 3 && intervals.length <= 5, `${intervals.length} intervals`);
  // Back to back, and together they are the summary.
  for (let i = 1; i < intervals.length; i++) {
    assert.equal(intervals[i].data.start, intervals[i - 1].data.end);
  }
  const sum = intervals.reduce((n, l) => n + l.data.received.bytes, 0);
  assert.equal(sum, end.data.bytes);
  assert.ok(end.data.latencyMs.p999 >= end.data.latencyMs.p50);
  const first = intervals[0].data;
  assert.ok(first.latencyMs.count > 0);
  if (Deno.build.os === "linux") {
    // As root or not, sock_diag shows a process its own sockets' tcp_info.
    assert.equal(first.tcp.available, true, first.tcp.reason);
    assert.equal(first.tcp.conns.length, 2);
    for (const c of first.tcp.conns) {
      assert.equal(typeof c.rttMs, "number");
      assert.equal(typeof c.cwnd, "number");
      assert.equal(typeof c.retransmits, "number");
      assert.equal(c.state, "ESTABLISHED");
    }
  } else {
    assert.equal(first.tcp.available, false);
    assert.ok(first.tcp.reason);
  }
});

Deno.test("multiconn rejects --bidir with --reverse, and --json with --json-stream", async () => {
  const both = await run(["multiconn", "--bidir", "--reverse"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--bidir with --reverse/);
  const json = await run(["multiconn", "--json", "--json-stream"]);
  assert.equal(json.code, 2);
  assert.match(json.stderr, /--json with --json-stream/);
});
