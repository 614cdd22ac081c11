/**
 * The dashboard's pages, in process through `createApp(...).fetch`: what a
 * user gets before any script runs, and the islands' props.
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import {
  closeQuietly,
  connect,
  encoder,
  readExactly,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { StaticFiles } from "../lib/web/static_files.ts";

function assertStringIncludes(text: string, part: string): void {
  if (!text.includes(part)) {
    throw new Error(`Expected the page to include ${JSON.stringify(part)}: ${text.slice(0, 300)}…`);
  }
}

async function page(t: TestService, path: string, init?: RequestInit) {
  const res = await t.app.fetch(new Request(`http://x${path}`, init));
  return { status: res.status, headers: res.headers, html: await res.text() };
}

function unescapeAttr(s: string): string {
  return s.replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&#39;", "'").replaceAll("&amp;", "&");
}

/** The props the server handed an island, as the browser will parse them. */
function islandProps(html: string, name: string): Record<string, unknown> {
  const m = html.match(new RegExp(`data-island="${name}" data-island-props="([^"]*)"`));
  if (m === null) throw new Error(`No island "${name}" in the page`);
  return JSON.parse(unescapeAttr(m[1]));
}

/** Opens a connection to echo and completes one round trip; returns it and its server-side id. */
async function echoConn(t: TestService, text: string) {
  const conn = await connect(t.port("echo"));
  const bytes = encoder.encode(text);
  await writeAll(conn, bytes);
  await readExactly(conn, bytes.length);
  const port = conn.localAddr.port;
  const id =
    t.service.registry.snapshots().find((s) => s.endpoint === "echo" && s.remote?.port === port)!
      .id;
  return { conn, id };
}

Deno.test("GET / renders one card per endpoint with its try-it lines", async () => {
  await using t = startService();
  const { status, headers, html } = await page(t, "/");
  assertEquals(status, 200);
  assertEquals(headers.get("content-type"), "text/html; charset=utf-8");
  assertEquals(headers.get("cache-control"), "no-store");
  assert(html.startsWith("<!DOCTYPE html>"));
  for (const name of ["echo", "multiconn", "app", "udp", "sink"]) {
    assertStringIncludes(html, `data-endpoint="${name}"`);
  }
  assertStringIncludes(html, `nc 127.0.0.1 ${t.port("echo")}`);
  assertStringIncludes(html, `deno task client app --port ${t.port("app")} search morpheus`);
  assertMatch(html, /<title>Overview · sockscope<\/title>/);
  // The islands bundle and the stylesheet are linked with their versions, when built.
  assertMatch(html, /href="\/styles\.css\?v=[0-9a-f]{16}"/);
});

Deno.test("GET /sockets lists a live connection before any script runs", async () => {
  await using t = startService();
  const { conn, id } = await echoConn(t, "ping");
  try {
    const { status, html } = await page(t, "/sockets");
    assertEquals(status, 200);
    assertStringIncludes(html, `data-id="${id}"`);
    assertStringIncludes(html, `127.0.0.1:${conn.localAddr.port}`);
    assertStringIncludes(html, `data-id="l-echo"`);
    // LISTEN rows show the accept queue and the backlog.
    assertMatch(html, /accept 0 \/ [\d\u202f]+/);

    const echoOnly = await page(t, "/sockets?endpoint=echo&state=established");
    assertStringIncludes(echoOnly.html, `data-id="${id}"`);
    assert(!echoOnly.html.includes(`data-id="l-echo"`), "the state filter drops LISTEN rows");
    assert(!echoOnly.html.includes(`data-id="l-sink"`), "the endpoint filter drops the sink");
    const props = islandProps(echoOnly.html, "sockets_table");
    assertEquals((props.view as Record<string, unknown>).state, "ESTABLISHED");
    assertEquals((props.sockets as { id: string }[]).map((s) => s.id).includes(id), true);
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("GET /sockets sorts by a column from the query string", async () => {
  await using t = startService();
  const small = await echoConn(t, "a");
  const big = await echoConn(t, "b".repeat(5000));
  try {
    const { html } = await page(
      t,
      "/sockets?endpoint=echo&state=ESTABLISHED&sort=bytesIn&dir=desc",
    );
    const ids = [...html.matchAll(/data-id="(c\d+)"/g)].map((m) => m[1]);
    assertEquals(ids.filter((x) => x === big.id || x === small.id), [big.id, small.id]);
  } finally {
    closeQuietly(small.conn);
    closeQuietly(big.conn);
  }
});

Deno.test("GET /sockets shows why the kernel view is unavailable and keeps app numbers", async () => {
  await using t = startService({ kernel: undefined });
  const { conn, id } = await echoConn(t, "hello");
  try {
    const { html } = await page(t, "/sockets");
    assertStringIncludes(html, "Kernel view unavailable:");
    assertStringIncludes(html, "Kernel view not configured");
    // The row is there with its byte counters.
    const row = html.slice(html.indexOf(`data-id="${id}"`));
    assertStringIncludes(row.slice(0, row.indexOf("</tr>")), "5 B");
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("GET /packets shows payload bytes as text, never as markup", async () => {
  await using t = startService();
  const script = "<script>window.__xss=1</script>";
  const img = `<img src=x onerror="window.__xss=2">`;
  const { conn } = await echoConn(t, script);
  try {
    await writeAll(conn, encoder.encode(img));
    await readExactly(conn, img.length);
    const { status, headers, html } = await page(t, "/packets");
    assertEquals(status, 200);
    assert(!html.includes("<script>window"), "no script element from the payload");
    assert(!html.includes("<img src=x"), "no img element from the payload");
    assertStringIncludes(html, "&lt;script>window.__xss=1&lt;/script>");
    assertStringIncludes(html, "&lt;img src=x onerror=&quot;window.__xss=2&quot;>");
    // Defence in depth: no inline script may run on a page at all.
    assertStringIncludes(headers.get("content-security-policy")!, "script-src 'self'");
    const props = islandProps(html, "packet_log");
    const sent = (props.packets as { data: string; dir: string }[])
      .filter((p) => p.dir === "in")
      .map((p) => new TextDecoder().decode(Uint8Array.fromBase64(p.data)))
      .join("");
    assertEquals(sent, script + img);
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("GET /packets filters by endpoint, connection and direction", async () => {
  await using t = startService();
  const a = await echoConn(t, "first");
  const b = await echoConn(t, "second");
  try {
    const { html } = await page(t, `/packets?conn=${b.id}&dir=in`);
    const props = islandProps(html, "packet_log");
    const packets = props.packets as { conn: string; dir: string }[];
    assertEquals(packets.length, 1);
    assertEquals(packets[0].conn, b.id);
    assertEquals(packets[0].dir, "in");
    assertEquals((props.filter as Record<string, string>).conn, b.id);
    const none = await page(t, "/packets?endpoint=sink");
    assertStringIncludes(none.html, "No packets yet.");
  } finally {
    closeQuietly(a.conn);
    closeQuietly(b.conn);
  }
});

Deno.test("GET /sockets/:id shows a closed connection with its counters and stream", async () => {
  await using t = startService();
  const { conn, id } = await echoConn(t, "follow me\n");
  conn.close();
  await waitFor("the connection to close", () => t.service.registry.get(id)?.closedAt);
  const { status, html } = await page(t, `/sockets/${id}`);
  assertEquals(status, 200);
  assertStringIncludes(html, "<title>Socket " + id + " · sockscope</title>");
  assertStringIncludes(html, "Closed ");
  assertStringIncludes(html, "data-follow-stream");
  assertStringIncludes(html, "follow me");
  const props = islandProps(html, "conn_detail");
  assertEquals((props.socket as { bytesIn: number }).bytesIn, 10);
  assertEquals((props.packets as unknown[]).length, 2);
});

Deno.test("GET /sockets/:id answers 404 with a page for an unknown socket", async () => {
  await using t = startService();
  const { status, headers, html } = await page(t, "/sockets/c999999");
  assertEquals(status, 404);
  assertEquals(headers.get("content-type"), "text/html; charset=utf-8");
  assertStringIncludes(html, "No socket “c999999”");
});

Deno.test("GET /buffers renders the sink demonstration with the sink's address", async () => {
  await using t = startService();
  const { status, html } = await page(t, "/buffers");
  assertEquals(status, 200);
  assertStringIncludes(html, `127.0.0.1:${t.port("sink")}`);
  assertStringIncludes(html, `data-metric="sink-recvq"`);
  assertStringIncludes(html, "Start writing to the sink");
});

Deno.test("a page answers HEAD without a body and other methods with 405", async () => {
  await using t = startService();
  const head = await page(t, "/sockets", { method: "HEAD" });
  assertEquals(head.status, 200);
  assertEquals(head.html, "");
  const post = await page(t, "/", { method: "POST" });
  assertEquals(post.status, 405);
  assertEquals(post.headers.get("allow"), "GET, HEAD");
});

Deno.test("static files are served with validators, and cached for good when versioned", async () => {
  await using t = startService();
  const plain = await page(t, "/styles.css");
  assertEquals(plain.status, 200);
  assertEquals(plain.headers.get("content-type"), "text/css; charset=utf-8");
  assertEquals(plain.headers.get("cache-control"), "no-cache");
  const etag = plain.headers.get("etag")!;
  const version = etag.slice(1, -1);
  const versioned = await page(t, `/styles.css?v=${version}`);
  assertEquals(versioned.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const again = await page(t, "/styles.css", { headers: { "if-none-match": etag } });
  assertEquals(again.status, 304);
  for (const path of ["/%2e%2e/main.ts", "/.gitignore", "/build/", "/nope.css"]) {
    assertEquals((await page(t, path)).status, 404, path);
  }
});

Deno.test("StaticFiles.url() changes when the file changes", async () => {
  const files = new Map([["/root/a.css", "one"]]);
  let mtime = 1;
  const reader = {
    stat: (path: string) =>
      Promise.resolve(files.has(path) ? { mtime, size: files.get(path)!.length } : null),
    read: (path: string) => Promise.resolve(encoder.encode(files.get(path)!)),
  };
  const statics = new StaticFiles("/root", { reader });
  const first = await statics.url("/a.css");
  assertMatch(first!, /^\/a\.css\?v=[0-9a-f]{16}$/);
  files.set("/root/a.css", "two!");
  mtime = 2;
  const second = await statics.url("/a.css");
  assert(first !== second);
  assertEquals(await statics.url("/missing.css"), null);
});

/** A chat message as the seed's client frames it: its byte length padded to 64 bytes, then it. */
function chatFrame(text: string): Uint8Array {
  const body = encoder.encode(text);
  const out = new Uint8Array(64 + body.length).fill(0x20, 0, 64);
  out.set(encoder.encode(String(body.length)));
  out.set(body, 64);
  return out;
}

Deno.test("GET /chat renders the room's participants and messages before any script runs", async () => {
  await using t = startService();
  const conn = await connect(t.port("chat"));
  try {
    await writeAll(conn, chatFrame("!NAME bob"));
    await readExactly(conn, "Msg received".length);
    await writeAll(conn, chatFrame("hello from a socket"));
    await readExactly(conn, "Msg received".length);
    const posted = await t.api("/api/chat", {
      method: "POST",
      body: JSON.stringify({ name: "alice", text: "<script>window.__xss=1</script> hi" }),
    });
    assertEquals(posted.status, 201);
    const { status, html } = await page(t, "/chat");
    assertEquals(status, 200);
    assertMatch(html, /<title>Chat · sockscope<\/title>/);
    assertStringIncludes(html, 'data-participant="bob" data-kind="tcp"');
    assertStringIncludes(html, 'data-participant="alice" data-kind="web"');
    assertStringIncludes(html, "hello from a socket");
    assertStringIncludes(html, "&lt;script>window.__xss=1&lt;/script> hi");
    assert(!html.includes("<script>window"), "the text is never markup");
    // The lines to join from a shell carry the real port.
    assertStringIncludes(html, `deno task client chat --port ${t.port("chat")}`);
    assertStringIncludes(html, `| nc 127.0.0.1 ${t.port("chat")}`);
    const props = islandProps(html, "chat_room");
    assertEquals((props.messages as { name: string }[]).map((m) => m.name), ["bob", "alice"]);
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("GET /labs renders every lab with its lesson, address, lines and read boundaries", async () => {
  await using t = startService();
  const conn = await connect(t.port("frame-delimited"));
  try {
    await writeAll(conn, encoder.encode("one#*#two#*#"));
    await readExactly(conn, 12);
    const { status, html } = await page(t, "/labs");
    assertEquals(status, 200);
    assertMatch(html, /<title>Labs · sockscope<\/title>/);
    for (
      const name of [
        "chat",
        "clients",
        "reverse",
        "http-hello",
        "frame-fixed",
        "frame-delimited",
        "frame-prefixed",
        "frame-close",
        "discard",
        "chargen",
      ]
    ) {
      assertStringIncludes(html, `data-lab="${name}"`);
      assertStringIncludes(html, `127.0.0.1:${t.port(name)}`);
    }
    assertStringIncludes(html, "seed 003");
    assertStringIncludes(
      html,
      `<code class="mono cmd">printf '00005hello00005world' | nc 127.0.0.1 ${
        t.port("frame-prefixed")
      }</code>`,
    );
    // The read that held two messages, drawn and noted as such.
    assertStringIncludes(html, "message 1 complete (6 B), message 2 complete (6 B)");
    assertEquals(html.match(/piece piece-whole/g)?.length, 2);
    assertStringIncludes(html, `href="http://127.0.0.1:${t.port("http-hello")}/"`);
    // Both new pages are in the navigation.
    assertStringIncludes(html, `href="/labs" class="active"`);
    assertStringIncludes(html, `href="/chat"`);
  } finally {
    closeQuietly(conn);
  }
});

Deno.test("GET / shows the fault in force on its endpoint's card", async () => {
  await using t = startService();
  t.service.tcp.get("echo")!.setFault({ mode: "delay", ms: 200 });
  const { html } = await page(t, "/");
  const card = html.slice(html.indexOf('data-endpoint="echo"'));
  assertStringIncludes(card.slice(0, card.indexOf("</article>")), "fault: delay 200 ms");
  assertStringIncludes(card, 'data-fault-badge="delay"');
  assertEquals(html.match(/data-fault-badge=/g)?.length, 1);
  // Every endpoint of the table has the control, the UDP one too.
  assertStringIncludes(html, 'data-fault-control="chargen"');
  assertStringIncludes(html, 'data-fault-control="udp"');
});
