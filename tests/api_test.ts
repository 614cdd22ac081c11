/**
 * The HTTP API in process (`createApp(state).fetch`) against a service on
 * real sockets: every route, parameter errors, methods, the SSE stream and
 * the Prometheus exposition.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import type { PacketEntry } from "../lib/capture/packet_log.ts";
import type { SocketRecord } from "../lib/net/types.ts";
import type { RecentEvent } from "../lib/view/live_events.ts";
import { KernelTable } from "../lib/kernel/kernel_table.ts";
import {
  connect,
  decoder,
  encoder,
  readExactly,
  readToEnd,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

interface PacketsBody {
  lastSeq: number;
  dropped: number;
  capacity: number;
  previewBytes: number;
  packets: PacketEntry[];
}

/** Opens an echo connection and does one round trip of `text`; returns it and its server-side id. */
async function echoConn(svc: TestService, text: string) {
  const conn = await connect(svc.port("echo"));
  await writeAll(conn, encoder.encode(text));
  await readExactly(conn, encoder.encode(text).length);
  const row = (await svc.sockets("?endpoint=echo")).find((r) =>
    r.kind === "conn" && r.remote?.port === conn.localAddr.port
  )!;
  return { conn, id: row.id };
}

Deno.test("every route of the app answers", async () => {
  await using svc = startService();
  const get = async (path: string) => {
    const res = await svc.app.fetch(new Request(`http://x${path}`));
    await res.body?.cancel();
    return res.status;
  };
  strictEqual(await get("/api/endpoints"), 200);
  strictEqual(await get("/api/sockets"), 200);
  strictEqual(await get("/api/sockets/l-echo"), 200);
  strictEqual(await get("/api/packets"), 200);
  strictEqual(await get("/metrics"), 200);
  const ac = new AbortController();
  const events = await svc.app.fetch(new Request("http://x/api/events", { signal: ac.signal }));
  strictEqual(events.status, 200);
  strictEqual(events.headers.get("content-type"), "text/event-stream; charset=utf-8");
  ac.abort();
  await events.body!.cancel();
  const drain = await svc.api("/api/sink/drain", { method: "POST", body: '{"drain":false}' });
  deepStrictEqual([drain.status, drain.body], [200, { draining: false, connections: 0 }]);
  const close = await svc.api("/api/sockets/c0/close", { method: "POST" });
  strictEqual(close.status, 404);
  // The client-run routes answer too (runs themselves are tested with lib/client).
  const clients = await svc.api("/api/clients");
  deepStrictEqual([clients.status, clients.body], [200, { runs: [] }]);
  const post = (path: string, body: unknown) =>
    svc.api(path, { method: "POST", body: JSON.stringify(body) });
  strictEqual((await post("/api/clients/multiconn", { endpoint: "sink" })).status, 400);
  strictEqual((await post("/api/clients/sink", { action: "dance" })).status, 400);
  strictEqual((await post("/api/clients/r0/stop", {})).status, 404);
});

Deno.test("GET /api/endpoints lists every endpoint with its real address", async () => {
  await using svc = startService();
  const res = await svc.api<{ endpoints: Record<string, unknown>[]; sink: unknown }>(
    "/api/endpoints",
  );
  strictEqual(res.status, 200);
  match(res.headers.get("content-type")!, /^application\/json/);
  // The core endpoints first, in port order; lab endpoints follow.
  deepStrictEqual(res.body.endpoints.slice(0, 5).map((e) => [e.name, e.transport]), [
    ["echo", "tcp"],
    ["multiconn", "tcp"],
    ["app", "tcp"],
    ["udp", "udp"],
    ["sink", "tcp"],
  ]);
  for (const e of res.body.endpoints) {
    if (e.transport === "link") {
      // No port: the interface and EtherType (its frame counts depend on other tests' frames).
      deepStrictEqual([e.address, e.link], [null, { interface: "lo", etherType: "0x0801" }]);
      ok((e.tryIt as string[]).some((line) => line.includes("--iface lo")), String(e.tryIt));
      continue;
    }
    if (e.transport === "unix") {
      // A Unix socket's address is its path, which its try-it lines name.
      deepStrictEqual(e.address, { hostname: svc.service.unixPath, port: 0 });
      ok((e.tryIt as string[]).every((line) => line.includes(svc.service.unixPath)));
      continue;
    }
    const port = svc.port(e.name as string);
    deepStrictEqual(e.address, { hostname: "127.0.0.1", port });
    deepStrictEqual([e.listening, e.connections, e.bytesIn, e.bytesOut], [true, 0, 0, 0]);
    ok((e.tryIt as string[]).some((line) => line.includes(String(port))), String(e.tryIt));
  }
  deepStrictEqual(res.body.sink, { draining: false });
});

Deno.test("GET /api/packets answers 400 with a specific message for bad parameters", async () => {
  await using svc = startService();
  const cases: [string, string][] = [
    ["limit=abc", 'Cannot parse query: "limit" is not an integer: "abc"'],
    ["limit=10001", 'Cannot parse query: "limit" is out of range 0..10000: "10001"'],
    ["after=-1", `Cannot parse query: "after" is out of range 0..${Number.MAX_SAFE_INTEGER}: "-1"`],
    ["after=1.5", 'Cannot parse query: "after" is not an integer: "1.5"'],
    ["dir=sideways", 'Cannot parse query: "dir" must be one of in, out: "sideways"'],
  ];
  for (const [query, error] of cases) {
    const res = await svc.api(`/api/packets?${query}`);
    strictEqual(res.status, 400, query);
    match(res.headers.get("content-type")!, /^application\/json/);
    deepStrictEqual(res.body, { error }, query);
  }
  const events = await svc.api("/api/events?dir=sideways");
  deepStrictEqual([events.status, events.body], [400, {
    error: 'Cannot parse query: "dir" must be one of in, out: "sideways"',
  }]);
});

Deno.test("endpoint and state filters refuse names that match nothing, and take ss's spelling", async () => {
  await using svc = startService();
  for (const path of ["/api/sockets", "/api/packets", "/api/events", "/api/capture.pcapng"]) {
    const res = await svc.api(`${path}?endpoint=ecoh`);
    strictEqual(res.status, 400, path);
    const { error } = res.body as { error: string };
    match(error, /^Cannot parse query: "endpoint" must be one of .*\becho\b.*: "ecoh"$/, path);
  }
  const bad = await svc.api("/api/sockets?state=ESTABLISHED,BOGUS");
  strictEqual(bad.status, 400);
  match(
    (bad.body as { error: string }).error,
    /^Cannot parse query: "state" has "BOGUS", not one of ESTABLISHED, .*TIME_WAIT/,
  );
  // The same over real HTTP, as curl sends it.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, svc.app.fetch);
  try {
    const res = await fetch(
      `http://127.0.0.1:${server.addr.port}/api/sockets?state=time-wait,nope`,
    );
    strictEqual(res.status, 400);
    match((await res.json()).error, /^Cannot parse query: "state" has "NOPE", not one of /);
  } finally {
    await server.shutdown();
  }
  // ss spells states with dashes: time-wait is TIME_WAIT.
  const listener = await svc.sockets("?endpoint=echo&state=time-wait,listen");
  deepStrictEqual(listener.map((s) => s.id), ["l-echo"]);
});

Deno.test("unknown routes and socket ids answer 404 with JSON", async () => {
  await using svc = startService();
  const route = await svc.api("/api/nope");
  deepStrictEqual([route.status, route.body], [404, { error: 'No route "/api/nope"' }]);
  match(route.headers.get("content-type")!, /^application\/json/);
  const socket = await svc.api("/api/sockets/c999999");
  deepStrictEqual([socket.status, socket.body], [404, { error: 'No socket "c999999"' }]);
  const close = await svc.api("/api/sockets/c999999/close", { method: "POST" });
  deepStrictEqual([close.status, close.body], [404, { error: 'No live connection "c999999"' }]);
  // A listener is not a connection: the API does not close endpoints.
  const listener = await svc.api("/api/sockets/l-echo/close", { method: "POST" });
  strictEqual(listener.status, 404);
  strictEqual((await svc.endpoints()).echo.connections, 0);
});

Deno.test("a wrong method answers 405 with an Allow header", async () => {
  await using svc = startService();
  const cases: [string, string, string][] = [
    ["POST", "/api/sockets", "GET, HEAD"],
    ["DELETE", "/api/sockets/l-echo", "GET, HEAD"],
    ["GET", "/api/sink/drain", "POST"],
    ["GET", "/api/sockets/c1/close", "POST"],
    ["PUT", "/metrics", "GET, HEAD"],
  ];
  for (const [method, path, allow] of cases) {
    const res = await svc.api(path, { method });
    strictEqual(res.status, 405, `${method} ${path}`);
    strictEqual(res.headers.get("allow"), allow, `${method} ${path}`);
    deepStrictEqual(res.body, { error: `Method "${method}" not allowed: use ${allow}` });
  }
});

Deno.test("HEAD answers every GET route without a body", async () => {
  await using svc = startService();
  for (const path of ["/api/endpoints", "/api/sockets", "/api/packets", "/metrics"]) {
    const res = await svc.app.fetch(new Request(`http://x${path}`, { method: "HEAD" }));
    strictEqual(res.status, 200, path);
    strictEqual(await res.text(), "", path);
    ok(res.headers.get("content-type"), path);
  }
});

Deno.test("HEAD /api/events does not leave an event producer running", async () => {
  // A spy kernel counts the socket snapshots the stream would take (every 250 ms here).
  let samples = 0;
  await using svc = startService({
    kernel: {
      sample() {
        samples++;
        return Promise.resolve({ ok: false, reason: "spy", source: null, at: Date.now() });
      },
    },
  });
  const res = await svc.app.fetch(
    new Request("http://x/api/events?socketsMs=250", { method: "HEAD" }),
  );
  strictEqual(res.status, 200);
  strictEqual(await res.text(), "");
  const after = samples;
  // Nothing to await for "nothing happens": watch for two sampling periods.
  await new Promise((resolve) => setTimeout(resolve, 600));
  strictEqual(samples, after, "the stream behind a HEAD response kept sampling");
});

Deno.test("POST /api/sink/drain answers 400 for a body without a boolean", async () => {
  await using svc = startService();
  const notBool = await svc.api("/api/sink/drain", { method: "POST", body: '{"drain":"yes"}' });
  deepStrictEqual([notBool.status, notBool.body], [400, {
    error: 'Cannot parse body: "drain" must be true or false',
  }]);
  const notJson = await svc.api("/api/sink/drain", { method: "POST", body: "drain" });
  deepStrictEqual([notJson.status, notJson.body], [400, {
    error: 'Cannot parse body: not valid JSON: "drain"',
  }]);
});

Deno.test("GET /api/sockets filters by endpoint and state", async () => {
  await using svc = startService();
  const a = await echoConn(svc, "a");
  const b = await connect(svc.port("app"));
  try {
    const echoEstablished = await svc.sockets("?endpoint=echo&state=ESTABLISHED");
    deepStrictEqual(echoEstablished.map((r) => [r.id, r.kind]), [[a.id, "conn"], [
      `p-tcp-127.0.0.1:${a.conn.localAddr.port}-127.0.0.1:${svc.port("echo")}`,
      "peer",
    ]]);
    const listeners = await svc.sockets("?state=listen,unconn");
    ok(listeners.every((r) => r.state === "LISTEN" || r.state === "UNCONN"));
    for (const id of ["l-app", "l-echo", "l-multiconn", "l-sink", "s-udp"]) {
      strictEqual(listeners.filter((r) => r.id === id).length, 1, id);
    }
    strictEqual(listeners.length, svc.service.addresses().length, "one row per endpoint");
    deepStrictEqual(await svc.sockets("?endpoint=chat&state=ESTABLISHED"), []);
    const res = await svc.api<{ count: number; sockets: SocketRecord[] }>("/api/sockets");
    strictEqual(res.body.count, res.body.sockets.length);
  } finally {
    a.conn.close();
    b.close();
  }
});

Deno.test("GET /api/sockets/:id shows a live connection with its packets", async () => {
  await using svc = startService();
  const { conn, id } = await echoConn(svc, "Hello, world");
  try {
    const res = await svc.api<{ socket: SocketRecord; packets: PacketEntry[] }>(
      `/api/sockets/${id}`,
    );
    strictEqual(res.status, 200);
    deepStrictEqual(
      [res.body.socket.id, res.body.socket.state, res.body.socket.bytesIn],
      [id, "ESTABLISHED", 12],
    );
    deepStrictEqual(res.body.packets.map((p) => [p.dir, p.len, atob(p.data)]), [
      ["in", 12, "Hello, world"],
      ["out", 12, "Hello, world"],
    ]);
  } finally {
    conn.close();
  }
});

Deno.test("GET /api/sockets/:id shows a peer's row by its id", async () => {
  await using svc = startService();
  const { conn } = await echoConn(svc, "peer");
  try {
    // Match the port: a TIME_WAIT left by an earlier user of this port may be listed too.
    const peer = (await svc.sockets("?endpoint=echo")).find((r) =>
      r.kind === "peer" && r.local.port === conn.localAddr.port
    )!;
    const res = await svc.api<{ socket: SocketRecord }>(
      `/api/sockets/${encodeURIComponent(peer.id)}`,
    );
    strictEqual(res.status, 200);
    deepStrictEqual([res.body.socket.id, res.body.socket.ours], [peer.id, false]);
    strictEqual(res.body.socket.local.port, conn.localAddr.port);
  } finally {
    conn.close();
  }
});

Deno.test("GET /api/sockets/:id keeps a closed connection's final counters", async () => {
  await using svc = startService();
  const { conn, id } = await echoConn(svc, "goodbye");
  conn.close();
  await waitFor("the connection to close", async () => (await svc.endpoints()).echo.closed === 1);
  ok(!(await svc.sockets()).some((r) => r.id === id), "closed connections leave /api/sockets");
  const res = await svc.api<{ socket: SocketRecord; packets: PacketEntry[] }>(
    `/api/sockets/${id}`,
  );
  strictEqual(res.status, 200);
  const s = res.body.socket;
  deepStrictEqual(
    [s.state, s.bytesIn, s.bytesOut, s.closeReason],
    ["CLOSED", 7, 7, "closed by peer"],
  );
  ok(s.closedAt! >= s.openedAt!);
  strictEqual(res.body.packets.length, 2);
});

Deno.test("POST /api/sockets/:id/close closes a live connection; the client reads EOF", async () => {
  await using svc = startService();
  const { conn, id } = await echoConn(svc, "x");
  try {
    const res = await svc.api(`/api/sockets/${id}/close`, { method: "POST" });
    deepStrictEqual([res.status, res.body], [200, { closed: id }]);
    const end = await readToEnd(conn);
    deepStrictEqual([end.end, end.bytes.length], ["eof", 0]);
  } finally {
    conn.close();
  }
  const closed = await svc.api<{ socket: SocketRecord }>(`/api/sockets/${id}`);
  strictEqual(closed.body.socket.closeReason, "closed through the API");
  strictEqual((await svc.endpoints()).echo.connections, 0);
  const again = await svc.api(`/api/sockets/${id}/close`, { method: "POST" });
  strictEqual(again.status, 404);
});

Deno.test("GET /api/packets pages by seq and filters by conn, endpoint and dir", async () => {
  await using svc = startService({ logPreview: 8 });
  const one = await echoConn(svc, "first");
  const two = await echoConn(svc, "a longer second message");
  try {
    const all = (await svc.api<PacketsBody>("/api/packets?endpoint=echo")).body;
    strictEqual(all.previewBytes, 8);
    deepStrictEqual(all.packets.map((p) => [p.conn, p.dir, p.len, p.truncated]), [
      [one.id, "in", 5, false],
      [one.id, "out", 5, false],
      [two.id, "in", 23, true],
      [two.id, "out", 23, true],
    ]);
    strictEqual(atob(all.packets[2].data), "a longer");
    const seqs = all.packets.map((p) => p.seq);
    ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), "oldest first");

    const newest = (await svc.api<PacketsBody>("/api/packets?endpoint=echo&limit=1")).body;
    deepStrictEqual(newest.packets.map((p) => p.seq), [seqs[3]]);
    const after = (await svc.api<PacketsBody>(`/api/packets?after=${seqs[1]}`)).body;
    deepStrictEqual(after.packets.map((p) => p.seq), [seqs[2], seqs[3]]);
    const byConn = (await svc.api<PacketsBody>(`/api/packets?conn=${one.id}&dir=out`)).body;
    deepStrictEqual(byConn.packets.map((p) => [p.seq, atob(p.data)]), [[seqs[1], "first"]]);
    const none = (await svc.api<PacketsBody>("/api/packets?endpoint=app")).body;
    deepStrictEqual(none.packets, []);
  } finally {
    one.conn.close();
    two.conn.close();
  }
});

/** Reads Server-Sent Events off a response body, bounded in time and count. */
async function* sseEvents(body: ReadableStream<Uint8Array>, timeoutMs: number, max = 200) {
  const reader = body.getReader();
  const deadline = performance.now() + timeoutMs;
  let text = "";
  let count = 0;
  try {
    while (count < max) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), Math.max(0, deadline - performance.now()));
      });
      const next = await Promise.race([reader.read(), late]).finally(() => clearTimeout(timer));
      if (next === "late") throw new Error(`No more events within ${timeoutMs} ms`);
      if (next.done) return;
      text += decoder.decode(next.value, { stream: true });
      let cut: number;
      while ((cut = text.indexOf("\n\n")) >= 0) {
        const block = text.slice(0, cut);
        text = text.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined) {
          count++;
          yield { event, data: JSON.parse(data) };
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}

Deno.test("GET /api/events streams hello, endpoints, sockets and packets until aborted", async () => {
  await using svc = startService();
  const ac = new AbortController();
  const res = await svc.app.fetch(
    new Request("http://x/api/events?socketsMs=250", { signal: ac.signal }),
  );
  strictEqual(res.status, 200);
  strictEqual(res.headers.get("cache-control"), "no-cache");
  const body = res.body!;
  const seen = new Map<string, unknown>();
  let sent: Awaited<ReturnType<typeof echoConn>> | null = null;
  try {
    for await (const { event, data } of sseEvents(body, 20_000)) {
      if (!seen.has(event)) seen.set(event, data);
      if (event === "hello") strictEqual(data.lastSeq, 0);
      if (event === "endpoints") ok(data.some((e: { name: string }) => e.name === "echo"));
      if (event === "sockets") {
        strictEqual(data.kernel.available, true);
        // The interval asked for is a floor; the CPU budget stretches it when a snapshot is
        // slow (a cold V8, a loaded machine), so only the floor and a sane ceiling are checked.
        ok(data.intervalMs >= 250 && data.intervalMs <= 60_000, `intervalMs ${data.intervalMs}`);
      }
      if (sent === null && seen.has("hello") && seen.has("endpoints") && seen.has("sockets")) {
        sent = await echoConn(svc, "over the wire");
      }
      if (event === "packets" && sent !== null) {
        const mine = (data.packets as PacketEntry[]).filter((p) => p.conn === sent!.id);
        if (mine.length === 2) {
          deepStrictEqual(mine.map((p) => [p.dir, atob(p.data)]), [
            ["in", "over the wire"],
            ["out", "over the wire"],
          ]);
          break;
        }
      }
    }
    ok(sent !== null, `events seen: ${[...seen.keys()]}`);
    ok(seen.has("packets"), `events seen: ${[...seen.keys()]}`);

    // Aborting the request ends the stream.
    ac.abort();
    const reader = body.getReader();
    let done = false;
    for (let i = 0; i < 10 && !done; i++) done = (await reader.read()).done;
    ok(done, "the stream ended after abort");
    reader.releaseLock();
  } finally {
    ac.abort();
    sent?.conn.close();
  }
});

Deno.test("GET /api/events sends its first sockets snapshot with hello, whatever socketsMs says", async () => {
  await using svc = startService();
  const ac = new AbortController();
  const res = await svc.app.fetch(
    new Request("http://x/api/events?socketsMs=60000&packets=0&diagnoses=0", { signal: ac.signal }),
  );
  const seen: string[] = [];
  try {
    for await (const { event } of sseEvents(res.body!, 5000)) {
      seen.push(event);
      if (event === "sockets") break;
    }
  } finally {
    ac.abort();
  }
  deepStrictEqual(seen, ["hello", "endpoints", "sockets"]);
});

Deno.test("GET /api/events?socketsMs=250 sends kernel rows as fresh as its interval", async () => {
  // The kernel table's own cache (500 ms) would repeat every other snapshot's rows.
  await using svc = startService({ kernel: new KernelTable() });
  const ac = new AbortController();
  const res = await svc.app.fetch(
    new Request("http://x/api/events?socketsMs=250&packets=0", { signal: ac.signal }),
  );
  const sampledAt: number[] = [];
  try {
    for await (const { event, data } of sseEvents(res.body!, 20_000)) {
      if (event !== "sockets") continue;
      strictEqual(data.kernel.available, true);
      sampledAt.push(data.kernel.sampledAt);
      if (sampledAt.length === 4) break;
    }
  } finally {
    ac.abort();
  }
  strictEqual(sampledAt.length, 4);
  strictEqual(new Set(sampledAt).size, 4, `sampled at ${sampledAt.join(", ")}`);
});

/** Parses Prometheus text; throws unless every sample follows HELP and TYPE for its family. */
function parseMetrics(text: string): Map<string, number> {
  const help = new Set<string>();
  const type = new Map<string, string>();
  const samples = new Map<string, number>();
  ok(text.endsWith("\n"), "the exposition ends with a newline");
  for (const line of text.trimEnd().split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line))) {
      ok(!help.has(m[1]), `HELP twice for ${m[1]}`);
      help.add(m[1]);
    } else if (
      (m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(
        line,
      ))
    ) {
      ok(help.has(m[1]), `TYPE before HELP for ${m[1]}`);
      ok(!type.has(m[1]), `TYPE twice for ${m[1]}`);
      type.set(m[1], m[2]);
    } else if (
      (m =
        /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/
          .exec(line))
    ) {
      // A histogram's samples carry its family's name with _bucket, _sum or _count.
      const base = m[1].replace(/_(bucket|sum|count)$/, "");
      const family = type.get(base) === "histogram" ? base : m[1];
      ok(help.has(family) && type.has(family), `sample without HELP and TYPE: ${line}`);
      const value = Number(m[3]);
      ok(Number.isFinite(value), `not a number: ${line}`);
      ok(!samples.has(m[1] + (m[2] ?? "")), `sample twice: ${line}`);
      samples.set(m[1] + (m[2] ?? ""), value);
    } else {
      throw new Error(`Not Prometheus text: ${JSON.stringify(line)}`);
    }
  }
  for (const name of help) ok(type.has(name), `HELP without TYPE for ${name}`);
  return samples;
}

Deno.test("GET /metrics is Prometheus text whose counters move with traffic", async () => {
  await using svc = startService();
  const scrape = async () => {
    const res = await svc.app.fetch(new Request("http://x/metrics"));
    strictEqual(res.status, 200);
    match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    return parseMetrics(await res.text());
  };
  const before = await scrape();
  strictEqual(before.get('sockscope_up{endpoint="echo"}'), 1);
  strictEqual(before.get('sockscope_received_bytes_total{endpoint="echo"}'), 0);
  ok(before.get("process_resident_memory_bytes")! > 0);
  ok(before.get("sockscope_js_heap_used_bytes")! > 0);
  const openFds = before.get("process_open_fds")!;
  ok(openFds >= 3, `open fds ${openFds}`);
  ok(before.get("process_max_fds")! >= openFds);
  ok(before.get("process_cpu_seconds_total")! >= 0);
  const { conn } = await echoConn(svc, "twelve bytes");
  try {
    const during = await scrape();
    strictEqual(during.get('sockscope_connections{endpoint="echo"}'), 1);
    strictEqual(during.get('sockscope_connections_accepted_total{endpoint="echo"}'), 1);
    strictEqual(during.get('sockscope_received_bytes_total{endpoint="echo"}'), 12);
    strictEqual(during.get('sockscope_sent_bytes_total{endpoint="echo"}'), 12);
    strictEqual(during.get('sockscope_received_bytes_total{endpoint="app"}'), 0);
    ok(during.get("sockscope_packet_log_entries")! >= 2);
    strictEqual(during.get('sockscope_kernel_recv_queue_bytes{endpoint="echo"}'), 0);
    // Other test modules share this process and open and close descriptors meanwhile, so only
    // the gauge's presence and sense are checked, not its growth.
    ok(during.get("process_open_fds")! >= 3, "open fds counted");
  } finally {
    conn.close();
  }
  await waitFor("the connection to close", async () => (await svc.endpoints()).echo.closed === 1);
  const after = await scrape();
  strictEqual(after.get('sockscope_connections{endpoint="echo"}'), 0);
  strictEqual(after.get('sockscope_connections_closed_total{endpoint="echo"}'), 1);
});

Deno.test("GET /api/events?recent=…&socket=… sends an endpoint's newest packets and one socket", async () => {
  await using svc = startService();
  const refused = await svc.api("/api/events?recent=echo,nope");
  strictEqual(refused.status, 400);
  match((refused.body as { error: string }).error, /^Cannot parse query: "recent" has "nope"/);
  const sent = await echoConn(svc, "ping");
  const ac = new AbortController();
  const res = await svc.app.fetch(
    new Request(
      `http://x/api/events?sockets=0&packets=0&recent=echo&recentLimit=1&socket=${sent.id}`,
      { signal: ac.signal },
    ),
  );
  let recent: RecentEvent | null = null;
  let socket: SocketRecord | null = null;
  try {
    for await (const { event, data } of sseEvents(res.body!, 10_000)) {
      if (event === "recent") recent = data;
      if (event === "socket") socket = data.socket;
      if (recent !== null && socket !== null) break;
    }
  } finally {
    ac.abort();
    sent.conn.close();
  }
  // The newest one packet of echo: the answer written back.
  deepStrictEqual(recent?.echo.packets.map((p) => [p.conn, p.dir, atob(p.data)]), [
    [sent.id, "out", "ping"],
  ]);
  strictEqual(socket?.id, sent.id);
  strictEqual(socket?.bytesIn, 4);
});
