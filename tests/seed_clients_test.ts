/**
 * The seeds' own clients, byte for byte (issue 15): Python written from the
 * seeds' text, unchanged but for host and port, against the endpoints that
 * play the seeds' servers, over real sockets. Seed 002's reverse and framing
 * clients, seed 003's chat client (several at once) and app requests cut
 * off by the client's FIN.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ENDPOINTS, tryItLine } from "../lib/net/endpoint_table.ts";
import {
  connect,
  HOST,
  readExactly,
  runTutorial,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const decoder = new TextDecoder();
const TUTORIAL = new URL("./fixtures/tutorial/", import.meta.url);

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

/** One step of a try-it session: read until the output holds `until`, then run `then`. */
interface TryItStep {
  until: string;
  then?: () => Promise<unknown>;
}

/**
 * Runs an endpoint's try-it line `printf … | nc …` or `(printf …; cat) | nc …` as printed: the
 * printf part in a shell, the nc part as a child fed its output (stdin kept open for `cat`),
 * read step by step (plain nc waits for the server to close, which an echoing lab does not),
 * then ended.
 */
async function tryIt(name: string, port: number, steps: TryItStep[], index = 0): Promise<string> {
  const line = ENDPOINTS.find((e) => e.name === name)!.tryIt[index];
  let [producer, consumer] = tryItLine(line, HOST, port, "").split(" | ");
  const keepOpen = /^\(.*; cat\)$/.test(producer);
  if (keepOpen) producer = producer.slice(1, -"; cat)".length);
  const bytes = (await new Deno.Command("sh", { args: ["-c", producer], stdout: "piped" }).output())
    .stdout;
  const [cmd, ...args] = consumer.split(" ");
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "null" })
    .spawn();
  let out = "";
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  const deadline = setTimeout(() => reader.cancel(), 10_000);
  try {
    await writer.write(bytes);
    if (!keepOpen) await writer.close();
    for (const step of steps) {
      while (!out.includes(step.until)) {
        const { value, done } = await reader.read();
        if (done) return out;
        out += decoder.decode(value);
      }
      await step.then?.();
    }
  } finally {
    clearTimeout(deadline);
    try {
      child.kill();
    } catch {
      // nc already exited (nc -N after the server's close).
    }
    await child.status;
    await reader.cancel().catch(() => {});
    await writer.close().catch(() => {});
  }
  return out;
}

Deno.test("the framing and reverse endpoints' try-it lines work as printed", async () => {
  await using svc = startService();
  const record = "Hello, world!#################";
  strictEqual(await tryIt("frame-fixed", svc.port("frame-fixed"), [{ until: record }]), record);
  const delimited = "Hello, world!#*#one#*#two#*#";
  strictEqual(
    await tryIt("frame-delimited", svc.port("frame-delimited"), [{ until: delimited }]),
    delimited,
  );
  const reversed = "!dlrow ,olleH";
  strictEqual(await tryIt("reverse", svc.port("reverse"), [{ until: reversed }]), reversed);
});

// --- chat (seed 003): the threaded chat's client, several at once

/** Seed 003's chat client running, its stdin fed one line per input(), its stdout read by line. */
class SeedChatClient implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: ReadableStreamDefaultReader<string>;
  #buffer = "";

  constructor(port: number) {
    this.#child = new Deno.Command("python3", {
      args: [new URL("chat_client.py", TUTORIAL).pathname, HOST, String(port)],
      // Unbuffered, so each print() reaches the pipe when the seed's code makes it.
      env: { PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  /** Answers the seed's next input() with Enter. */
  async enter(): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode("\n"));
  }

  /** The next line the client prints (what one recv(2048) returned), bounded in time. */
  async line(): Promise<string> {
    const deadline = setTimeout(() => this.#lines.cancel(), 10_000);
    try {
      while (!this.#buffer.includes("\n")) {
        const { value, done } = await this.#lines.read();
        if (done) {
          throw new Error(
            `chat_client.py printed no line; it printed ${JSON.stringify(this.#buffer)}`,
          );
        }
        this.#buffer += value;
      }
    } finally {
      clearTimeout(deadline);
    }
    const at = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(at + 1);
    return line;
  }

  /** Waits for the client to exit; its exit code and stderr. */
  async exit(): Promise<{ code: number; stderr: string }> {
    await this.#stdin.close().catch(() => {});
    const [status, stderr] = await Promise.all([
      this.#child.status,
      new Response(this.#child.stderr).text(),
    ]);
    return { code: status.code, stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill();
    } catch {
      // Already exited.
    }
    await this.#lines.cancel().catch(() => {});
    await this.#child.status;
  }
}

/** A chat message framed as the seed's client frames it. */
function chatFrame(text: string): Uint8Array {
  const body = new TextEncoder().encode(text);
  const out = new Uint8Array(64 + body.length).fill(0x20, 0, 64);
  out.set(new TextEncoder().encode(String(body.length)));
  out.set(body, 64);
  return out;
}

Deno.test("seed 003's chat clients, four at once, each read exactly one Msg received per message; !JOIN gets the room", async () => {
  await using svc = startService();
  const port = svc.port("chat");
  // A participant that asks for the room, as an nc user would by typing !JOIN.
  using watcher = await connect(port);
  await writeAll(watcher, chatFrame("!JOIN"));
  strictEqual(decoder.decode(await readExactly(watcher, 12)), "Msg received");

  const clients = [0, 1, 2, 3].map(() => new SeedChatClient(port));
  try {
    // In lockstep: every client's message of a step is answered before the next step, so on a
    // server that relayed to everyone, the others' earlier messages would wait in each socket.
    for (const c of clients) strictEqual(await c.line(), "Msg received", "Hello World!");
    for (const c of clients) await c.enter();
    for (const c of clients) strictEqual(await c.line(), "Msg received", "Hello Everyone!");
    for (const c of clients) await c.enter();
    for (const c of clients) {
      strictEqual(await c.line(), "Msg received", "Hello Tim!");
      strictEqual(await c.line(), "Msg received", "!DISCONNECT");
    }
    for (const c of clients) deepStrictEqual(await c.exit(), { code: 0, stderr: "" });
  } finally {
    for (const c of clients) await c[Symbol.asyncDispose]();
  }

  // The joined participant got every message, relayed; the room holds them all.
  const relays: string[] = [];
  for (let i = 0; i < 12; i++) {
    const header = decoder.decode(await readExactly(watcher, 64));
    relays.push(decoder.decode(await readExactly(watcher, Number(header.trim()))));
  }
  const texts = relays.map((r) => r.replace(/^\[127\.0\.0\.1:\d+\] /, "")).sort();
  deepStrictEqual(texts, [
    ...Array(4).fill("Hello Everyone!"),
    ...Array(4).fill("Hello Tim!"),
    ...Array(4).fill("Hello World!"),
  ]);
  const room = (await svc.api<{ messages: { text: string; relayedTo: number }[] }>(
    "/api/chat",
  )).body;
  strictEqual(room.messages.length, 12);
  ok(room.messages.every((m) => m.relayedTo === 1), JSON.stringify(room.messages));
});

Deno.test("chat endpoint's nc line with !JOIN gets the room's messages", async () => {
  await using svc = startService();
  const line = ENDPOINTS.find((e) => e.name === "chat")!.tryIt[2];
  strictEqual(line, "(printf '%-64s%s' 5 '!JOIN'; cat) | nc {host} {port}");
  const post = () =>
    svc.api("/api/chat", { method: "POST", body: JSON.stringify({ name: "web", text: "hi nc" }) });
  const out = await tryIt("chat", svc.port("chat"), [
    { until: "Msg received", then: post },
    { until: "[web] hi nc" },
  ], 2);
  strictEqual(out, "Msg received" + "11".padEnd(64) + "[web] hi nc");
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
