import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { main } from "../cli.ts";
import type { CliIo } from "../lib/cli/io.ts";
import { resolveSinkOptions } from "../lib/client/sink.ts";
import { OptionError } from "../lib/options/option_error.ts";
import {
  closedPort,
  startAppServer,
  startEchoServer,
  startPythonEchoServer,
  startSilentServer,
  startUdpEcho,
} from "./_test_servers.ts";

/** Runs the CLI in process and collects what it printed. */
async function run(args: (string | number)[], options: { progress?: boolean } = {}) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    progress: options.progress ?? false,
  };
  const code = await main(args.map(String), io);
  return { code, stdout, stderr };
}

/** Asserts that stderr is exactly one line, and returns it. */
function oneLine(stderr: string): string {
  assert.equal(stderr.endsWith("\n"), true, `stderr ${JSON.stringify(stderr)}`);
  assert.equal(stderr.trimEnd().includes("\n"), false, `stderr ${JSON.stringify(stderr)}`);
  return stderr.trimEnd();
}

Deno.test("client echo prints the echo from the tutorial's python echo server", async () => {
  await using server = await startPythonEchoServer();
  const { code, stdout, stderr } = await run(["echo", "--port", server.port, "Hello, world"]);
  assert.equal(stderr, "");
  assert.equal(stdout, "Hello, world\n");
  assert.equal(code, 0);
});

Deno.test("client echo --json prints one JSON result object", async () => {
  await using server = startEchoServer();
  const { code, stdout } = await run(["echo", "--port", server.port, "--json", "a", "b"]);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1);
  const result = JSON.parse(lines[0]);
  assert.equal(result.command, "echo");
  assert.equal(result.ok, true);
  assert.equal(result.text, "a b");
  assert.equal(result.received, 3);
});

Deno.test("client echo exits 1 on a mismatched echo", async () => {
  await using server = startEchoServer({ alter: (chunk) => chunk.reverse() });
  const { code, stderr } = await run(["echo", "--port", server.port, "abc"]);
  assert.equal(code, 1);
  assert.match(oneLine(stderr), /^deno task client echo: Echo differs from what was sent: "cba"$/);
});

Deno.test("client echo exits 1 on a timeout", async () => {
  await using server = startSilentServer();
  const { code, stderr } = await run(["echo", "--port", server.port, "--timeout", "0.05", "x"]);
  assert.equal(code, 1);
  assert.match(oneLine(stderr), /No echo within 50 ms/);
});

Deno.test("client echo --json on a refused connect prints ok false and exits 1", async () => {
  const port = closedPort();
  const { code, stdout, stderr } = await run(["echo", "--port", port, "--json", "x"]);
  assert.equal(code, 1);
  const result = JSON.parse(stdout);
  assert.equal(result.ok, false);
  assert.match(result.error, /Connection refused/);
  assert.match(oneLine(stderr), new RegExp(`"127.0.0.1:${port}": Connection refused`));
});

Deno.test("client app search prints the result", async () => {
  await using server = startAppServer();
  const { code, stdout, stderr } = await run(["app", "--port", server.port, "search", "morpheus"]);
  assert.equal(stderr, "");
  assert.equal(stdout, "Follow the white rabbit. 🐰\n");
  assert.equal(code, 0);
});

Deno.test("client app binary prints the first 10 bytes like the tutorial", async () => {
  await using server = startAppServer();
  const { code, stdout } = await run(["app", "--port", server.port, "binary", "😃"]);
  assert.equal(stdout, "First 10 bytes of request: binary😃\n");
  assert.equal(code, 0);
});

Deno.test("client app --repeat --json reports every request", async () => {
  await using server = startAppServer();
  const { code, stdout } = await run([
    "app",
    "--port",
    server.port,
    "--repeat",
    5,
    "--json",
    "search",
    "🐶",
  ]);
  assert.equal(code, 0);
  const result = JSON.parse(stdout);
  assert.equal(result.requests, 5);
  assert.equal(result.response.result, "🐾 Playing ball! 🏐");
  assert.equal(result.latencyMs.count, 5);
});

Deno.test("client udp prints the echo", async () => {
  await using server = startUdpEcho();
  const { code, stdout, stderr } = await run(["udp", "--port", server.port, "hello"]);
  assert.equal(stderr, "");
  assert.equal(stdout, "hello\n");
  assert.equal(code, 0);
});

Deno.test("client udp exits 1 when nothing answers within the timeout", async () => {
  await using server = startUdpEcho({ silent: true });
  const { code, stdout, stderr } = await run([
    "udp",
    "--port",
    server.port,
    "--timeout",
    "0.05",
    "hello",
  ]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.match(oneLine(stderr), /No echo from "127.0.0.1:\d+" within 50 ms/);
});

Deno.test("client udp --count prints ping-style statistics", async () => {
  await using server = startUdpEcho();
  const { code, stdout } = await run([
    "udp",
    "--port",
    server.port,
    "--count",
    3,
    "--interval",
    "0.01",
    "ping",
  ]);
  assert.equal(code, 0);
  assert.match(
    stdout,
    /^ping\n3 datagrams sent, 3 echoed, 0 mismatched, 0% loss\nrtt min\/avg\/max\/mdev = /,
  );
});

Deno.test("client multiconn reports throughput and latency percentiles", async () => {
  await using server = startEchoServer();
  const { code, stdout } = await run([
    "multiconn",
    "--port",
    server.port,
    "--conns",
    3,
    "--messages",
    4,
    "--size",
    100,
  ]);
  assert.equal(code, 0);
  assert.match(stdout, /^3 of 3 connections to 127\.0\.0\.1:\d+: 12 messages, 1200 bytes echoed/);
  assert.match(stdout, /msg\/s, [\d.]+ MB\/s\n/);
  assert.match(stdout, /latency ms: p50 [\d.]+ {2}p90 [\d.]+ {2}p99 [\d.]+ {2}max [\d.]+\n$/);
});

Deno.test("client multiconn --json prints one object with the percentiles", async () => {
  await using server = startEchoServer();
  const { code, stdout } = await run(["multiconn", "--port", server.port, "--json"]);
  assert.equal(code, 0);
  const result = JSON.parse(stdout);
  assert.equal(result.command, "multiconn");
  assert.equal(result.messages, 4);
  assert.equal(typeof result.latencyMs.p99, "number");
});

Deno.test("client multiconn shows progress on a terminal only", async () => {
  await using server = startEchoServer();
  const args = ["multiconn", "--port", server.port, "--duration", "0.3", "--size", 64];
  const tty = await run(args, { progress: true });
  assert.equal(tty.code, 0);
  // Each redraw returns to the line start and erases it (CR, then ESC [K).
  assert.ok(tty.stderr.includes("\r\u001b[Kmulticonn "), JSON.stringify(tty.stderr));
  assert.match(tty.stderr, /multiconn [\d.]+ s {2}\d+ messages/);
  const pipe = await run(args, { progress: false });
  assert.equal(pipe.code, 0);
  assert.equal(pipe.stderr, "");
});

Deno.test("client sink reports the bytes the kernel took from a peer that never reads", async () => {
  await using server = startSilentServer();
  const { code, stdout } = await run(["sink", "--port", server.port, "--stall-ms", 200]);
  assert.equal(code, 0);
  const match = /^The kernel accepted (\d+) bytes .* before a write stalled for 200 ms\n$/.exec(
    stdout,
  );
  assert.ok(match, stdout);
  assert.ok(Number(match[1]) > 0);
});

Deno.test("client probe exits 1 when the port refuses", async () => {
  const port = closedPort();
  const { code, stdout, stderr } = await run(["probe", "--port", port, "--count", 1]);
  assert.equal(code, 1);
  assert.match(stdout, new RegExp(`^refused 127.0.0.1:${port}: seq=1 time=`));
  assert.match(stdout, /1 attempts, 0 connected, 1 refused, 0 timeouts, 0 errors, 100% loss/);
  assert.match(oneLine(stderr), /Connection refused/);
});

Deno.test("client probe prints each connect and the statistics for an open port", async () => {
  await using server = startEchoServer();
  const { code, stdout } = await run([
    "probe",
    "--port",
    server.port,
    "--count",
    2,
    "--interval",
    0,
  ]);
  assert.equal(code, 0);
  const lines = stdout.trimEnd().split("\n");
  assert.match(lines[0], /^connected to 127\.0\.0\.1:\d+: seq=1 time=[\d.]+ ms$/);
  assert.match(lines[1], /seq=2/);
  assert.match(lines[3], /^2 attempts, 2 connected/);
  assert.match(lines[4], /^connect min\/avg\/max\/mdev = [\d.]+\/[\d.]+\/[\d.]+\/[\d.]+ ms$/);
});

Deno.test("client usage errors exit 2 with a one-line reason", async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /Missing command: expected one of echo, multiconn, app, udp, sink, probe/],
    [["ping"], /Unknown command: "ping"/],
    [["echo"], /echo: Missing message/],
    [["echo", "--nope", "x"], /Unknown option: "--nope"/],
    [["echo", "--port"], /Missing value for "--port"/],
    [["echo", "--port", "abc", "x"], /Invalid --port: "abc" is not a non-negative integer/],
    [["echo", "--port", "70000", "x"], /Invalid --port: "70000" is not between 1 and 65535/],
    [["echo", "--timeout", "-1", "x"], /Missing value for "--timeout"/],
    [["echo", "--json=yes", "x"], /Option "--json" does not take a value/],
    [["multiconn", "--conns", "0"], /Invalid --conns: "0" is not between 1 and 10000/],
    [["multiconn", "--duration", "soon"], /Invalid --duration: "soon" is not a number/],
    [["multiconn", "extra"], /Unexpected argument: "extra"/],
    [["app", "search"], /Missing <value> after "search", e.g. search morpheus/],
    [["app"], /Missing <action> <value>/],
    [["udp", "--count", "1.5", "x"], /Invalid --count: "1.5"/],
    [["sink", "--stall-ms", "0"], /Invalid --stall-ms: "0"/],
    [["discard", "--chunk", "0"], /Invalid --chunk: "0" is not between 1/],
    [["probe", "--interval", "4000"], /Invalid --interval: "4000" is not between 0 and 3600/],
  ];
  for (const [args, reason] of cases) {
    await t.step(args.join(" ") || "(no arguments)", async () => {
      const { code, stdout, stderr } = await run(args);
      assert.equal(code, 2);
      assert.equal(stdout, "");
      assert.match(oneLine(stderr), reason);
      assert.match(stderr, /\(see deno task client( \w+)? --help\)\n$/);
    });
  }
});

Deno.test("client --help describes every command and each command's options", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  assert.match(
    top.stdout,
    /^Usage: deno task client <echo\|multiconn\|app\|udp\|sink\|probe\|chat\|clients\|reverse\|frame\|discard\|chargen\|raw-frame\|tls-echo\|unix-echo\|doctor> \[options\]/,
  );
  for (
    const [name, usage] of [
      ["echo", "echo [options] <message>"],
      ["multiconn", "multiconn [options]"],
      ["app", "app [options] <action> <value>"],
      ["udp", "udp [options] <message>"],
      ["sink", "sink [options]"],
      ["probe", "probe [options]"],
    ]
  ) {
    const help = await run([name, "-h"]);
    assert.equal(help.code, 0);
    assert.equal(help.stderr, "");
    assert.ok(help.stdout.startsWith(`Usage: deno task client ${usage}\n`), help.stdout);
    assert.match(help.stdout, /--host <host>/);
    assert.match(help.stdout, /--port <port> +Port to connect to \(default 6543\d\)/);
    assert.match(help.stdout, /--json/);
  }
  const tls = await run(["tls-echo", "-h"]);
  assert.ok(tls.stdout.startsWith("Usage: deno task client tls-echo [options] <message>\n"));
  assert.match(tls.stdout, /--port <port> +Port to connect to \(default 65447\)/);
  assert.match(tls.stdout, /--insecure/);
  assert.match(tls.stdout, /--ca <file>/);
  const unix = await run(["unix-echo", "-h"]);
  assert.ok(unix.stdout.startsWith("Usage: deno task client unix-echo --path <socket> "));
  assert.match(unix.stdout, /--path <socket>/);
});

Deno.test("cli.ts run as a process prints the echo and exits 0, or 2 on a usage error", async () => {
  await using server = startEchoServer();
  const cwd = fileURLToPath(new URL("..", import.meta.url));
  const ok = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "echo", "--port", String(server.port), "Hello, world"],
    cwd,
    stdin: "null",
  }).output();
  assert.equal(new TextDecoder().decode(ok.stdout), "Hello, world\n");
  assert.equal(ok.code, 0);
  const usage = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "echo"],
    cwd,
    stdin: "null",
  }).output();
  assert.equal(usage.code, 2);
  assert.equal(new TextDecoder().decode(usage.stdout), "");
  assert.match(new TextDecoder().decode(usage.stderr), /^deno task client echo: Missing message/);
});

Deno.test("a client's range error names its option as data, which the CLI turns into the flag", async () => {
  assert.throws(() => resolveSinkOptions({ chunkSize: 0 }), (err) => {
    assert.ok(err instanceof OptionError);
    assert.equal(err.name, "RangeError");
    assert.deepEqual([err.option, err.reason], ["chunkSize", '"0" is not between 1 and 16777216']);
    return true;
  });
  const { code, stderr } = await run(["sink", "--chunk", "0"]);
  assert.equal(code, 2);
  assert.equal(
    oneLine(stderr),
    'deno task client sink: Invalid --chunk: "0" is not between 1 and 16777216 ' +
      "(see deno task client sink --help)",
  );
});

Deno.test("client <command> --help shows the help even next to a bad value", async () => {
  const { code, stdout } = await run(["echo", "--port", "abc", "--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /^Usage: deno task client echo \[options\] <message>\n/);
  assert.match(stdout, /\n {2}--port <port> {14}Port to connect to \(default \d+\)\n/);
});
