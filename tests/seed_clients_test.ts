/**
 * The seeds' own clients, byte for byte (issue 15): Python written from the
 * seeds' text, unchanged but for host and port, against the endpoints that
 * play the seeds' servers, over real sockets. Seed 002's reverse and framing
 * clients, seed 003's chat client (several at once) and app requests cut
 * off by the client's FIN.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ENDPOINTS, tryItLine } from "../lib/net/endpoint_table.ts";
import { HOST, runTutorial, startService, waitFor } from "./_helpers.ts";

const decoder = new TextDecoder();

/** Runs `cmd` with `input` on stdin, bounded in time; its stdout. */
async function pipeInto(cmd: string, args: string[], input: string, timeoutMs = 10_000) {
  const out = await new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const done = await out.output();
  return {
    code: done.code,
    stdout: decoder.decode(done.stdout),
    stderr: decoder.decode(done.stderr),
  };
}

// --- reverse (seed 002)

Deno.test("seed 002's reverse client gets !dlrow ,olleH, then b'' when the server closes", async () => {
  await using svc = startService();
  const out = await runTutorial("reverse_client.py", [HOST, String(svc.port("reverse"))], 10_000);
  strictEqual(out.stderr, "");
  strictEqual(out.code, 0);
  strictEqual(out.stdout, "13\n!dlrow ,olleH\nb''\n");
});

Deno.test("reverse endpoint still answers printf | nc -N", async () => {
  await using svc = startService();
  const out = await pipeInto("nc", ["-N", HOST, String(svc.port("reverse"))], "Hello, world!");
  deepStrictEqual([out.code, out.stdout], [0, "!dlrow ,olleH"]);
});

// --- framing (seed 002): LENGTH = 30 padded with #, DELIM = b"#*#"

Deno.test("seed 002's fixed-length client gets its 30-byte message back", async () => {
  await using svc = startService();
  const out = await runTutorial(
    "frame_fixed_client.py",
    [HOST, String(svc.port("frame-fixed"))],
    10_000,
  );
  strictEqual(out.stderr, "");
  strictEqual(out.code, 0);
  strictEqual(out.stdout, "30\nb'Hello, world!#################'\nb'Hello, world!'\n");
});

Deno.test("seed 002's delimited client gets its #*#-ended message back", async () => {
  await using svc = startService();
  const port = String(svc.port("frame-delimited"));
  const out = await runTutorial("frame_delimited_client.py", [HOST, port], 10_000);
  strictEqual(out.stderr, "");
  strictEqual(out.code, 0);
  strictEqual(out.stdout, "16\nb'Hello, world!'\n");
});

/**
 * Runs an endpoint's try-it line `printf … | nc …` as printed: the printf part in a shell, the nc
 * part as a child fed its output, read until `expected` came back (plain nc waits for the server
 * to close, which an echoing lab does not), then ended.
 */
async function tryIt(name: string, port: number, expected: string): Promise<string> {
  const line = ENDPOINTS.find((e) => e.name === name)!.tryIt[0];
  const [producer, consumer] = tryItLine(line, HOST, port, "").split(" | ");
  const bytes = (await new Deno.Command("sh", { args: ["-c", producer], stdout: "piped" }).output())
    .stdout;
  const [cmd, ...args] = consumer.split(" ");
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "null" })
    .spawn();
  let out = "";
  try {
    const writer = child.stdin.getWriter();
    await writer.write(bytes);
    await writer.close();
    const reader = child.stdout.getReader();
    const deadline = setTimeout(() => reader.cancel(), 10_000);
    try {
      while (!out.includes(expected)) {
        const { value, done } = await reader.read();
        if (done) break;
        out += decoder.decode(value);
      }
    } finally {
      clearTimeout(deadline);
      reader.releaseLock();
    }
  } finally {
    try {
      child.kill();
    } catch {
      // nc already exited (nc -N after the server's close).
    }
    await child.status;
    await child.stdout.cancel().catch(() => {});
  }
  return out;
}

Deno.test("the framing and reverse endpoints' try-it lines work as printed", async () => {
  await using svc = startService();
  const record = "Hello, world!#################hi############################";
  strictEqual(await tryIt("frame-fixed", svc.port("frame-fixed"), record), record);
  const delimited = "Hello, world!#*#one#*#two#*#";
  strictEqual(await tryIt("frame-delimited", svc.port("frame-delimited"), delimited), delimited);
  strictEqual(await tryIt("reverse", svc.port("reverse"), "!dlrow ,olleH"), "!dlrow ,olleH");
});

// --- app (seed 003): a frame cut off by the client's FIN, and byteorder

const APP_CUTS = [
  // The 2-byte length, 103 bytes of JSON header ("byteorder": "little"), 41 of content.
  { cut: "120", answer: "{'error': 'truncated message: 120 of 146 bytes'}" },
  { cut: "30", answer: "{'error': 'truncated message: 30 of at least 105 bytes'}" },
  { cut: "1", answer: "{'error': 'truncated message: 1 of at least 2 bytes'}" },
];

for (const { cut, answer } of APP_CUTS) {
  Deno.test(`app endpoint answers a request cut off after ${cut} bytes with the error frame, then closes`, async () => {
    await using svc = startService();
    const port = String(svc.port("app"));
    const out = await runTutorial("app_cut_client.py", [HOST, port, cut, "little"], 10_000);
    strictEqual(out.stderr, "");
    strictEqual(out.code, 0);
    deepStrictEqual(out.stdout.trimEnd().split("\n"), [
      `sent ${cut} bytes`,
      `received response ${answer}`,
      "peer closed",
    ]);
    const app = await waitFor("the connection closed", async () => {
      const e = (await svc.endpoints()).app;
      return e.connections === 0 && e;
    });
    deepStrictEqual(app.errors, { protocol: 1 });
  });
}

Deno.test("app endpoint accepts byteorder little and big and answers any other with the error frame", async () => {
  await using svc = startService();
  const port = String(svc.port("app"));
  for (const byteorder of ["little", "big"]) {
    const out = await runTutorial("app_cut_client.py", [HOST, port, "all", byteorder], 10_000);
    strictEqual(out.code, 0, out.stderr);
    deepStrictEqual(out.stdout.trimEnd().split("\n").slice(1), [
      "received response {'result': 'Follow the white rabbit. 🐰'}",
      "peer closed",
    ]);
  }
  const out = await runTutorial("app_cut_client.py", [HOST, port, "all", "middle"], 10_000);
  strictEqual(out.code, 0, out.stderr);
  deepStrictEqual(out.stdout.trimEnd().split("\n").slice(1), [
    `received response {'error': 'Cannot parse header: "byteorder" is "middle", not "little" or "big"'}`,
    "peer closed",
  ]);
  const app = await waitFor("the connections closed", async () => {
    const e = (await svc.endpoints()).app;
    return e.connections === 0 && e;
  });
  deepStrictEqual(app.errors, { protocol: 1 });
  ok(app.accepted === 3);
});
