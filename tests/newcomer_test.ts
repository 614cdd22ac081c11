/**
 * What a newcomer meets on a first visit, over real HTTP as curl sees it: pages whose
 * payload text holds terminal controls, the try-it lines, the overview's count.
 */
import { deepStrictEqual, ok } from "node:assert/strict";
import {
  closeQuietly,
  connect,
  encoder,
  readExactly,
  startService,
  type TestService,
  writeAll,
} from "./_helpers.ts";
import { startMain } from "./_main_process.ts";
import { clientCommand, tryItLine } from "../lib/net/endpoint_table.ts";

/** Serves the app on 127.0.0.1 port 0 and fetches `path` over a real socket, as curl would. */
async function curl(t: TestService, path: string): Promise<{ status: number; body: Uint8Array }> {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen: () => {} },
    t.app.fetch,
  );
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}${path}`);
    return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
  } finally {
    ac.abort();
    await server.finished;
  }
}

/** One message as the seed's chat client frames it: its length in a 64-byte header. */
function chatFrame(text: string): Uint8Array {
  const body = encoder.encode(text);
  const out = new Uint8Array(64 + body.length).fill(0x20, 0, 64);
  out.set(encoder.encode(String(body.length)));
  out.set(body, 64);
  return out;
}

/** The control bytes a terminal would obey: all below 0x20 but tab, LF and CR, and DEL. */
function controlBytes(body: Uint8Array): string[] {
  const found = new Set<string>();
  for (const b of body) {
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) {
      found.add(`0x${b.toString(16).padStart(2, "0")}`);
    }
  }
  return [...found];
}

Deno.test("pages show ESC and NUL from payloads as visible escapes, never raw", async () => {
  await using t = startService();
  // A colour sequence, a NUL and a DEL over a real socket, into the packet log and its notes.
  const payload = "\x1b[31mred\x1b[0m \x00nul \x7fdel\n";
  const conn = await connect(t.port("echo"));
  try {
    await writeAll(conn, encoder.encode(payload));
    await readExactly(conn, payload.length);
    // The chat endpoint's decoder names the message in a note, shown in a title attribute.
    using chatter = await connect(t.port("chat"));
    await writeAll(chatter, chatFrame("\x1b[1mbold\x00"));
    await readExactly(chatter, "Msg received".length);
    const posted = await t.api("/api/chat", {
      method: "POST",
      body: JSON.stringify({ name: "eve", text: "\x1b[2J\x00cleared?" }),
    });
    deepStrictEqual(posted.status, 201);
    const id = t.service.registry.snapshots().find((s) =>
      s.endpoint === "echo" && s.remote?.port === conn.localAddr.port
    )!.id;
    for (const path of ["/packets", "/chat", `/sockets/${id}`, "/sockets", "/labs", "/"]) {
      const { status, body } = await curl(t, path);
      deepStrictEqual(status, 200, path);
      deepStrictEqual(controlBytes(body), [], `${path} holds no raw control bytes`);
    }
    const packets = new TextDecoder().decode((await curl(t, "/packets?endpoint=chat")).body);
    ok(packets.includes("␛[1mbold␀"), "the note's controls as pictures");
    const chat = new TextDecoder().decode((await curl(t, "/chat")).body);
    ok(chat.includes("␛[2J␀cleared?"), "the chat text's controls as pictures");
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("clientCommand() spells the CLI as the service was launched; tryItLine() follows", () => {
  const plain = clientCommand({ version: "2.9.6" });
  deepStrictEqual(plain, "deno task client");
  deepStrictEqual(clientCommand({ version: "2.9.6", npmCommand: "run" }), plain);
  const npx = clientCommand({ version: "2.9.6", npmCommand: "exec" });
  deepStrictEqual(npx, "npx -y deno@2.9.6 task client");
  deepStrictEqual(
    tryItLine("deno task client sink --port {port}", "127.0.0.1", 1, "d", npx),
    "npx -y deno@2.9.6 task client sink --port 1",
  );
  deepStrictEqual(tryItLine("nc {host} {port}", "127.0.0.1", 1, "d", npx), "nc 127.0.0.1 1");
});

/** Reads the banner of a main.ts started with `env`: the dashboard and every line. */
async function banner(env: Record<string, string>) {
  const main = startMain([], env);
  const lines: string[] = [];
  for (;;) {
    const line = await main.line();
    if (line === null) break;
    lines.push(line);
    if (line.startsWith("  kernel view:")) break;
  }
  const dashboard = /http:\/\/([^/\s]+)\//.exec(lines[0])![1];
  return { main, lines, dashboard };
}

Deno.test("started through npx, the banner, /api/endpoints and pages print npx lines", async () => {
  const { main, lines, dashboard } = await banner({ npm_command: "exec" });
  try {
    const npx = `npx -y deno@${Deno.version.deno} task client`;
    ok(lines.some((l) => l.includes(`clients: ${npx} --help`)), lines.join("\n"));
    ok(lines.some((l) => l.includes(`try: ${npx} sink --port`)), "the sink's try line");
    ok(!lines.some((l) => /(^|\s)deno task client/.test(l)), "no bare deno task client");
    const body = await (await fetch(`http://${dashboard}/api/endpoints`)).json();
    const cli = (body.endpoints as { tryIt: string[] }[]).flatMap((e) => e.tryIt)
      .filter((l) => l.includes("task client"));
    ok(cli.length >= 10);
    ok(cli.every((l) => l.startsWith(`${npx} `)), cli.join("\n"));
    for (const path of ["/", "/buffers", "/chat", "/labs"]) {
      const html = await (await fetch(`http://${dashboard}${path}`)).text();
      ok(html.includes(npx), `${path} spells the CLI through npx`);
      ok(!/[>\s"]deno task client/.test(html), `${path} has no bare deno task client`);
    }
  } finally {
    await main.stop();
  }
});

Deno.test("started with deno itself, the lines say deno task client", async () => {
  const { main, lines, dashboard } = await banner({ npm_command: "" });
  try {
    ok(lines.some((l) => l.includes("clients: deno task client --help")), lines.join("\n"));
    const body = await (await fetch(`http://${dashboard}/api/endpoints`)).json();
    const sink = (body.endpoints as { name: string; tryIt: string[] }[])
      .find((e) => e.name === "sink")!;
    ok(sink.tryIt[0].startsWith("deno task client sink --port "), sink.tryIt[0]);
  } finally {
    await main.stop();
  }
});
