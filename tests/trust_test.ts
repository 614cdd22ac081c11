/**
 * The trust rules over real HTTP against main.ts as users run it: a Host
 * naming something else gets 421 (DNS rebinding), another site's mutating
 * request 403 and a body that is not JSON 415 (CSRF), the token is matched
 * exactly and does not let another site act, and a bind name that merely
 * looks like 127.x needs the token. Requests are written by hand on a TCP
 * socket so every header (Host, Origin, Sec-Fetch-Site, Cookie) is exactly
 * what a browser or an attacker would send.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { PORTED } from "../lib/net/endpoint_table.ts";
import { connect, decoder, encoder, readToEnd, writeAll } from "./_helpers.ts";
import { type MainProcess, startMain } from "./_main_process.ts";

/** A loaded machine (the whole suite on two cores) gets this long for each wait. */
const TIMEOUT_MS = 10_000;

/** One HTTP response as read off the socket. */
interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends one HTTP/1.1 request (Host `127.0.0.1:port` unless `headers` give one) and reads the reply. */
async function request(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  const lines = [`${method} ${path} HTTP/1.1`];
  const all: Record<string, string> = { host: `127.0.0.1:${port}`, ...headers };
  if (body !== undefined) all["content-length"] = String(encoder.encode(body).length);
  all.connection = "close";
  for (const [name, value] of Object.entries(all)) lines.push(`${name}: ${value}`);
  const conn = await connect(port);
  try {
    await writeAll(conn, encoder.encode(`${lines.join("\r\n")}\r\n\r\n${body ?? ""}`));
    const text = decoder.decode((await readToEnd(conn, { timeoutMs: TIMEOUT_MS })).bytes);
    const split = text.indexOf("\r\n\r\n");
    ok(split > 0, `no end of headers in ${JSON.stringify(text.slice(0, 200))}`);
    const [statusLine, ...fields] = text.slice(0, split).split("\r\n");
    const out = new Headers();
    for (const field of fields) {
      const colon = field.indexOf(":");
      out.append(field.slice(0, colon), field.slice(colon + 1).trim());
    }
    return { status: Number(statusLine.split(" ")[1]), headers: out, body: text.slice(split + 4) };
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by readToEnd's deadline.
    }
  }
}

/** The `{"error": …}` of a refusal, checking it is JSON. */
function errorOf(reply: Reply): string {
  match(reply.headers.get("content-type") ?? "", /^application\/json/);
  const parsed = JSON.parse(reply.body) as { error: string };
  strictEqual(typeof parsed.error, "string");
  return parsed.error;
}

/** Reads main.ts's stdout until the dashboard's URL; returns its port. */
async function dashboardPort(main: MainProcess): Promise<number> {
  const seen: string[] = [];
  for (let i = 0; i < 200; i++) {
    const line = await main.line(20_000);
    if (line === null) break;
    seen.push(line);
    const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
    if (m !== null) return Number(m[1]);
  }
  throw new Error(`No dashboard URL in: ${seen.join("\n")}${await main.stderr()}`);
}

async function faultOf(port: number, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(port, "GET", "/api/endpoints/echo/fault", headers);
  strictEqual(res.status, 200, res.body);
  return (JSON.parse(res.body) as { fault: { mode: string } }).fault.mode;
}

Deno.test("a Host other than the bound address, localhost or --allow-host gets 421 JSON on every route", async () => {
  await using main = startMain(["--allow-host", "box.lan,other.lan", "--allow-host", "third.lan"]);
  const port = await dashboardPort(main);
  for (const host of ["evil.example", `evil.example:${port}`, "127.evil.example", "box.lan.evil"]) {
    for (
      const [method, path] of [
        ["GET", "/api/sockets"],
        ["GET", "/api/events"],
        ["GET", "/"],
        ["GET", "/metrics"],
        ["GET", "/styles.css"],
        ["GET", "/no/such/page"],
        ["POST", "/api/endpoints/echo/fault"],
      ]
    ) {
      const body = method === "POST" ? '{"mode":"stall"}' : undefined;
      const headers = { host, "content-type": "application/json" };
      const res = await request(port, method, path, headers, body);
      strictEqual(res.status, 421, `${host} ${method} ${path}: ${res.status} ${res.body}`);
      match(errorOf(res), /^Misdirected request: host ".*" is not 127\.0\.0\.1, localhost/);
    }
  }
  strictEqual(await faultOf(port), "none");
  for (
    const host of [`127.0.0.1:${port}`, "127.0.0.1", `localhost:${port}`, "box.lan", "third.lan:80"]
  ) {
    const res = await request(port, "GET", "/api/endpoints", { host });
    strictEqual(res.status, 200, `${host}: ${res.body}`);
  }
});

Deno.test("main.ts refuses a bad --allow-host with a one-line reason", async () => {
  await using main = startMain(["--allow-host", "a b"]);
  strictEqual(await main.exit(TIMEOUT_MS), 2);
  match(await main.stderr(), /Invalid --allow-host: "a b" is not a host name or address/);
});

/** The mutating routes, each with a body it would accept from curl. */
const MUTATIONS: [string, string][] = [
  ["/api/endpoints/echo/fault", '{"mode":"stall"}'],
  ["/api/sockets/c1/close", "{}"],
  ["/api/sink/drain", '{"drain":true}'],
  ["/api/clients/multiconn", '{"endpoint":"multiconn","conns":1,"messages":1,"size":1}'],
  ["/api/clients/sink", '{"action":"start"}'],
  ["/api/chat", '{"name":"csrf","text":"from another site"}'],
];

Deno.test("a mutating request from another site gets 403 and a body that is not JSON 415; curl and the dashboard's own origin still act", async () => {
  await using main = startMain([]);
  const port = await dashboardPort(main);
  const json = { "content-type": "application/json" };
  const cases: [Record<string, string>, number, RegExp][] = [
    // What a page on another port sends for fetch(…, {mode: "no-cors"}) with a text/plain body.
    [
      {
        origin: "http://127.0.0.1:18390",
        "sec-fetch-site": "same-site",
        "content-type": "text/plain;charset=UTF-8",
      },
      403,
      /^Cross-site request refused: Sec-Fetch-Site is "same-site"$/,
    ],
    [
      { origin: "http://127.0.0.1:18390", "content-type": "text/plain" },
      403,
      /^Cross-site request refused: origin "http:\/\/127\.0\.0\.1:18390" is not this dashboard's$/,
    ],
    [{ ...json, origin: "http://evil.example" }, 403, /origin "http:\/\/evil\.example"/],
    [{ ...json, origin: "null" }, 403, /origin "null"/],
    [{ ...json, "sec-fetch-site": "cross-site" }, 403, /Sec-Fetch-Site is "cross-site"/],
    // A form (or curl -d) without Origin: still not JSON.
    [
      { "content-type": "application/x-www-form-urlencoded" },
      415,
      /^Unsupported content type "application\/x-www-form-urlencoded": send application\/json$/,
    ],
    [{ "content-type": "text/plain" }, 415, /Unsupported content type "text\/plain"/],
    [{}, 415, /^Unsupported content type: none given, send application\/json$/],
  ];
  for (const [path, body] of MUTATIONS) {
    for (const [headers, status, message] of cases) {
      const res = await request(port, "POST", path, headers, body);
      strictEqual(res.status, status, `${path} ${JSON.stringify(headers)}: ${res.body}`);
      match(errorOf(res), message);
    }
  }
  strictEqual(await faultOf(port), "none");
  const chat = await request(port, "GET", "/api/chat");
  deepStrictEqual((JSON.parse(chat.body) as { messages: unknown[] }).messages, []);
  const clients = await request(port, "GET", "/api/clients");
  deepStrictEqual((JSON.parse(clients.body) as { runs: unknown[] }).runs, []);

  // curl: no Origin, a JSON body.
  const fault = "/api/endpoints/echo/fault";
  strictEqual((await request(port, "POST", fault, json, '{"mode":"stall"}')).status, 200);
  strictEqual(await faultOf(port), "stall");
  // The dashboard's own page: its origin, same-origin, JSON.
  const own = { ...json, origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "same-origin" };
  strictEqual((await request(port, "POST", fault, own, '{"mode":"none"}')).status, 200);
  strictEqual(await faultOf(port), "none");
  // A POST without a body needs no type: it reaches the route.
  const close = await request(port, "POST", "/api/sockets/c999999/close");
  strictEqual(close.status, 404, close.body);
  // Reads from another site are not actions: a link to the dashboard still opens it.
  const page = await request(port, "GET", "/", { "sec-fetch-site": "cross-site" });
  strictEqual(page.status, 200);
});

Deno.test("the token is matched exactly, and with it another site still cannot act", async () => {
  const token = "T0k3n-for-trust";
  await using main = startMain(["--token", token]);
  const port = await dashboardPort(main);
  const refused: Record<string, string>[] = [
    {},
    { cookie: `xsockscope_token=${token}` },
    { cookie: `sockscope_token_old=${token}` },
    { cookie: `sockscope_token=${token}x` },
    { authorization: `Bearer ${token}0` },
    { authorization: `Basic ${token}` },
  ];
  for (const headers of refused) {
    const res = await request(port, "GET", "/api/endpoints", headers);
    strictEqual(res.status, 401, JSON.stringify(headers));
    match(errorOf(res), /^Token required/);
  }
  const accepted: Record<string, string>[] = [
    { cookie: `sockscope_token=${token}` },
    { cookie: `a=1; sockscope_token=${token}; b=2` },
    { authorization: `Bearer ${token}` },
  ];
  for (const headers of accepted) {
    strictEqual((await request(port, "GET", "/api/endpoints", headers)).status, 200);
  }
  const viaQuery = await request(port, "GET", `/api/endpoints?token=${token}`);
  strictEqual(viaQuery.status, 200);
  match(viaQuery.headers.get("set-cookie") ?? "", /^sockscope_token=.*SameSite=Strict/);

  // Cookies ignore ports: a page on another port of this host sends the cookie along.
  const cookie = { cookie: `sockscope_token=${token}` };
  const fromOtherPort = {
    ...cookie,
    origin: "http://127.0.0.1:18391",
    "sec-fetch-site": "same-site",
    "content-type": "text/plain",
  };
  for (const [path, body] of MUTATIONS) {
    const res = await request(port, "POST", path, fromOtherPort, body);
    strictEqual(res.status, 403, `${path}: ${res.body}`);
  }
  strictEqual(await faultOf(port, cookie), "none");
  const own = { ...cookie, "content-type": "application/json", origin: `http://127.0.0.1:${port}` };
  const set = await request(port, "POST", "/api/endpoints/echo/fault", own, '{"mode":"stall"}');
  strictEqual(set.status, 200, set.body);
  strictEqual(await faultOf(port, cookie), "stall");
});

/**
 * Whether this process may give a child its own /etc/hosts (root, and a
 * kernel that lets it unshare the mount namespace): the only way, on
 * loopback, to make a name like 127.evil.example resolve.
 */
async function canRemapHosts(): Promise<boolean> {
  try {
    const out = await new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", "mount --bind /etc/hosts /etc/hosts"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "main.ts bound to a name that starts with 127. but is not loopback requires the token",
  ignore: !await canRemapHosts(),
  async fn() {
    const hosts = await Deno.makeTempFile({ prefix: "sockscope-hosts-" });
    // DNS answers 127.0.0.1 for the name: the bind succeeds, but what the name
    // points at is the resolver's choice, not something its spelling promises.
    await Deno.writeTextFile(hosts, "127.0.0.1 localhost\n127.0.0.1 127.evil.example\n");
    const ports = PORTED.flatMap((e) => [`--${e.name}-port`, "0"]);
    const main = new URL("../main.ts", import.meta.url).pathname;
    const child = new Deno.Command("unshare", {
      args: [
        "-m",
        "sh",
        "-c",
        'mount --bind "$1" /etc/hosts && shift && exec "$@"',
        "sh",
        hosts,
        Deno.execPath(),
        "run",
        "-A",
        main,
        "--host",
        "127.evil.example",
        "--port",
        "0",
        "--no-kernel",
        ...ports,
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    try {
      let text = "";
      let port: RegExpExecArray | null = null;
      for (let i = 0; i < 1000 && port === null; i++) {
        const { done, value } = await reader.read();
        if (done) throw new Error(`main.ts ended before its banner: ${text}${await stderr}`);
        text += value;
        port = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(text);
      }
      ok(port, `no dashboard URL in ${text}`);
      const res = await request(Number(port[1]), "GET", "/api/endpoints");
      strictEqual(res.status, 401, res.body);
      match(errorOf(res), /^Token required/);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      clearTimeout(killer);
      await reader.cancel().catch(() => {});
      await stderr;
      await Deno.remove(hosts);
    }
  },
});
