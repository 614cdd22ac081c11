/**
 * The descriptor budget over real sockets: connections of every TCP endpoint and client run
 * share RLIMIT_NOFILE less a reserve, a flood past it is refused and counted while the
 * dashboard answers, and an accept that meets real EMFILE backs off and recovers.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import type { ClientRun } from "../lib/net/launcher.ts";
import type { FdBudgetSnapshot } from "../lib/net/fd_budget.ts";
import type { EndpointRecord } from "../lib/net/registry.ts";
import {
  closeQuietly,
  connect,
  decoder,
  echoPing,
  encoder,
  readExactly,
  readToEnd,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { startMain } from "./_main_process.ts";

interface EndpointsBody {
  endpoints: EndpointRecord[];
  fdBudget: FdBudgetSnapshot;
}

Deno.test("main.ts with 300 descriptors refuses a flood past the budget on two endpoints, counts it, and stays up", async () => {
  await using main = startMain([], {}, { nofile: 300 });
  const banner: string[] = [];
  for (let i = 0; i < 100; i++) {
    const line = await main.line(20_000);
    if (line === null) throw new Error(`main.ts ended: ${await main.stderr()}`);
    banner.push(line);
    if (line.startsWith("  kernel view:")) break;
  }
  const text = banner.join("\n");
  const dash = /^sockscope dashboard {2}http:\/\/(127\.0\.0\.1:\d+)\//m.exec(text)?.[1];
  const echoPort = Number(/^ {2}echo +tcp 127\.0\.0\.1:(\d+) /m.exec(text)?.[1]);
  const otherPort = Number(/^ {2}multiconn +tcp 127\.0\.0\.1:(\d+) /m.exec(text)?.[1]);
  const line =
    /^ {2}descriptors: (\d+) connections for all TCP endpoints and client runs together \(limit 300 from \/proc\/self\/limits, reserve (\d+): .*dashboard.*\); less than --max-conns 10000: raise ulimit -n for more$/m
      .exec(text);
  ok(dash && echoPort > 0 && otherPort > 0 && line, `banner:\n${text}`);
  const budget = Number(line[1]);
  ok(budget >= 20 && budget + Number(line[2]) === 300, `budget ${budget} of 300`);
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`http://${dash}${path}`, { signal: AbortSignal.timeout(5000) });
    strictEqual(res.status, 200, path);
    return path === "/metrics" ? await res.text() as T : await res.json() as T;
  };

  // More connections than the budget (and than the limit itself), alternating two endpoints.
  const flood = budget + 150;
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < flood; i++) conns.push(await connect(i % 2 === 0 ? echoPort : otherPort));
    const body = await waitFor("every connection accepted or refused", async () => {
      const body = await api<EndpointsBody>("/api/endpoints");
      const seen = body.endpoints.filter((e) => e.name === "echo" || e.name === "multiconn")
        .reduce((n, e) => n + e.accepted + e.refused, 0);
      return seen === flood && body;
    }, { timeoutMs: 20_000, intervalMs: 100 });
    const echo = body.endpoints.find((e) => e.name === "echo")!;
    const other = body.endpoints.find((e) => e.name === "multiconn")!;
    deepStrictEqual(
      [echo.connections + other.connections, echo.refused + other.refused],
      [budget, flood - budget],
    );
    deepStrictEqual(
      [echo.limitHits["fd-budget"] + other.limitHits["fd-budget"], echo.limitHits["max-conns"]],
      [flood - budget, undefined],
    );
    ok(echo.connections > 0 && other.connections > 0, "both endpoints share the budget");
    const { used, refused, exhausted, limit, reserve } = body.fdBudget;
    deepStrictEqual(
      { used, refused, exhausted, limit, reserve, budget: body.fdBudget.budget },
      {
        used: budget,
        refused: flood - budget,
        exhausted: 0,
        limit: 300,
        reserve: 300 - budget,
        budget,
      },
    );

    // From the clients' side: the refused ones were closed at once, the rest echo.
    const answers = await Promise.all(conns.map((conn, i) => echoPing(conn, `flood ${i}`)));
    deepStrictEqual(
      [
        answers.filter((a, i) => a === `flood ${i}`).length,
        answers.filter((a) => a === "refused").length,
      ],
      [budget, flood - budget],
    );

    const metrics = await api<string>("/metrics");
    match(metrics, new RegExp(`^sockscope_fd_budget_connections ${budget}$`, "m"));
    match(metrics, new RegExp(`^sockscope_fd_budget_used_connections ${budget}$`, "m"));
    match(metrics, new RegExp(`^sockscope_fd_budget_refused_total ${flood - budget}$`, "m"));
    match(metrics, /^sockscope_limit_hits_total\{endpoint="echo",kind="fd-budget"\} \d+$/m);
  } finally {
    conns.forEach(closeQuietly);
  }

  // Once the flood leaves, new connections are served again.
  await waitFor(
    "the flood's connections to close",
    async () => (await api<EndpointsBody>("/api/endpoints")).fdBudget.used === 0,
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  using again = await connect(echoPort);
  strictEqual(await echoPing(again, "after the flood"), "after the flood");
  again.close();
  strictEqual(await main.stop(), 0, await main.stderr());
});

Deno.test("the budget is shared by the endpoints and the service's client runs, which fail clearly", async () => {
  await using svc = startService({ fdLimit: 1000, fdReserve: 996 });
  const conns: Deno.TcpConn[] = [];
  try {
    for (const name of ["echo", "echo", "multiconn", "multiconn"]) {
      const conn = await connect(svc.port(name));
      conns.push(conn);
      // A round trip proves the connection was accepted before the next one comes.
      strictEqual(await echoPing(conn, name), name);
    }
    const fifth = await connect(svc.port("reverse"));
    conns.push(fifth);
    deepStrictEqual(
      await readToEnd(fifth),
      { bytes: new Uint8Array(), end: "eof" },
      "the 5th, on a third endpoint, is closed without a word",
    );
    const reverse = (await svc.endpoints()).reverse;
    deepStrictEqual([reverse.refused, reverse.limitHits], [1, { "fd-budget": 1 }]);

    // The load generator's own connections are descriptors too: with none left it fails.
    const started = await svc.api<ClientRun>("/api/clients/multiconn", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: "echo", conns: 2, messages: 1 }),
    });
    strictEqual(started.status, 202);
    const failed = await waitFor("the run to end", async () => {
      const runs = (await svc.api<{ runs: ClientRun[] }>("/api/clients")).body.runs;
      const run = runs.find((r) => r.id === started.body.id);
      return run?.status !== "running" && run;
    }, { timeoutMs: 10_000 });
    strictEqual(failed.status, "failed");
    match(
      failed.error ?? "",
      /^Connection 1: Cannot connect to "127\.0\.0\.1:\d+": Descriptor budget spent \(4 of 4 connections open\)$/,
    );
    // The launcher's own counters (in /metrics as endpoint="launcher").
    const launcher = svc.service.launcher.stats;
    deepStrictEqual([launcher.refused, launcher.limitHits], [2, { "fd-budget": 2 }]);
    const body = (await svc.api<EndpointsBody>("/api/endpoints")).body;
    deepStrictEqual(body.fdBudget, {
      limit: 1000,
      limitSource: "option",
      reserve: 996,
      reserved: null,
      budget: 4,
      used: 4,
      refused: 3,
      exhausted: 0,
    });

    // Room again: a run of one connection takes two (its own and the echo's) and succeeds.
    closeQuietly(conns[0]);
    closeQuietly(conns[1]);
    await waitFor("two slots to free up", () => svc.service.fds.used === 2);
    const second = await svc.api<ClientRun>("/api/clients/multiconn", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ endpoint: "echo", conns: 1, messages: 3 }),
    });
    const done = await waitFor("the second run to end", async () => {
      const runs = (await svc.api<{ runs: ClientRun[] }>("/api/clients")).body.runs;
      const run = runs.find((r) => r.id === second.body.id);
      return run?.status !== "running" && run;
    }, { timeoutMs: 10_000 });
    deepStrictEqual([done.status, done.error], ["done", null]);
  } finally {
    conns.forEach(closeQuietly);
  }
  await waitFor("every share to come back", () => svc.service.fds.used === 0);
});

Deno.test("an accept that meets real EMFILE is counted, backs off, and takes the connection once descriptors return", async () => {
  const fixture = new URL("./fixtures/fd_exhaust.ts", import.meta.url).pathname;
  const command = new Deno.Command("prlimit", {
    args: ["--nofile=200:200", Deno.execPath(), "run", "-A", fixture],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  let child: Deno.ChildProcess;
  try {
    child = command.spawn();
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    // Without prlimit: bash's ulimit does the same.
    child = new Deno.Command("bash", {
      args: ["-c", `ulimit -n 200 && exec "$0" run -A "$1"`, Deno.execPath(), fixture],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const next = async (): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 1000; i++) {
      const nl = buffered.indexOf("\n");
      if (nl !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return JSON.parse(line);
      }
      const { done, value } = await reader.read();
      if (done) throw new Error(`The fixture ended: ${await stderr}`);
      buffered += value;
    }
    throw new Error("No line from the fixture");
  };
  const ask = async (what: string) => {
    await writer.write(encoder.encode(`${what}\n`));
    return await next();
  };
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  let conn: Deno.TcpConn | null = null;
  try {
    const { echo } = await next() as { echo: number };
    const filled = await ask("fill");
    strictEqual(filled.error, "EMFILE", "the fixture took every descriptor");
    // The handshake completes in the kernel; the service's accept fails until descriptors return.
    conn = await connect(echo);
    const stats = await waitFor("an accept to fail with EMFILE, counted", async () => {
      const s = await ask("stats") as {
        errors: Record<string, number>;
        fdBudget: FdBudgetSnapshot;
      };
      return (s.errors["accept-emfile"] ?? 0) >= 1 && s;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    ok(stats.fdBudget.exhausted >= 1, `exhausted ${stats.fdBudget.exhausted}`);
    strictEqual(stats.fdBudget.used, 0);
    // Backed off, not spinning: over half a second the one listener retries a dozen times or
    // so (10, 20, … 100 ms apart), where a loop without a pause would fail thousands of times.
    const from = performance.now();
    const before = stats.errors["accept-emfile"];
    const later = await waitFor("half a second to pass", async () => {
      const s = await ask("stats") as { errors: Record<string, number> };
      return performance.now() - from >= 500 && s;
    }, { timeoutMs: 10_000, intervalMs: 50 });
    const retries = later.errors["accept-emfile"] - before;
    ok(
      retries >= 1 && retries <= 60,
      `${retries} failed accepts in ${performance.now() - from} ms`,
    );
    await ask("free");
    await writeAll(conn, encoder.encode("back"));
    strictEqual(decoder.decode(await readExactly(conn, 4, 10_000)), "back");
    const after = await ask("stats") as { live: number; fdBudget: FdBudgetSnapshot };
    deepStrictEqual([after.live, after.fdBudget.used], [1, 1]);
    conn.close();
    conn = null;
    await writer.write(encoder.encode("quit\n"));
    strictEqual((await child.status).code, 0, await stderr);
  } finally {
    clearTimeout(timer);
    if (conn !== null) closeQuietly(conn);
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited.
    }
    await writer.close().catch(() => {});
    await reader.cancel().catch(() => {});
    await stderr;
    await child.status;
  }
});
