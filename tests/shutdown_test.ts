/**
 * main.ts as users run it: flags, the banner with the real ports, a clear
 * reason when it cannot start, and SIGTERM or SIGINT closing listeners and
 * connections with exit 0 within 2 s.
 */
import { deepStrictEqual, match, ok, strictEqual, throws } from "node:assert/strict";
import { PORT_ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { Service } from "../lib/net/service.ts";
import { parseFlags } from "../lib/startup/server_flags.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  readToEnd,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ALL_PORTS_ZERO = ["--port", "0", ...PORT_ENDPOINTS.flatMap((e) => [`--${e.name}-port`, "0"])];

/** A running `deno run -A main.ts` and the addresses its banner printed. */
interface Running {
  child: Deno.ChildProcess;
  dashboard: number;
  ports: Record<string, number>;
  /** Everything printed on stdout up to the end, once the process exits. */
  rest(): Promise<string>;
  stderr: Promise<string>;
}

async function startMain(timeoutMs = 20_000): Promise<Running> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...ALL_PORTS_ZERO],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    // The banner ends with the kernel view line; stop reading there (or at end of output).
    for (let i = 0; !/^ {2}kernel view: .*$/m.test(text); i++) {
      if (i > 10_000) throw new Error(`No banner in 10000 chunks: ${text.slice(0, 200)}`);
      const { done, value } = await reader.read();
      if (done) throw new Error(`main.ts ended before its banner: ${text}${await stderr}`);
      text += value;
    }
  } finally {
    clearTimeout(timer);
  }
  const dashboard = /^sockscope dashboard {2}http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(text);
  ok(dashboard, `no dashboard line in: ${text}`);
  const ports: Record<string, number> = {};
  for (const e of PORT_ENDPOINTS) {
    const line = new RegExp(`^ {2}${e.name} +${e.transport} 127\\.0\\.0\\.1:(\\d+) `, "m").exec(
      text,
    );
    ok(line, `no ${e.name} line in: ${text}`);
    ports[e.name] = Number(line[1]);
    ok(ports[e.name] > 0, `${e.name} bound a real port`);
  }
  return {
    child,
    dashboard: Number(dashboard[1]),
    ports,
    stderr,
    async rest() {
      let more = text;
      // Called once the process has exited (or was killed): its stdout ends.
      for (let i = 0; i < 10_000; i++) {
        const { done, value } = await reader.read();
        if (done) return more;
        more += value;
      }
      throw new Error("main.ts printed more than 10000 chunks");
    },
  };
}

/** Waits for the exit; kills the process and fails if it takes longer than `ms`. */
async function exitWithin(child: Deno.ChildProcess, ms: number): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let late = false;
  const deadline = new Promise<void>((resolve) =>
    timer = setTimeout(() => {
      late = true;
      child.kill("SIGKILL");
      resolve();
    }, ms)
  );
  try {
    await Promise.race([child.status, deadline]);
    const status = await child.status;
    ok(!late, `main.ts took longer than ${ms} ms to exit`);
    return status;
  } finally {
    clearTimeout(timer);
  }
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`main.ts closes connections and exits 0 within 2 s on ${signal}`, async () => {
    const main = await startMain();
    const echo = await connect(main.ports.echo);
    try {
      await writeAll(echo, encoder.encode("before the signal"));
      strictEqual(decoder.decode(await readExactly(echo, 17)), "before the signal");
      // The banner's dashboard port is the real one too.
      const res = await fetch(`http://127.0.0.1:${main.dashboard}/api/endpoints`);
      const body = await res.json();
      deepStrictEqual(
        body.endpoints.filter((e: { transport: string }) =>
          e.transport === "tcp" || e.transport === "udp"
        ).map((
          e: { name: string; address: { port: number } },
        ) => [e.name, e.address.port]),
        PORT_ENDPOINTS.map((e) => [e.name, main.ports[e.name]]),
      );

      const sent = performance.now();
      main.child.kill(signal);
      const end = await readToEnd(echo, { timeoutMs: 2000 });
      deepStrictEqual([end.end, end.bytes.length], ["eof", 0], "the client sees a clean close");
      const status = await exitWithin(main.child, 2000 - (performance.now() - sent));
      deepStrictEqual([status.success, status.code], [true, 0]);
    } finally {
      closeQuietly(echo);
      try {
        main.child.kill("SIGKILL");
      } catch {
        // Exited already, as it should have.
      }
    }
    match(
      await main.rest(),
      new RegExp(`^sockscope: ${signal}, closing listeners and connections$`, "m"),
    );
    strictEqual(await main.stderr, "");
  });
}

Deno.test("main.ts idle exits 0 within 2 s of a SIGTERM sent as soon as its banner is out, every time", async () => {
  // The banner used to come before the signal listener: a SIGTERM sent on seeing it found
  // none and killed the process uncleanly (exit 143), and the exit timer ran from the goodbye
  // line rather than from the signal.
  const took: number[] = [];
  for (let run = 0; run < 5; run++) {
    const main = await startMain();
    try {
      const sent = performance.now();
      main.child.kill("SIGTERM");
      const status = await exitWithin(main.child, 2000);
      took.push(Math.round(performance.now() - sent));
      deepStrictEqual([status.code, status.signal], [0, null], `run ${run}`);
    } finally {
      try {
        main.child.kill("SIGKILL");
      } catch {
        // Exited already, as it should have.
      }
    }
    match(await main.rest(), /^sockscope: SIGTERM, closing listeners and connections$/m);
    strictEqual(await main.stderr, "");
  }
  ok(took.every((ms) => ms < 2000), `exits took ${took.join(", ")} ms`);
});

/** Runs main.ts to completion (for runs that must fail fast), bounded by `timeoutMs`. */
async function runMain(args: string[], timeoutMs = 20_000) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      cwd: new URL("..", import.meta.url).pathname,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdin: "null",
      signal: ac.signal,
    }).output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("parseFlags() reads every port flag and the limits", () => {
  const flags = parseFlags([
    ...ALL_PORTS_ZERO,
    "--max-conns",
    "3",
    "--idle-timeout",
    "2",
    "--backlog",
    "64",
    "--listeners",
    "2",
  ]);
  if (typeof flags === "string") throw new Error(flags);
  strictEqual(flags.port, 0);
  deepStrictEqual(flags.service.ports, Object.fromEntries(PORT_ENDPOINTS.map((e) => [e.name, 0])));
  deepStrictEqual(
    [
      flags.service.maxConns,
      flags.service.idleTimeoutMs,
      flags.service.backlog,
      flags.service.listeners,
    ],
    [3, 2000, 64, 2],
  );
  const defaults = parseFlags([]);
  if (typeof defaults === "string") throw new Error(defaults);
  strictEqual(defaults.service.listeners, 4);
  match(String(parseFlags(["--listeners", "0"])), /listeners/);
  deepStrictEqual(
    [
      defaults.port,
      defaults.service.host,
      defaults.service.ports!.echo,
      defaults.service.ports!.app,
    ],
    [8000, "127.0.0.1", 65432, 65434],
  );
  strictEqual(
    parseFlags(["--echo-port", "70000"]),
    'Invalid --echo-port: "70000" is not an integer in 0..65535',
  );
});

Deno.test("main.ts exits 2 with a one-line reason on a usage error", async () => {
  const out = await runMain(["--echo-port", "nope"]);
  strictEqual(out.code, 2);
  strictEqual(
    out.stderr,
    'sockscope: Invalid --echo-port: "nope" is not an integer in 0..65535 (see --help)\n',
  );
  strictEqual(out.stdout, "");
});

Deno.test("main.ts exits 1 naming the endpoint whose port is taken", async () => {
  using taken = Deno.listen({ hostname: HOST, port: 0 });
  const port = taken.addr.port;
  const args = ALL_PORTS_ZERO.map((a, i) =>
    ALL_PORTS_ZERO[i - 1] === "--app-port" ? String(port) : a
  );
  const out = await runMain(args);
  strictEqual(out.code, 1);
  strictEqual(out.stderr.split("\n").length, 2, `one line: ${out.stderr}`);
  match(out.stderr, /^sockscope: cannot start: /);
  match(
    out.stderr,
    new RegExp(`"app".*127\\.0\\.0\\.1:${port}`),
    "names the endpoint and its address",
  );
  match(out.stderr, /in use/i);
});

Deno.test("Service() names a taken port and releases the ports it bound first", async () => {
  // echo binds before app: pick a free port for it, then find it free again after the failure.
  const probe = Deno.listen({ hostname: HOST, port: 0 });
  const echoPort = probe.addr.port;
  probe.close();
  using taken = Deno.listen({ hostname: HOST, port: 0 });
  const ports = Object.fromEntries(PORT_ENDPOINTS.map((e) => [e.name, 0]));
  throws(
    () => new Service({ ports: { ...ports, echo: echoPort, app: taken.addr.port } }),
    (err: Error) =>
      err instanceof Deno.errors.AddrInUse &&
      err.message.startsWith(`Cannot listen for "app" on 127.0.0.1:${taken.addr.port}: `),
  );
  // The listener closes at once; the runtime lets go of the port when its pending accept ends.
  using again = await waitFor(`port ${echoPort} to be free again`, () => {
    try {
      return Deno.listen({ hostname: HOST, port: echoPort });
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse) return null;
      throw err;
    }
  }, { timeoutMs: 3000, intervalMs: 5 });
  strictEqual(again.addr.port, echoPort);
});
