/**
 * A connection flood beyond the per-endpoint limit: the excess is closed at
 * once and counted where /api/endpoints and /metrics show it, the connections
 * within the limit keep working, and everything returns to zero afterwards.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { closeQuietly, connect, echoPing, readToEnd, startService, waitFor } from "./_helpers.ts";

const MAX_CONNS = 50;
const FLOOD = 500;

Deno.test("maxConns refuses exactly the excess of a 500-connection flood, counts it, and keeps serving", async () => {
  await using svc = startService({ maxConns: MAX_CONNS });
  const port = svc.port("echo");
  const baseline = svc.service.registry.size;
  const conns: Deno.TcpConn[] = [];
  try {
    // All at once: the accept queue holds them (backlog 4096) until the server takes them.
    const started = performance.now();
    conns.push(...await Promise.all(Array.from({ length: FLOOD }, () => connect(port))));
    const stats = await waitFor(
      "the server to accept or refuse every connection",
      async () => {
        const echo = (await svc.endpoints()).echo;
        return echo.accepted + echo.refused === FLOOD && echo;
      },
      { timeoutMs: 10_000 },
    );
    const tookMs = performance.now() - started;
    deepStrictEqual(
      [stats.accepted, stats.refused, stats.connections, stats.limitHits],
      [MAX_CONNS, FLOOD - MAX_CONNS, MAX_CONNS, { "max-conns": FLOOD - MAX_CONNS }],
    );

    // From the clients' side: every refused one reads a close without a byte, the rest echo.
    const answers = await Promise.all(conns.map((conn, i) => echoPing(conn, `flood ${i}`)));
    const kept = conns.filter((_, i) => answers[i] === `flood ${i}`);
    const refused = answers.filter((a) => a === "refused").length;
    console.log(
      `flood: ${FLOOD} connects in ${
        tookMs.toFixed(0)
      } ms, ${kept.length} kept, ${refused} refused`,
    );
    deepStrictEqual([kept.length, refused], [MAX_CONNS, FLOOD - MAX_CONNS]);

    // The ones within the limit keep working; another endpoint never noticed.
    const again = await Promise.all(kept.map((conn, i) => echoPing(conn, `again ${i}`)));
    deepStrictEqual(again, kept.map((_, i) => `again ${i}`));
    using other = await connect(svc.port("multiconn"));
    strictEqual(await echoPing(other, "elsewhere"), "elsewhere");

    const metrics = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
    match(
      metrics,
      new RegExp(
        `^sockscope_connections_refused_total\\{endpoint="echo"\\} ${FLOOD - MAX_CONNS}$`,
        "m",
      ),
    );
    match(
      metrics,
      new RegExp(
        `^sockscope_limit_hits_total\\{endpoint="echo",kind="max-conns"\\} ${FLOOD - MAX_CONNS}$`,
        "m",
      ),
    );
    match(metrics, new RegExp(`^sockscope_connections\\{endpoint="echo"\\} ${MAX_CONNS}$`, "m"));
    // Refused connections were never registered: the table lists only the kept ones.
    const rows = (await svc.sockets("?endpoint=echo")).filter((s) => s.kind === "conn" && s.ours);
    strictEqual(rows.length, MAX_CONNS);

    // Everyone leaves: the counts return to zero and the endpoint takes connections again.
    for (const conn of conns) closeQuietly(conn);
    other.close();
    await waitFor("every connection to be gone", async () => {
      const echo = (await svc.endpoints()).echo;
      return echo.connections === 0 && svc.service.registry.size === baseline;
    });
    using late = await connect(port);
    strictEqual(await echoPing(late, "after the flood"), "after the flood");
    strictEqual((await svc.endpoints()).echo.refused, FLOOD - MAX_CONNS);
    strictEqual(svc.service.pool.largeInUse, 0);
  } finally {
    for (const conn of conns) closeQuietly(conn);
  }
});

Deno.test("maxConns refuses a flood on the app endpoint with a bare close, not an error frame", async () => {
  await using svc = startService({ maxConns: 5 });
  const port = svc.port("app");
  const conns = await Promise.all(Array.from({ length: 40 }, () => connect(port)));
  try {
    await waitFor("every connection to be accepted or refused", async () => {
      const app = (await svc.endpoints()).app;
      return app.accepted + app.refused === 40;
    });
    const ends = await Promise.all(conns.map(async (conn) => {
      // Nothing written: the kept ones stay silent (read times out, closing them), the refused get EOF.
      try {
        return (await readToEnd(conn, { timeoutMs: 300 })).end;
      } catch {
        return "open";
      }
    }));
    deepStrictEqual(
      [ends.filter((e) => e === "open").length, ends.filter((e) => e === "eof").length],
      [5, 35],
    );
    await waitFor(
      "the kept ones to be closed too",
      async () => (await svc.endpoints()).app.connections === 0,
    );
    ok(
      (await svc.endpoints()).app.errors.protocol === undefined,
      "a refusal is not a protocol error",
    );
  } finally {
    conns.forEach(closeQuietly);
  }
});
