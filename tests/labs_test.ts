/**
 * The lab endpoints over real sockets: the chat room (seed 003), the client
 * list (seed 004), reverse and the raw HTTP hello (seed 002), the four
 * framings (seeds 001 and 002) and discard/chargen, each as a user would
 * drive it with nc, a browser, the seeds' Python or `deno task client`.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { main } from "../cli.ts";
import type { CliIo } from "../lib/cli/io.ts";
import type { PacketEntry } from "../lib/capture/packet_log.ts";
import { concat } from "../lib/bytes.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  readToEnd,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

// --- The chat protocol and the framings, written here rather than imported so the tests check lib/.

/** A chat message as the seed's client sends it: the length padded with spaces to 64 bytes. */
function chatFrame(message: string): Uint8Array {
  const body = encoder.encode(message);
  return concat([encoder.encode(String(body.length).padEnd(64, " ")), body]);
}

const ACK = "Msg received";

/** Reads one relay: a 64-byte length header, then `[name] text`. */
async function readRelay(conn: Deno.Conn): Promise<string> {
  const header = decoder.decode(await readExactly(conn, 64));
  return decoder.decode(await readExactly(conn, Number(header.trim())));
}

/** Runs the CLI in process and collects what it printed. */
async function cli(args: (string | number)[], stdin?: string) {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    progress: false,
    stdin: stdin === undefined ? undefined : () => ReadableStream.from([encoder.encode(stdin)]),
  };
  const code = await main(args.map(String), io);
  return { code, stdout, stderr };
}

/** The packet log of one endpoint, oldest first. */
async function packets(svc: TestService, endpoint: string): Promise<PacketEntry[]> {
  const res = await svc.api<{ packets: PacketEntry[] }>(
    `/api/packets?endpoint=${endpoint}&limit=500`,
  );
  return res.body.packets;
}

function notes(entries: PacketEntry[], dir: "in" | "out" = "in"): string[] {
  return entries.filter((e) => e.dir === dir).flatMap((e) => e.decoded ?? []).map((d) => d.summary);
}

// --- chat

Deno.test("chat endpoint acknowledges, relays to those that joined, and ends on !DISCONNECT", async () => {
  await using svc = startService();
  const port = svc.port("chat");
  const alice = await connect(port);
  const bob = await connect(port);
  try {
    await writeAll(alice, chatFrame("!NAME alice"));
    strictEqual(decoder.decode(await readExactly(alice, 12)), ACK);
    // Bob asks for the room; alice does not, so she reads only her acknowledgements.
    await writeAll(bob, chatFrame("!JOIN"));
    strictEqual(decoder.decode(await readExactly(bob, 12)), ACK);
    await waitFor("both in the room", async () => {
      const room = (await svc.api<{ participants: unknown[] }>("/api/chat")).body;
      return room.participants.length === 2;
    });

    // The seed's client writes the header and the message separately.
    await writeAll(alice, chatFrame("Hello World!").subarray(0, 64));
    await writeAll(alice, encoder.encode("Hello World!"));
    strictEqual(decoder.decode(await readExactly(alice, 12)), ACK);
    strictEqual(await readRelay(bob), "[alice] Hello World!");

    await writeAll(bob, chatFrame("!DISCONNECT"));
    const end = await readToEnd(bob);
    deepStrictEqual([decoder.decode(end.bytes), end.end], [ACK, "eof"]);
    await writeAll(alice, chatFrame("anyone?"));
    strictEqual(decoder.decode(await readExactly(alice, 12)), ACK);

    const room = (await svc.api<{
      participants: { name: string; kind: string }[];
      messages: { name: string; text: string; relayedTo: number }[];
    }>("/api/chat")).body;
    deepStrictEqual(room.participants.map((p) => [p.name, p.kind]), [["alice", "tcp"]]);
    deepStrictEqual(room.messages.map((m) => [m.name, m.text, m.relayedTo]), [
      ["alice", "Hello World!", 1],
      ["alice", "anyone?", 0],
    ]);
    const log = notes(await packets(svc, "chat"));
    ok(
      log.includes("message in progress: header complete (length 12), body 0 of 12 B"),
      log.join(" | "),
    );
    ok(log.some((n) => n.includes("from alice (12 B): Hello World!")), log.join(" | "));
  } finally {
    closeQuietly(alice);
    closeQuietly(bob);
  }
});

Deno.test("chat endpoint answers the seed's own python client", async () => {
  await using svc = startService();
  const script = `
import socket
HEADER = 64
FORMAT = 'utf-8'
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(("${HOST}", ${svc.port("chat")}))
def send(msg):
    message = msg.encode(FORMAT)
    send_length = str(len(message)).encode(FORMAT)
    send_length += b' ' * (HEADER - len(send_length))
    client.send(send_length)
    client.send(message)
    print(client.recv(2048).decode(FORMAT))
send("Hello World!")
send("Hello Everyone!")
send("!DISCONNECT")
`;
  const out = await new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(10_000),
  }).output();
  strictEqual(decoder.decode(out.stderr), "");
  strictEqual(decoder.decode(out.stdout), `${ACK}\n${ACK}\n${ACK}\n`);
  const room = (await svc.api<{ messages: { text: string }[] }>("/api/chat")).body;
  deepStrictEqual(room.messages.map((m) => m.text), ["Hello World!", "Hello Everyone!"]);
});

Deno.test("POST /api/chat posts into the room as a participant", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("chat"));
  try {
    await waitFor(
      "the socket in the room",
      async () =>
        (await svc.api<{ participants: unknown[] }>("/api/chat")).body.participants.length === 1,
    );
    await writeAll(conn, chatFrame("!JOIN"));
    strictEqual(decoder.decode(await readExactly(conn, 12)), ACK);
    const res = await svc.api<{ message: { name: string; from: string; relayedTo: number } }>(
      "/api/chat",
      { method: "POST", body: JSON.stringify({ name: "web-user", text: "hello from the page" }) },
    );
    strictEqual(res.status, 201);
    deepStrictEqual(
      [res.body.message.name, res.body.message.from, res.body.message.relayedTo],
      ["web-user", "web", 1],
    );
    strictEqual(await readRelay(conn), "[web-user] hello from the page");
    const room = (await svc.api<{ participants: { name: string; kind: string }[] }>(
      "/api/chat?limit=1",
    )).body;
    deepStrictEqual(room.participants.map((p) => p.kind), ["tcp", "web"]);
  } finally {
    conn.close();
  }
  for (
    const [body, message] of [
      [{ text: "x" }, /"name" must be a string/],
      [{ name: "a b", text: "x" }, /Invalid name: "a b"/],
      [{ name: "ok", text: "" }, /Invalid text: 0 bytes is not in 1..65536/],
    ] as const
  ) {
    const res = await svc.api<{ error: string }>("/api/chat", {
      method: "POST",
      body: JSON.stringify(body),
    });
    strictEqual(res.status, 400);
    match(res.body.error, message);
  }
  strictEqual((await svc.api("/api/chat?limit=500")).status, 400);
});

Deno.test("chat endpoint answers a malformed header with an error line and closes", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("chat"));
  try {
    await writeAll(conn, encoder.encode("hello".padEnd(64, " ")));
    const end = await readToEnd(conn);
    match(decoder.decode(end.bytes), /^Error: Cannot parse chat header: "hello" is not a length/);
    strictEqual(end.end, "eof");
  } finally {
    conn.close();
  }
  const stats = await waitFor("the error counted", async () => {
    const chat = (await svc.endpoints()).chat;
    return chat.connections === 0 && chat;
  });
  deepStrictEqual(stats.errors, { protocol: 1 });
});

Deno.test("client chat --send and stdin lines print acknowledgements", async () => {
  await using svc = startService();
  const port = svc.port("chat");
  const sent = await cli(["chat", "--port", port, "--send", "hi"]);
  deepStrictEqual(sent, { code: 0, stdout: `${ACK}\n${ACK}\n`, stderr: "" });
  const piped = await cli(["chat", "--port", port, "--name", "carol", "--json"], "one\ntwo\n");
  strictEqual(piped.code, 0, piped.stderr);
  const result = JSON.parse(piped.stdout);
  // !NAME, !JOIN, two lines, !DISCONNECT.
  deepStrictEqual([result.command, result.ok, result.sent, result.acks], ["chat", true, 5, 5]);
  const room = (await svc.api<{ messages: { name: string; text: string }[] }>("/api/chat")).body;
  deepStrictEqual(room.messages.map((m) => `${m.name}: ${m.text}`), [
    `127.0.0.1:${room.messages[0].name.split(":")[1]}: hi`,
    "carol: one",
    "carol: two",
  ]);
});

// --- the labs' limits

Deno.test("the labs' limits come from the service's options (the start flags)", async () => {
  await using svc = startService({
    frameMaxMessage: 8,
    chat: { maxMessage: 16, history: 2 },
    clientList: { maxNames: 2 },
  });
  // A delimited message with no #*# within 8 bytes: the error line, then the close.
  const frame = await connect(svc.port("frame-delimited"));
  try {
    await writeAll(frame, encoder.encode("123456789"));
    const end = await readToEnd(frame);
    match(decoder.decode(end.bytes), /^Error: .*within 8 bytes/);
  } finally {
    frame.close();
  }
  // The room refuses a 17-byte message and keeps the last 2.
  const post = (text: string) =>
    svc.api("/api/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "web", text }),
    });
  strictEqual((await post("x".repeat(17))).status, 400);
  for (const text of ["one", "two", "three"]) strictEqual((await post(text)).status, 201);
  const room = (await svc.api<{ messages: { text: string }[] }>("/api/chat")).body;
  deepStrictEqual(room.messages.map((m) => m.text), ["two", "three"]);
  // The client list forgets the oldest name beyond 2.
  let list: Record<string, unknown> = {};
  for (const name of ["a", "b", "c"]) {
    const conn = await connect(svc.port("clients"));
    try {
      await writeAll(conn, encoder.encode(`${name}\n`));
      list = JSON.parse(decoder.decode((await readToEnd(conn)).bytes));
    } finally {
      conn.close();
    }
  }
  deepStrictEqual(Object.keys(list), ["b", "c"]);
});

// --- clients

Deno.test("clients endpoint sends a list longer than 1,024 bytes whole", async () => {
  await using svc = startService();
  const port = svc.port("clients");
  for (let i = 0; i < 30; i++) {
    const conn = await connect(port);
    try {
      await writeAll(conn, encoder.encode(`client-number-${String(i).padStart(3, "0")}\n`));
      await readToEnd(conn);
    } finally {
      conn.close();
    }
  }
  // Like the seed's client: the name with no newline, then wait for the answer.
  const conn = await connect(port);
  let reply: Uint8Array;
  try {
    await writeAll(conn, encoder.encode("last"));
    const end = await readToEnd(conn);
    strictEqual(end.end, "eof");
    reply = end.bytes;
  } finally {
    conn.close();
  }
  ok(reply.length > 1024, `reply is ${reply.length} bytes`);
  const list = JSON.parse(decoder.decode(reply));
  strictEqual(Object.keys(list).length, 31);
  deepStrictEqual(list.last, { name: "last", address: HOST, port: conn.localAddr.port });
  deepStrictEqual(Object.keys(list)[0], "client-number-000");

  const out = await cli(["clients", "--port", port, "--json", "zed"]);
  strictEqual(out.code, 0, out.stderr);
  const result = JSON.parse(out.stdout);
  strictEqual(result.count, 32);
  ok(result.bytes > 1024 && result.reads >= 1);
  deepStrictEqual(Object.keys(result.clients).at(-1), "zed");
});

// --- reverse

Deno.test("reverse endpoint answers its first read reversed, then closes", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("reverse"));
  try {
    // No half-close: like the seed's server, the answer follows the first read.
    await writeAll(conn, encoder.encode("Hello, world!"));
    const end = await readToEnd(conn);
    deepStrictEqual([decoder.decode(end.bytes), end.end], ["!dlrow ,olleH", "eof"]);
  } finally {
    conn.close();
  }
  deepStrictEqual(await cli(["reverse", "--port", svc.port("reverse"), "stressed"]), {
    code: 0,
    stdout: "desserts\n",
    stderr: "",
  });
});

Deno.test("reverse endpoint answers only what the first read held: one read is not one message", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("reverse"));
  try {
    conn.setNoDelay(true);
    await writeAll(conn, encoder.encode("Hello, "));
    // The answer to the first part comes back and the server closes its side...
    strictEqual(decoder.decode(await readExactly(conn, 7)), " ,olleH");
    // ...and drains the rest of the message without answering it.
    await writeAll(conn, encoder.encode("world!"));
    const end = await readToEnd(conn);
    deepStrictEqual([end.bytes.length, end.end], [0, "eof"]);
  } finally {
    conn.close();
  }
  const stats = await waitFor("the connection closed", async () => {
    const s = (await svc.endpoints()).reverse;
    return s.connections === 0 && s;
  });
  deepStrictEqual([stats.bytesIn, stats.bytesOut, stats.errors], [13, 7, {}]);
  const log = notes(await packets(svc, "reverse"));
  ok(log.includes("one read of 7 B: answered reversed, then close"), JSON.stringify(log));
});

Deno.test("reverse endpoint reads at most 1024 bytes, as the seed's recv(1024)", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("reverse"));
  const sent = Uint8Array.from({ length: 3000 }, (_, i) => 0x41 + (i % 26));
  try {
    const [end] = await Promise.all([readToEnd(conn, { timeoutMs: 5000 }), writeAll(conn, sent)]);
    strictEqual(end.end, "eof");
    // However the kernel split the 3,000 bytes, one read of at most 1,024 was answered.
    ok(end.bytes.length >= 1 && end.bytes.length <= 1024, `${end.bytes.length} bytes back`);
    deepStrictEqual(end.bytes, sent.slice(0, end.bytes.length).reverse());
  } finally {
    conn.close();
  }
  deepStrictEqual(
    await cli(["reverse", "--port", svc.port("reverse"), "x".repeat(1500)]).then((r) => [
      r.code,
      r.stderr.includes("The server's one read held"),
    ]),
    [1, true],
  );
});

// --- http-hello

Deno.test("http-hello endpoint answers a raw GET with a hand-written response", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("http-hello"));
  let text: string;
  try {
    await writeAll(
      conn,
      encoder.encode("GET /<b>hi</b> HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n"),
    );
    const end = await readToEnd(conn);
    strictEqual(end.end, "eof");
    text = decoder.decode(end.bytes);
  } finally {
    conn.close();
  }
  const [head, body] = text.split("\r\n\r\n", 2);
  const lines = head.split("\r\n");
  strictEqual(lines[0], "HTTP/1.1 200 OK");
  ok(lines.includes("Connection: close"));
  ok(lines.includes("Content-Type: text/html; charset=utf-8"));
  strictEqual(
    lines.find((l) => l.startsWith("Content-Length: ")),
    `Content-Length: ${encoder.encode(body).length}`,
  );
  match(body, /<h1>Hello, world!<\/h1>/);
  match(body, /GET \/&lt;b&gt;hi&lt;\/b&gt; HTTP\/1\.1/);
  ok(!body.includes("<b>hi</b>"), "the request is escaped");
  const log = notes(await packets(svc, "http-hello"));
  ok(
    log.includes("HTTP request: GET /<b>hi</b> HTTP/1.1 (50 B before the blank line)"),
    log.join(),
  );
});

Deno.test("http-hello endpoint serves fetch, HEAD and a 400 for a bad request line", async () => {
  await using svc = startService();
  const url = `http://${HOST}:${svc.port("http-hello")}/hello?from=fetch`;
  const res = await fetch(url);
  strictEqual(res.status, 200);
  strictEqual(res.headers.get("connection"), "close");
  const body = await res.text();
  match(body, /You asked for <code>GET \/hello\?from=fetch<\/code>/);

  const head = await fetch(url, { method: "HEAD" });
  strictEqual(head.status, 200);
  strictEqual(await head.text(), "");

  const conn = await connect(svc.port("http-hello"));
  try {
    await writeAll(conn, encoder.encode("hello there\n\n"));
    const end = await readToEnd(conn);
    match(decoder.decode(end.bytes), /^HTTP\/1\.1 400 Bad Request\r\n/);
  } finally {
    conn.close();
  }
});

// --- framing lab

/** A message framed by hand as seed 002 does: 30 bytes padded with #, ended by #*#, a 5-digit prefix. */
const FRAMINGS = [
  {
    endpoint: "frame-fixed",
    kind: "fixed",
    wire: (m: Uint8Array) => concat([m, new Uint8Array(30 - m.length).fill(0x23)]),
  },
  {
    endpoint: "frame-delimited",
    kind: "delimited",
    wire: (m: Uint8Array) => concat([m, encoder.encode("#*#")]),
  },
  {
    endpoint: "frame-prefixed",
    kind: "prefixed",
    wire: (m: Uint8Array) => concat([encoder.encode(String(m.length).padStart(5, "0")), m]),
  },
] as const;

for (const f of FRAMINGS) {
  Deno.test(`${f.endpoint} endpoint echoes whole messages sent a byte at a time and merged`, async () => {
    await using svc = startService();
    const conn = await connect(svc.port(f.endpoint));
    conn.setNoDelay(true);
    const endpoint = svc.service.tcp.get(f.endpoint)!;
    const [first, ...rest] = ["hello", "wörld", "three", "four"].map((m) =>
      f.wire(encoder.encode(m))
    );
    try {
      // One byte per write, each read by the server before the next: a message split across reads.
      for (let i = 0; i < first.length; i++) {
        await writeAll(conn, first.subarray(i, i + 1));
        await waitFor(`byte ${i + 1} read`, () => [...endpoint.conns][0]?.bytesIn === i + 1);
      }
      deepStrictEqual(await readExactly(conn, first.length), first);
      // Everything else in one write: several messages in one read.
      const merged = concat(rest);
      await writeAll(conn, merged);
      deepStrictEqual(await readExactly(conn, merged.length), merged);
    } finally {
      conn.close();
    }
    const log = notes(await packets(svc, f.endpoint));
    const total = f.kind === "fixed" ? "30" : "?";
    strictEqual(log[0], `message 1 started (1 of ${total} B)`);
    ok(log.includes(`message 1 continues (2 of ${f.kind === "prefixed" ? "?" : total} B)`), log[1]);
    strictEqual(
      log[first.length - 1],
      `message 1 complete (${first.length} B, began in an earlier read)`,
    );
    // An idle connection reads into a 64-byte slot first, so 90 bytes of records take two reads.
    ok(
      log[first.length].startsWith(
        `message 2 complete (${rest[0].length} B), message 3 complete (${rest[1].length} B)`,
      ),
      log[first.length],
    );
    // With 30-byte records the 64-byte read also starts message 4, which the next read completes.
    ok(log.slice(first.length).join(", ").includes(`message 4 complete (${rest[2].length} B`));

    const out = await cli([
      "frame",
      "--kind",
      f.kind,
      "--port",
      svc.port(f.endpoint),
      "--bytewise",
      "a",
      "bc",
    ]);
    deepStrictEqual(out, { code: 0, stdout: "a\nbc\n", stderr: "" });
  });
}

Deno.test("frame-fixed and frame-delimited take other sizes, pads and delimiters from the options", async () => {
  await using svc = startService({ framing: { recordSize: 32, pad: 0x20, delimiter: "\n" } });
  const fixed = await connect(svc.port("frame-fixed"));
  try {
    const records = "hello".padEnd(32) + "world".padEnd(32);
    await writeAll(fixed, encoder.encode(records));
    strictEqual(decoder.decode(await readExactly(fixed, 64)), records);
  } finally {
    fixed.close();
  }
  const lines = await connect(svc.port("frame-delimited"));
  try {
    await writeAll(lines, encoder.encode("one\ntwo\n"));
    strictEqual(decoder.decode(await readExactly(lines, 8)), "one\ntwo\n");
  } finally {
    lines.close();
  }
  const port = svc.port("frame-delimited");
  const out = await cli(["frame", "--port", port, "--delimiter", "\\n", "--together", "a", "b"]);
  deepStrictEqual(out, { code: 0, stdout: "a\nb\n", stderr: "" });
  const size = ["--size", 32, "--pad", "\\x20"];
  const fixedOut = await cli([
    "frame",
    "--kind",
    "fixed",
    "--port",
    svc.port("frame-fixed"),
    ...size,
    "x",
  ]);
  deepStrictEqual(fixedOut, { code: 0, stdout: "x\n", stderr: "" });
});

Deno.test("frame-close endpoint echoes the message once the client half-closes", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("frame-close"));
  try {
    for (const part of ["hel", "lo"]) await writeAll(conn, encoder.encode(part));
    await conn.closeWrite();
    const end = await readToEnd(conn);
    deepStrictEqual([decoder.decode(end.bytes), end.end], ["hello", "eof"]);
  } finally {
    conn.close();
  }
  const log = notes(await packets(svc, "frame-close"));
  ok(log.includes("the peer half-closed: message 1 complete (5 B)"), log.join(" | "));
  const out = await cli(["frame", "--kind", "close", "--port", svc.port("frame-close"), "bye"]);
  deepStrictEqual(out, { code: 0, stdout: "bye\n", stderr: "" });
});

Deno.test("frame-prefixed endpoint answers a bad prefix with an error line and closes", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("frame-prefixed"));
  try {
    await writeAll(conn, encoder.encode("00002hiabcde"));
    const end = await readToEnd(conn);
    strictEqual(
      decoder.decode(end.bytes),
      '00002hiError: Cannot parse length prefix of message 2: "abcde" is not 5 ASCII digits\n',
    );
  } finally {
    conn.close();
  }
});

// --- discard and chargen

Deno.test("client discard and chargen measure throughput against the endpoints", async () => {
  await using svc = startService();
  const written = await cli(["discard", "--port", svc.port("discard"), "--bytes", 5_000_000]);
  strictEqual(written.code, 0, written.stderr);
  match(
    written.stdout,
    /^5000000 bytes \(4\.8 MiB\) written into discard in [\d.]+ s: [\d.]+ MB\/s\n$/,
  );
  const discard = await waitFor("every byte read", async () => {
    const s = (await svc.endpoints()).discard;
    return s.connections === 0 && s;
  });
  strictEqual(discard.bytesIn, 5_000_000);
  strictEqual(discard.bytesOut, 0);

  const read = await cli([
    "chargen",
    "--port",
    svc.port("chargen"),
    "--bytes",
    5_000_000,
    "--json",
  ]);
  strictEqual(read.code, 0, read.stderr);
  const result = JSON.parse(read.stdout);
  deepStrictEqual([result.ok, result.bytes, result.mismatchAt], [true, 5_000_000, null]);
  ok(result.megabytesPerSecond > 0);
  const chargen = await waitFor("the generator stopped", async () => {
    const s = (await svc.endpoints()).chargen;
    return s.connections === 0 && s;
  });
  ok(chargen.bytesOut >= 5_000_000);
  deepStrictEqual(chargen.errors, {}, "the client half-closed instead of resetting");
});

Deno.test("chargen endpoint writes the RFC 864 lines and waits for a slow reader", async () => {
  await using svc = startService();
  const conn = await connect(svc.port("chargen"));
  try {
    const lines = decoder.decode(await readExactly(conn, 74 * 2)).split("\r\n");
    strictEqual(
      lines[0],
      "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh",
    );
    strictEqual(lines[1], lines[0].slice(1) + "i");
    // Not reading: the generator must stop at what the buffers hold, not grow without bound.
    const sent = await waitFor("the generator blocked", async () => {
      const before = (await svc.endpoints()).chargen.bytesOut;
      await new Promise((resolve) => setTimeout(resolve, 100));
      const after = (await svc.endpoints()).chargen.bytesOut;
      return before === after && after;
    });
    ok(sent < 64 * 1024 * 1024, `${sent} bytes written to a reader that does not read`);
    const row = (await svc.sockets("?endpoint=chargen")).find((s) => s.kind === "conn")!;
    ok(row.app!.txBuffered <= 9 * 95 * 74, `txBuffered ${row.app!.txBuffered}`);
  } finally {
    conn.close();
  }
});
