/**
 * The dashboard's HTTP server in the real process (main.ts): it outlives
 * running out of file descriptors, closes slowloris clients after
 * --header-timeout, answers 503 past --http-max-conns, and drops event
 * streams whose clients stopped reading, with memory bounded; all counted in
 * /metrics.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { parseFlags } from "../lib/startup/server_flags.ts";
import { startMain } from "./_main_process.ts";
import {
  closeQuietly,
  connect,
  encoder,
  readToEnd,
  settlesWithin,
  waitFor,
  writeAll,
} from "./_helpers.ts";

/** Reads the text banner up to its kernel view line: the dashboard's and the echo port. */
async function banner(main: ReturnType<typeof startMain>) {
  let text = "";
  for (let i = 0; i < 200 && !/^ {2}kernel view: /m.test(text); i++) {
    const line = await main.line(20_000);
    if (line === null) throw new Error(`main.ts ended before its banner: ${await main.stderr()}`);
    text += line + "\n";
  }
  const dashboard = /^sockscope dashboard {2}http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(text);
  const echo = /^ {2}echo +tcp 127\.0\.0\.1:(\d+) /m.exec(text);
  ok(dashboard && echo, `no dashboard or echo line in: ${text}`);
  return { dashboard: Number(dashboard[1]), echo: Number(echo[1]) };
}

/** One sample of /metrics by its full name (labels included), or null. */
async function metric(port: number, name: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? null : Number(line.slice(name.length + 1));
}

function openFds(pid: number): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

async function alive(child: Deno.ChildProcess): Promise<boolean> {
  return !(await settlesWithin(child.status, 0));
}

Deno.test("main.ts outlives running out of file descriptors and serves the dashboard again once they free up", async () => {
  await using main = startMain([]);
  const { dashboard, echo } = await banner(main);
  const pid = main.child.pid;
  // The process's descriptor limit, lowered from outside: a flood reaches it quickly.
  const LIMIT = 300;
  const limited = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--nofile=${LIMIT}:${LIMIT}`],
  }).output();
  ok(limited.success, new TextDecoder().decode(limited.stderr));
  const base = openFds(pid);
  ok(base < LIMIT - 50, `${base} descriptors open before the flood`);
  const flood: Deno.TcpConn[] = [];
  const pending: Deno.TcpConn[] = [];
  try {
    // More connections than the process has descriptors left: the echo endpoint takes what
    // it can, the rest wait in its accept queue.
    for (let i = 0; i < LIMIT; i++) flood.push(await connect(echo));
    await waitFor("the process is at its descriptor limit", () => openFds(pid) >= LIMIT - 1, {
      timeoutMs: 10_000,
    });
    // Dashboard requests at the limit: the old server threw EMFILE out of the process here.
    for (let i = 0; i < 3; i++) {
      const conn = await connect(dashboard);
      pending.push(conn);
      await writeAll(
        conn,
        encoder.encode(
          "GET /api/endpoints HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ),
      );
    }
    // Long enough for several failed accepts (the first retry comes after 5 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (!(await alive(main.child))) throw new Error(`main.ts exited: ${await main.stderr()}`);
  } finally {
    flood.forEach(closeQuietly);
  }
  // Once the flood leaves, the requests that waited are answered and new ones work.
  for (const conn of pending) {
    const { bytes } = await readToEnd(conn, { timeoutMs: 10_000 }).catch(() => ({ bytes: null }));
    ok(bytes !== null, "a request made at the limit is answered once descriptors free up");
    ok(new TextDecoder().decode(bytes).startsWith("HTTP/1.1 200 OK"));
    closeQuietly(conn);
  }
  const res = await fetch(`http://127.0.0.1:${dashboard}/api/endpoints`);
  strictEqual(res.status, 200);
  await res.body?.cancel();
  const failed = await metric(dashboard, 'sockscope_http_accept_errors_total{code="EMFILE"}');
  ok(failed !== null && failed > 0, `EMFILE accepts counted: ${failed}`);
  ok(await alive(main.child));
});

/** Sends a GET on a fresh connection and reads up to the status line's code. */
async function statusOf(
  port: number,
  path: string,
): Promise<{ conn: Deno.TcpConn; status: number }> {
  const conn = await connect(port);
  await writeAll(conn, encoder.encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
  const buf = new Uint8Array(12);
  let got = 0;
  const deadline = setTimeout(() => closeQuietly(conn), 5000);
  try {
    while (got < buf.length) {
      const n = await conn.read(buf.subarray(got));
      if (n === null) break;
      got += n;
    }
  } finally {
    clearTimeout(deadline);
  }
  const m = /^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buf.subarray(0, got)));
  if (m === null) throw new Error(`No status line: ${JSON.stringify(buf.subarray(0, got))}`);
  return { conn, status: Number(m[1]) };
}

Deno.test("main.ts --header-timeout closes a slowloris client; --http-max-conns answers 503 until connections leave", async () => {
  await using main = startMain(["--header-timeout", "1", "--http-max-conns", "4"]);
  const { dashboard } = await banner(main);
  using slow = await connect(dashboard);
  const started = performance.now();
  const end = readToEnd(slow, { timeoutMs: 6000 });
  const head = encoder.encode("GET /api/endpoints HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (let i = 0; i < head.length; i++) {
    if (!(await writeAll(slow, head.subarray(i, i + 1)).then(() => true, () => false))) break;
    if (await settlesWithin(end, 250)) break;
  }
  const { bytes } = await end;
  strictEqual(bytes.length, 0, "closed without an answer");
  const took = performance.now() - started;
  ok(took < 1000 + 3000, `the slow client was closed after ${took.toFixed(0)} ms`);
  // Event streams stay in flight, so they hold their connections: the fifth gets a 503.
  const streams: Deno.TcpConn[] = [];
  let refused: number | null = null;
  try {
    for (let i = 0; i < 10 && refused === null; i++) {
      const { conn, status } = await statusOf(dashboard, "/api/events?sockets=0&packets=0");
      streams.push(conn);
      if (status === 503) refused = i;
      else strictEqual(status, 200);
    }
    ok(refused !== null && refused <= 4, `refused the connection at index ${refused}`);
  } finally {
    streams.forEach(closeQuietly);
  }
  const res = await waitFor("the dashboard serves again", async () => {
    const { conn, status } = await statusOf(dashboard, "/api/endpoints");
    closeQuietly(conn);
    return status === 200;
  }, { timeoutMs: 10_000, intervalMs: 100 });
  ok(res);
  ok((await metric(dashboard, "sockscope_http_connections_refused_total"))! >= 1);
  ok((await metric(dashboard, 'sockscope_http_timeouts_total{kind="header"}'))! >= 1);
});

/** Clients that ask for /api/events and never read, with a 4 KiB receive buffer. */
const STALLED_CLIENTS = `
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /api/events?socketsMs=250 HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n")
    socks.append(s)
print("connected", flush=True)
sys.stdin.read()
`;

Deno.test("main.ts drops event streams whose clients never read, counted, with memory bounded; a reader keeps its stream", async () => {
  await using main = startMain(["--sse-max-behind", "3"]);
  const { dashboard, echo } = await banner(main);
  const rss = () => metric(dashboard, "process_resident_memory_bytes");
  // Load: connections that make every sockets snapshot a few hundred kilobytes.
  const load: Deno.TcpConn[] = [];
  const STALLED = 20;
  let python: Deno.ChildProcess | null = null;
  const reader = new AbortController();
  try {
    for (let i = 0; i < 300; i++) load.push(await connect(echo));
    // A client that reads: never behind for long, never dropped.
    const res = await fetch(`http://127.0.0.1:${dashboard}/api/events?socketsMs=250`, {
      signal: reader.signal,
    });
    const body = res.body!.getReader();
    let read = 0;
    const reading = (async () => {
      for (let i = 0; i < 100_000; i++) {
        const next = await body.read().catch(() => ({ done: true, value: undefined }));
        if (next.done) return;
        read += next.value?.length ?? 0;
      }
    })();
    python = new Deno.Command("python3", {
      args: ["-c", STALLED_CLIENTS, String(dashboard), String(STALLED)],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const out = python.stdout.getReader();
    const first = new TextDecoder().decode((await out.read()).value);
    strictEqual(first.trim(), "connected");
    out.releaseLock();
    // Once the kernel's buffers are full, events wait in the streams' backlogs: from then on
    // memory stays flat (the old streams grew about 35 MB/s here, 20 of them).
    await waitFor(
      "the stalled streams are behind",
      async () => (await metric(dashboard, "sockscope_sse_coalesced_total"))! >= STALLED,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const stalled = (await rss())!;
    let most = stalled;
    await waitFor(`${STALLED} stalled streams dropped`, async () => {
      most = Math.max(most, (await rss())!);
      return (await metric(dashboard, "sockscope_sse_dropped_total")) === STALLED;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    ok(most - stalled < 48 * 2 ** 20, `RSS ${stalled >> 20} -> at most ${most >> 20} MiB`);
    // Their connections are closed too, not left blocked on a write.
    await waitFor("only the reader and /metrics connected", async () => {
      return (await metric(dashboard, "sockscope_http_connections"))! <= 3;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    strictEqual(await metric(dashboard, "sockscope_sse_streams"), 1, "the reader's stream is open");
    const seen = read;
    await waitFor("the reader still gets events", () => read > seen, { timeoutMs: 5000 });
    reader.abort();
    await reading;
  } finally {
    reader.abort();
    load.forEach(closeQuietly);
    if (python !== null) {
      await python.stdin.close().catch(() => {});
      await python.stdout.cancel().catch(() => {});
      await python.status;
    }
  }
});

Deno.test("parseFlags() reads --http-max-conns, --header-timeout and --sse-max-behind with their defaults", () => {
  const http = (args: string[]) => {
    const parsed = parseFlags(args);
    if (typeof parsed === "string") throw new Error(parsed);
    return parsed.http;
  };
  deepStrictEqual(http([]), { maxConns: 256, headerTimeoutMs: 10_000, sseMaxBehindMs: 30_000 });
  deepStrictEqual(
    http(["--http-max-conns", "8", "--header-timeout", "2", "--sse-max-behind", "5"]),
    { maxConns: 8, headerTimeoutMs: 2000, sseMaxBehindMs: 5000 },
  );
  strictEqual(
    parseFlags(["--header-timeout", "0"]),
    'Invalid --header-timeout: "0" is not an integer in 1..3600',
  );
  strictEqual(
    parseFlags(["--http-max-conns", "lots"]),
    'Invalid --http-max-conns: "lots" is not an integer in 1..1000000',
  );
});
