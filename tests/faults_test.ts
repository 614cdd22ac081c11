/**
 * Fault modes over real sockets, each observed from the client's side the
 * way a user would notice it (a slow echo, bytes in small pieces, an early
 * EOF, a reset, a queue that fills, a connect that hangs), switched through
 * POST /api/endpoints/:name/fault, counted in /metrics, and reversible.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { faultsShown, metric, readPieces, setFault } from "./_faults.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  readToEnd,
  settlesWithin,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

Deno.test("delay fault holds each reply for ms, until cleared", async () => {
  await using svc = startService();
  // Long enough that a loaded machine still sees the held reply, and tells held from not.
  const set = await setFault(svc, "echo", { mode: "delay", ms: 1500 });
  deepStrictEqual(set.fault, { mode: "delay", ms: 1500 });
  deepStrictEqual((await faultsShown(svc)).echo, { mode: "delay", ms: 1500 });
  const conn = await connect(svc.port("echo"));
  try {
    let started = performance.now();
    await writeAll(conn, encoder.encode("ping"));
    strictEqual(decoder.decode(await readExactly(conn, 4)), "ping");
    const held = performance.now() - started;
    ok(held >= 1499, `echo took ${held.toFixed(1)} ms`);

    // A held write shows as the app's send buffer while it waits.
    await writeAll(conn, encoder.encode("pong"));
    await waitFor("the held reply in txBuffered", async () => {
      const row = (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "conn");
      return row?.app?.txBuffered === 4;
    });
    await readExactly(conn, 4);

    await setFault(svc, "echo", { mode: "none" });
    started = performance.now();
    await writeAll(conn, encoder.encode("fast"));
    await readExactly(conn, 4);
    ok(performance.now() - started < 750, "no delay once cleared");
  } finally {
    conn.close();
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="delay"}'), 2);
  deepStrictEqual((await faultsShown(svc)).echo, { mode: "none" });
});

Deno.test("clearing a delay sends what it holds at once", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "delay", ms: 60_000 });
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("held"));
    const echoed = readExactly(conn, 4, 2000);
    strictEqual(await settlesWithin(echoed, 100), false, "held while the fault is on");
    await setFault(svc, "echo", { mode: "none" });
    strictEqual(decoder.decode(await echoed), "held");
  } finally {
    conn.close();
  }
});

Deno.test("drip fault delivers N-byte pieces every interval", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "drip", bytes: 4, interval: 50 });
  const conn = await connect(svc.port("echo"));
  try {
    const started = performance.now();
    await writeAll(conn, encoder.encode("abcdefghijklmnopqrst"));
    const pieces = await readPieces(conn, 20);
    const took = performance.now() - started;
    // A reader held up longer than the interval (a busy machine) gets two pieces in one read.
    strictEqual(pieces.reduce((a, b) => a + b, 0), 20);
    ok(pieces.every((n) => n % 4 === 0), `pieces of 4 bytes: ${pieces.join(", ")}`);
    ok(took >= 199, `20 bytes as 4-byte pieces every 50 ms took ${took.toFixed(1)} ms`);
  } finally {
    conn.close();
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="drip"}'), 1);
});

Deno.test("half-close fault sends FIN after N bytes and keeps reading", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "half-close", bytes: 5 });
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("abcdefghij"));
    const end = await readToEnd(conn);
    deepStrictEqual([decoder.decode(end.bytes), end.end], ["abcde", "eof"]);
    // The other direction stays open: the server still reads what the client sends.
    await writeAll(conn, encoder.encode("still open"));
    await waitFor("the server read it", async () => {
      const row = (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "conn");
      return row?.bytesIn === 20 && row.state === "FIN_WAIT2";
    });
  } finally {
    conn.close();
  }
  await setFault(svc, "echo", { mode: "none" });
  const next = await connect(svc.port("echo"));
  try {
    await writeAll(next, encoder.encode("abcdefghij"));
    strictEqual(decoder.decode(await readExactly(next, 10)), "abcdefghij");
  } finally {
    next.close();
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="half-close"}'), 1);
});

Deno.test("close-unread fault closes with data unread: the kernel resets", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "close-unread" });
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("hello world"));
    // Deno shuts the write side before it closes, so a FIN arrives just ahead of the RST.
    strictEqual(await conn.read(new Uint8Array(16)), null);
    let error: unknown = null;
    try {
      await conn.write(encoder.encode("x"));
    } catch (err) {
      error = err;
    }
    ok(
      error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset,
      `the first write after the close fails: ${error}`,
    );
  } finally {
    closeQuietly(conn);
  }
  const closed = svc.service.registry.closed().find((s) => s.endpoint === "echo")!;
  strictEqual(closed.closeReason, "fault: closed with unread data (RST)");
  strictEqual(closed.bytesIn, 1, "one byte read, ten left unread");
  strictEqual(
    await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="close-unread"}'),
    1,
  );
  // A reset socket is gone at once: no FIN_WAIT or TIME_WAIT row is left on our side.
  const leftovers = (await svc.sockets("?endpoint=echo")).filter((s) => s.kind === "kernel");
  deepStrictEqual(leftovers, []);
});

Deno.test("close-unread fault cleared before the next bytes leaves the connection working", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("echo"));
  try {
    await writeAll(conn, encoder.encode("a"));
    await readExactly(conn, 1);
    await setFault(svc, "echo", { mode: "close-unread" });
    // The read already waiting takes this chunk; the next one would be left unread.
    await writeAll(conn, encoder.encode("b"));
    strictEqual(decoder.decode(await readExactly(conn, 1)), "b");
    await setFault(svc, "echo", { mode: "none" });
    await writeAll(conn, encoder.encode("cd"));
    strictEqual(decoder.decode(await readExactly(conn, 2)), "cd");
  } finally {
    conn.close();
  }
  strictEqual(
    await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="close-unread"}'),
    null,
  );
});

Deno.test("stall fault stops reading: Recv-Q grows until cleared", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "stall" });
  const conn = await connect(svc.port("echo"));
  const bulk = new Uint8Array(1 << 20).fill(0x61);
  const writing = writeAll(conn, bulk);
  try {
    const row = await waitFor("Recv-Q filling", async () => {
      const r = (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "conn");
      return r !== undefined && r.kernel !== null && r.kernel.recvQ > 32 * 1024 && r;
    });
    strictEqual(row.app!.paused, true);
    const peer = await waitFor(
      "the client's row",
      async () => (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "peer"),
    );
    strictEqual(peer.ours, false);
    strictEqual(row.bytesIn, 0, "nothing read");

    await setFault(svc, "echo", { mode: "none" });
    const [echoed] = await Promise.all([readExactly(conn, bulk.length, 10_000), writing]);
    ok(echoed.every((b) => b === 0x61));
  } finally {
    conn.close();
    await writing.catch(() => {});
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="stall"}'), 1);
});

Deno.test("pause-accept fault fills the accept queue and new connects hang until cleared", async () => {
  // A backlog of 1 lets the kernel queue two connections; the third SYN is dropped. One
  // listener, so that there is one accept queue to fill.
  await using svc = startService({ backlog: 1, listeners: 1 });
  await setFault(svc, "echo", { mode: "pause-accept" });
  const port = svc.port("echo");
  const ac = new AbortController();
  const conns: Deno.TcpConn[] = [];
  let hanging: Promise<Deno.TcpConn> | null = null;
  try {
    // The accept already waiting takes one more; the next two wait in the kernel's queue.
    for (let i = 0; i < 3; i++) {
      conns.push(await Deno.connect({ hostname: HOST, port, signal: AbortSignal.timeout(2000) }));
    }
    hanging = Deno.connect({ hostname: HOST, port, signal: ac.signal });
    const listener = await waitFor("the accept queue on the LISTEN row", async () => {
      const row = (await svc.sockets("?endpoint=echo&state=LISTEN"))[0];
      return row.kernel !== null && row.kernel.recvQ >= 2 && row;
    });
    strictEqual(listener.kernel!.sendQ, 1, "the backlog");
    strictEqual((await svc.endpoints()).echo.connections, 0, "nothing accepted by the app");
    strictEqual(await settlesWithin(hanging, 300), false, "a connect beyond the backlog hangs");
    for (const [i, c] of conns.entries()) await writeAll(c, encoder.encode(`c${i}`));

    await setFault(svc, "echo", { mode: "none" });
    // The dropped SYN is sent again after about a second.
    conns.push(await hanging);
    await writeAll(conns[3], encoder.encode("c3"));
    for (const [i, c] of conns.entries()) {
      strictEqual(decoder.decode(await readExactly(c, 2)), `c${i}`);
    }
    await waitFor("four accepted", async () => (await svc.endpoints()).echo.connections === 4);
  } finally {
    ac.abort();
    await hanging?.then(closeQuietly, () => {});
    for (const c of conns) closeQuietly(c);
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="pause-accept"}'), 1);
});

Deno.test("a fault shows on the endpoint and in /metrics while it is in force", async () => {
  await using svc = startService();
  await setFault(svc, "chat", { mode: "drip", bytes: 1, interval: 10 });
  const shown = await faultsShown(svc);
  deepStrictEqual(shown.chat, { mode: "drip", bytes: 1, interval: 10 });
  deepStrictEqual(shown.echo, { mode: "none" });
  deepStrictEqual(shown.udp, { mode: "none" });
  strictEqual(await metric(svc, 'sockscope_fault_active{endpoint="chat",mode="drip"}'), 1);
  const got = await svc.api<{ fault: unknown; description: string }>(
    "/api/endpoints/chat/fault",
  );
  deepStrictEqual(got.body, {
    endpoint: "chat",
    fault: { mode: "drip", bytes: 1, interval: 10 },
    description: "drip 1 B every 10 ms",
  });
  await setFault(svc, "chat", { mode: "none" });
  strictEqual(await metric(svc, 'sockscope_fault_active{endpoint="chat",mode="drip"}'), null);
});

Deno.test("POST /api/endpoints/:name/fault answers bad bodies with a specific 400", async () => {
  await using svc = startService();
  const cases: [string, string, RegExp, number][] = [
    ["echo", "{}", /"mode" must be one of none, delay, drip, .*: missing$/, 400],
    ["echo", '{"mode":"slow"}', /"mode" must be one of .*: "slow"$/, 400],
    ["echo", '{"mode":"delay"}', /mode "delay" needs "ms", an integer in 0\.\.60000$/, 400],
    ["echo", '{"mode":"delay","ms":60001}', /"ms" must be an integer in 0\.\.60000: 60001$/, 400],
    [
      "echo",
      '{"mode":"drip","bytes":0,"interval":5}',
      /"bytes" must be an integer in 1\.\.65536: 0$/,
      400,
    ],
    [
      "echo",
      '{"mode":"drip","bytes":1,"interval":0}',
      /"interval" must be an integer in 1\.\.10000: 0$/,
      400,
    ],
    [
      "echo",
      '{"mode":"half-close","bytes":-1}',
      /"bytes" must be an integer in 0\.\.65536: -1$/,
      400,
    ],
    ["echo", '{"mode":"stall","ms":1}', /"ms" does not apply to mode "stall"/, 400],
    ["echo", "not json", /^Cannot parse body: not valid JSON/, 400],
    [
      "udp",
      '{"mode":"stall"}',
      /one of none, loss, duplicate, reorder, delay on a UDP endpoint/,
      400,
    ],
    ["nope", '{"mode":"stall"}', /^No endpoint "nope"$/, 404],
  ];
  for (const [endpoint, body, message, status] of cases) {
    const res = await svc.api<{ error: string }>(`/api/endpoints/${endpoint}/fault`, {
      method: "POST",
      body,
    });
    strictEqual(res.status, status, `${body}: ${res.status}`);
    match(res.body.error, message);
  }
  deepStrictEqual((await faultsShown(svc)).echo, { mode: "none" }, "nothing was switched");
  strictEqual((await svc.api("/api/endpoints/echo/fault", { method: "DELETE" })).status, 405);
});
