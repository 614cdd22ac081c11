/**
 * Slow clients (slowloris): the read timeout closes connections that trickle
 * a message a byte at a time, counted, while a well-behaved client keeps its
 * latency; a client whose messages each complete in time is never closed by
 * it, however long its stream of messages lasts.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { parseFlags } from "../lib/startup/server_flags.ts";
import { concat } from "../lib/bytes.ts";
import {
  AppReader,
  appRequest,
  closeQuietly,
  connect,
  encoder,
  readToEnd,
  settlesWithin,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const READ_TIMEOUT_MS = 1000;
const SLOW_CLIENTS = 1000;
/** Each slow client sends one byte this often (slots of 10 ms, so the clients take turns). */
const TRICKLE_MS = 300;
const SLOTS = TRICKLE_MS / 10;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Round trips of a well-behaved app client, one after another 2 ms apart, while `more()`. */
async function roundTrips(
  conn: Deno.Conn,
  reader: AppReader,
  more: (n: number) => boolean,
): Promise<number[]> {
  const out: number[] = [];
  const request = appRequest("search", "ring");
  while (more(out.length)) {
    const started = performance.now();
    await writeAll(conn, request);
    deepStrictEqual((await reader.next(5000)).json, {
      result: "In the caves beneath the Misty Mountains. 💍",
    });
    out.push(performance.now() - started);
    await delay(2);
  }
  return out.sort((a, b) => a - b);
}

function maxOpenFiles(): number {
  const limits = Deno.readTextFileSync("/proc/self/limits");
  return Number(limits.match(/^Max open files\s+(\d+)/m)?.[1] ?? Infinity);
}

/** A client that trickles a request, and how its connection ended. */
interface SlowClient {
  conn: Deno.TcpConn;
  sent: number;
  firstByteAt: number | null;
  closedAt: number | null;
  end: "eof" | "reset" | "data" | null;
}

Deno.test("readTimeoutMs closes 1,000 clients trickling a byte every 300 ms; another client keeps its latency", async () => {
  const needed = SLOW_CLIENTS * 2 + 500;
  ok(maxOpenFiles() >= needed, `This test needs ulimit -n of at least ${needed}`);
  await using svc = startService({ readTimeoutMs: READ_TIMEOUT_MS });
  const port = svc.port("app");
  const control = await connect(port);
  const slow: SlowClient[] = [];
  let ticker: ReturnType<typeof setInterval> | undefined;
  try {
    const reader = new AppReader(control);
    await roundTrips(control, reader, (n) => n < 20);
    const before = await roundTrips(control, reader, (n) => n < 300);

    for (let batch = 0; batch < SLOW_CLIENTS / 100; batch++) {
      const conns = await Promise.all(Array.from({ length: 100 }, () => connect(port)));
      for (const conn of conns) {
        conn.setNoDelay(true);
        const client: SlowClient = { conn, sent: 0, firstByteAt: null, closedAt: null, end: null };
        slow.push(client);
        // The server never answers a message it has not got: this read ends when it closes.
        conn.read(new Uint8Array(64)).then(
          (n) => client.end = n === null ? "eof" : "data",
          () => client.end = "reset",
        ).finally(() => client.closedAt = performance.now());
      }
    }
    await waitFor(
      "the server to accept every slow client",
      async () => (await svc.endpoints()).app.connections === SLOW_CLIENTS + 1,
      { timeoutMs: 10_000 },
    );

    // A request far longer than the clients will ever get to send.
    const request = appRequest("search", "x".repeat(200));
    let tick = 0;
    ticker = setInterval(() => {
      const slot = tick++ % SLOTS;
      for (let i = slot; i < slow.length; i += SLOTS) {
        const client = slow[i];
        if (client.closedAt !== null) continue;
        client.firstByteAt ??= performance.now();
        // A write racing the server's close may fail; the pending read tells how it ended.
        client.conn.write(request.subarray(client.sent, client.sent + 1)).catch(() => {});
        client.sent++;
      }
    }, 10);
    const trickleStarted = performance.now();
    const deadline = trickleStarted + TRICKLE_MS + READ_TIMEOUT_MS + 2000;
    const during = await roundTrips(
      control,
      reader,
      () => slow.some((c) => c.closedAt === null) && performance.now() < deadline,
    );
    await waitFor("every slow client to be closed", () => slow.every((c) => c.closedAt !== null), {
      timeoutMs: Math.max(0, deadline - performance.now()) + 100,
    });
    clearInterval(ticker);

    const lifetimes = slow.map((c) => c.closedAt! - c.firstByteAt!).sort((a, b) => a - b);
    const ends = Object.groupBy(slow, (c) => c.end!);
    const [p50Before, p99Before] = [percentile(before, 0.5), percentile(before, 0.99)];
    const [p50During, p99During] = [percentile(during, 0.5), percentile(during, 0.99)];
    console.log(
      `slow clients: ${SLOW_CLIENTS} closed ${lifetimes[0].toFixed(0)}–${
        lifetimes[lifetimes.length - 1].toFixed(0)
      } ms after their first byte (${ends.eof?.length ?? 0} FIN, ${
        ends.reset?.length ?? 0
      } RST), max ${Math.max(...slow.map((c) => c.sent))} bytes sent each; ` +
        `control p50/p99 before ${p50Before.toFixed(2)}/${
          p99Before.toFixed(2)
        } ms (${before.length}), ` +
        `during ${p50During.toFixed(2)}/${p99During.toFixed(2)} ms (${during.length})`,
    );
    strictEqual(ends.data, undefined, "no slow client got an answer");
    ok(lifetimes[0] >= READ_TIMEOUT_MS - 20, `none closed before the timeout: ${lifetimes[0]}`);
    ok(
      lifetimes[lifetimes.length - 1] <= READ_TIMEOUT_MS + 2000,
      `all closed within the timeout + 2 s: ${lifetimes[lifetimes.length - 1]}`,
    );
    ok(during.length >= 20, `the control client was served meanwhile: ${during.length}`);
    ok(
      p99During < Math.max(50, 5 * p99Before),
      `control p99 ${p99During.toFixed(2)} ms during vs ${p99Before.toFixed(2)} ms before`,
    );

    const app = (await svc.endpoints()).app;
    deepStrictEqual(
      [app.connections, app.limitHits],
      [1, { "read-timeout": SLOW_CLIENTS }],
    );
    const metrics = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
    match(
      metrics,
      new RegExp(
        `^sockscope_limit_hits_total\\{endpoint="app",kind="read-timeout"\\} ${SLOW_CLIENTS}$`,
        "m",
      ),
    );
    const closed = svc.service.registry.closed().filter((r) => r.endpoint === "app");
    strictEqual(closed.length, SLOW_CLIENTS);
    ok(closed.every((r) => r.closeReason === "read timeout"));
    // The control connection is still fine.
    deepStrictEqual((await roundTrips(control, reader, (n) => n < 1)).length, 1);
  } finally {
    clearInterval(ticker);
    closeQuietly(control);
    for (const c of slow) closeQuietly(c.conn);
  }
});

Deno.test("readTimeoutMs runs per message: a long stream of messages that each complete in time stays open", async () => {
  await using svc = startService({ readTimeoutMs: READ_TIMEOUT_MS });
  using conn = await connect(svc.port("app"));
  conn.setNoDelay(true);
  const reader = new AppReader(conn);
  // Four requests back to back in 10-byte pieces 40 ms apart: each takes about half the
  // timeout, the stream twice it, and most reads end inside a request.
  const requests = concat([
    appRequest("search", "morpheus"),
    appRequest("search", "ring"),
    appRequest("search", "neo"),
    appRequest("search", "🐶"),
  ]);
  const started = performance.now();
  for (let at = 0; at < requests.length; at += 10) {
    await writeAll(conn, requests.subarray(at, at + 10));
    await delay(40);
  }
  ok(performance.now() - started > 1.5 * READ_TIMEOUT_MS, "the stream outlasts the timeout");
  deepStrictEqual((await reader.next()).json, { result: "Follow the white rabbit. 🐰" });
  deepStrictEqual((await reader.next()).json, {
    result: "In the caves beneath the Misty Mountains. 💍",
  });
  deepStrictEqual((await reader.next()).json, { result: 'No match for "neo".' });
  deepStrictEqual((await reader.next()).json, { result: "🐾 Playing ball! 🏐" });
  // Between messages the connection holds nothing: waiting is the idle timeout's business.
  await delay(READ_TIMEOUT_MS + 1200);
  await writeAll(conn, appRequest("search", "morpheus"));
  deepStrictEqual((await reader.next()).json, { result: "Follow the white rabbit. 🐰" });
  const app = (await svc.endpoints()).app;
  deepStrictEqual([app.connections, app.limitHits], [1, {}]);
});

Deno.test("parseFlags() reads --read-timeout in seconds, 30 by default", () => {
  const flags = (args: string[]) => {
    const parsed = parseFlags(args);
    if (typeof parsed === "string") throw new Error(parsed);
    return parsed.service.readTimeoutMs;
  };
  deepStrictEqual([flags([]), flags(["--read-timeout", "5"]), flags(["--read-timeout", "0"])], [
    30_000,
    5000,
    0,
  ]);
  strictEqual(
    parseFlags(["--read-timeout", "soon"]),
    'Invalid --read-timeout: "soon" is not an integer in 0..86400',
  );
});

Deno.test("readTimeoutMs also closes chat, framing and http-hello clients that trickle a message", async () => {
  await using svc = startService({ readTimeoutMs: READ_TIMEOUT_MS });
  // A chat header announcing 5 bytes, a 5-digit length prefix announcing 5, and an HTTP
  // request head: each sent a byte at a time, slower than the timeout allows.
  const cases: [string, Uint8Array][] = [
    ["chat", encoder.encode("5".padEnd(64) + "hello")],
    ["frame-prefixed", encoder.encode("00005hello")],
    ["http-hello", encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")],
  ];
  await Promise.all(cases.map(async ([name, message]) => {
    using conn = await connect(svc.port(name));
    const started = performance.now();
    const end = readToEnd(conn, { timeoutMs: READ_TIMEOUT_MS + 3000 });
    for (let i = 0; i < 8; i++) {
      if (!(await settlesWithin(writeAll(conn, message.subarray(i, i + 1)).catch(() => {}), 500))) {
        break;
      }
      await delay(250);
    }
    const { end: how } = await end;
    const took = performance.now() - started;
    strictEqual(how, "eof", `${name}: closed with FIN`);
    ok(took < READ_TIMEOUT_MS + 2500, `${name}: closed after ${took.toFixed(0)} ms`);
  }));
  const endpoints = await svc.endpoints();
  for (const [name] of cases) {
    deepStrictEqual(endpoints[name].limitHits, { "read-timeout": 1 }, name);
  }
});
