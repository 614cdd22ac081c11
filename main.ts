/**
 * sockscope: builds the app (routes, middleware) and, only when run as the
 * main module, starts every endpoint and serves the dashboard.
 */
import { Hono } from "hono";
import { parseArgs } from "node:util";
import { KernelTable } from "./lib/kernel/kernel_table.ts";
import { clientCommand, ENDPOINTS, tryItLine } from "./lib/net/endpoint_table.ts";
import { parseFramingBytes } from "./lib/protocol/framing.ts";
import { Service, type ServiceOptions } from "./lib/net/service.ts";
import { type AppState, type Handlers, jsonError, type RouteContext } from "./lib/web/define.ts";
import { type HttpServer, MAX_REFUSING, serveHttp } from "./lib/web/http_server.ts";
import { HttpStats } from "./lib/web/http_stats.ts";
import { ParamError } from "./lib/web/params.ts";
import {
  bearerToken,
  checkHost,
  checkMutation,
  cookieValue,
  isLoopback,
  parseIp,
  TokenCheck,
} from "./lib/web/trust.ts";
import { handler as clients } from "./routes/api/clients.ts";
import { handler as clientStop } from "./routes/api/clients/[id]/stop.ts";
import { handler as clientMulticonn } from "./routes/api/clients/multiconn.ts";
import { handler as clientSink } from "./routes/api/clients/sink.ts";
import { handler as endpoints } from "./routes/api/endpoints.ts";
import { handler as endpointFault } from "./routes/api/endpoints/[name]/fault.ts";
import { handler as capture } from "./routes/api/capture.pcapng.ts";
import { handler as captures } from "./routes/api/captures.ts";
import { handler as captureFile } from "./routes/api/captures/[name].ts";
import { handler as chat } from "./routes/api/chat.ts";
import { handler as events } from "./routes/api/events.ts";
import { handler as packets } from "./routes/api/packets.ts";
import { handler as sinkDrain } from "./routes/api/sink/drain.ts";
import { handler as sockets } from "./routes/api/sockets.ts";
import { handler as socket } from "./routes/api/sockets/[id].ts";
import { handler as socketClose } from "./routes/api/sockets/[id]/close.ts";
import { handler as socketStream } from "./routes/api/sockets/[id]/stream.ts";
import { handler as metrics } from "./routes/metrics.ts";
import { pageHandlers, type PageModule } from "./lib/web/page.tsx";
import { StaticFiles } from "./lib/web/static_files.ts";
import App from "./routes/_app.tsx";
import * as buffersPage from "./routes/buffers.tsx";
import * as chatPage from "./routes/chat.tsx";
import * as indexPage from "./routes/index.tsx";
import * as labsPage from "./routes/labs.tsx";
import * as packetsPage from "./routes/packets.tsx";
import * as socketsPage from "./routes/sockets.tsx";
import * as socketPage from "./routes/sockets/[id].tsx";

/** Every route, in one place: the whole API fits on one screen. */
const ROUTES: ReadonlyArray<readonly [string, Handlers]> = [
  ["/api/endpoints", endpoints],
  ["/api/endpoints/:name/fault", endpointFault],
  ["/api/sockets", sockets],
  ["/api/sockets/:id", socket],
  ["/api/sockets/:id/close", socketClose],
  ["/api/sockets/:id/stream", socketStream],
  ["/api/packets", packets],
  ["/api/events", events],
  ["/api/sink/drain", sinkDrain],
  ["/api/clients", clients],
  ["/api/clients/multiconn", clientMulticonn],
  ["/api/clients/sink", clientSink],
  ["/api/clients/:id/stop", clientStop],
  ["/api/chat", chat],
  ["/api/capture.pcapng", capture],
  ["/api/captures", captures],
  ["/api/captures/:name", captureFile],
  ["/metrics", metrics],
];

/** The dashboard's pages (routes/*.tsx), rendered on the server inside routes/_app.tsx. */
// deno-lint-ignore no-explicit-any
const PAGES: ReadonlyArray<readonly [string, PageModule<any>]> = [
  ["/", indexPage],
  ["/sockets", socketsPage],
  ["/sockets/:id", socketPage],
  ["/packets", packetsPage],
  ["/buffers", buffersPage],
  ["/labs", labsPage],
  ["/chat", chatPage],
];

/** Options of {@linkcode createApp}. */
export interface AppOptions {
  /** When set, every request must carry it (`Authorization: Bearer …` or `?token=`). */
  token?: string;
  /**
   * The address the dashboard listens on (`--host`): requests whose `Host` names
   * anything else, `localhost` or `allowHosts` aside, get 421 (DNS rebinding).
   * Unset, `Host` is not checked: right in process (`app.fetch`), where no socket
   * listens for a rebound name; whoever serves the app over a socket sets it.
   */
  bind?: string;
  /** More names `Host` may give, from `--allow-host`. @default [] */
  allowHosts?: readonly string[];
}

function dispatch(handlers: Handlers, state: AppState) {
  const allow = [...Object.keys(handlers), ...("GET" in handlers ? ["HEAD"] : [])].join(", ");
  return async function route(req: Request, params: Record<string, string>): Promise<Response> {
    const method = req.method === "HEAD" ? "GET" : req.method;
    const fn = handlers[method as keyof Handlers];
    if (fn === undefined) {
      return jsonError(405, `Method "${req.method}" not allowed: use ${allow}`, { allow });
    }
    const ctx: RouteContext = { req, url: new URL(req.url), params, state };
    try {
      const res = await fn(ctx);
      if (req.method !== "HEAD") return res;
      // Nobody reads a HEAD body: cancel it so a stream (SSE) stops producing.
      await res.body?.cancel();
      return new Response(null, res);
    } catch (err) {
      if (err instanceof ParamError) return jsonError(400, err.message);
      console.error(err);
      return jsonError(500, `Internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
}

/** Builds the HTTP app for a running service; tests call `app.fetch` in process. */
export function createApp(state: AppState, options: AppOptions = {}): Hono {
  const app = new Hono();
  const hosts = options.bind === undefined
    ? null
    : { bind: options.bind, allowHosts: options.allowHosts ?? [] };
  // Before routing and before the token: a rebound name or another site's page
  // is refused even when the browser sends the token's cookie along.
  app.use(async function trust(c, next) {
    const req = c.req.raw;
    const host = req.headers.get("host") ?? new URL(req.url).host;
    const refused = (hosts === null ? null : checkHost(host, hosts)) ??
      checkMutation(req.method, req.headers, host);
    if (refused !== null) return jsonError(refused.status, refused.error);
    await next();
  });
  if (options.token !== undefined) {
    const token = options.token;
    const check = new TokenCheck(token);
    app.use(async function requireToken(c, next) {
      const url = new URL(c.req.url);
      const given = bearerToken(c.req.header("authorization")) ??
        url.searchParams.get("token") ??
        cookieValue(c.req.header("cookie"), "sockscope_token");
      if (!await check.matches(given)) {
        return jsonError(401, "Token required: pass ?token= or Authorization: Bearer");
      }
      await next();
      if (url.searchParams.has("token")) {
        c.res.headers.append(
          "set-cookie",
          `sockscope_token=${token}; HttpOnly; SameSite=Strict; Path=/`,
        );
      }
    });
  }
  for (const [path, handlers] of ROUTES) {
    const route = dispatch(handlers, state);
    app.all(path, (c) => route(c.req.raw, c.req.param() as Record<string, string>));
  }
  const files = new StaticFiles(new URL("./static/", import.meta.url));
  const assets = async () => ({
    css: await files.url("/styles.css"),
    js: await files.url("/build/_client.js"),
    jsCss: await files.url("/build/_client.css"),
  });
  for (const [path, mod] of PAGES) {
    const route = dispatch(pageHandlers(mod, App, assets), state);
    app.all(path, (c) => route(c.req.raw, c.req.param() as Record<string, string>));
  }
  app.use(async function serveStatic(c, next) {
    const res = await files.serve(c.req.raw);
    if (res !== null) return res;
    await next();
  });
  app.notFound((c) => jsonError(404, `No route "${new URL(c.req.url).pathname}"`));
  return app;
}

const USAGE = `Usage: deno task start [options]

  --host HOST                   address every endpoint and the dashboard bind to (default 127.0.0.1)
  --port PORT                   dashboard port (default 8000; 0 = any free port)
  --http-max-conns N            dashboard connections at once; past it the one idle longest is
                                closed, or, all busy, the new one gets a 503 (default 256)
  --header-timeout SECONDS      close a dashboard connection that sends no complete request
                                head this long, or idles this long between requests (default 10)
  --sse-max-behind SECONDS      close an event stream whose client has not read for this long
                                (default 30)
${
  ENDPOINTS.map((e) =>
    `  --${e.name}-port PORT`.padEnd(32) + `${e.name} endpoint port (default ${e.defaultPort})`
  ).join("\n")
}
  --max-conns N                 live connections per TCP endpoint (default 10000); all endpoints
                                share the descriptor budget (RLIMIT_NOFILE less a reserve) too
  --idle-timeout SECONDS        close TCP connections idle this long, 0 = never (default 300)
  --read-timeout SECONDS        close a framed connection whose started message takes longer,
                                0 = never (default 30)
  --app-max-content BYTES       largest app-protocol content-length (default 1048576)
  --backlog N                   listen backlog, capped by net.core.somaxconn (default 4096)
  --listeners N                 listening sockets per TCP endpoint, sharing the port with
                                SO_REUSEPORT: N × backlog connects queue at once (default 4)
  --log-entries N               packet-log entries kept (default 10000)
  --log-preview BYTES           bytes kept per packet-log entry (default 64)
  --keep-closed N               closed sockets kept readable at /api/sockets/:id (default 1000)
  --max-flows N                 UDP peers tracked as flows (default 10000)
  --flow-idle SECONDS           end a UDP flow quiet this long (default 60)
  --chat-max-message BYTES      largest chat message a header may declare (default 65536)
  --chat-history N              chat messages kept for the dashboard (default 200)
  --chat-max-backlog BYTES      unsent bytes per chat participant before relays to it are
                                dropped (default 1048576)
  --clients-max-names N         names the client list keeps, oldest forgotten first (default 1000)
  --frame-max-message BYTES     largest message of the delimited, prefixed and close framing
                                labs (default 65536)
  --frame-fixed-size BYTES      record size of frame-fixed (default 30, as seed 002)
  --frame-fixed-pad CHAR        padding byte of frame-fixed (default #; \\x20 for a space)
  --frame-delimiter STR         delimiter of frame-delimited, 1 to 64 bytes (default #*#;
                                escapes: \\n, \\r, \\t, \\0, \\\\, \\xHH)
  --udp-fast                    UDP in batches through libc (recvmmsg/sendmmsg by FFI; needs
                                --allow-ffi, falls back to Deno's socket without it)
  --capture-bytes BYTES         full-payload capture kept for pcapng, 0 = off (default 67108864)
  --capture-dir DIR             also write the capture to rotating pcapng files in DIR
  --capture-files N             capture files kept in DIR, oldest deleted (default 10)
  --capture-file-bytes BYTES    start a new capture file at this size (default 16777216)
  --capture-file-seconds S      start a new capture file after S seconds, 0 = never (default 0)
  --log-format text|json        json: one JSON line per connection open, close, error (default text)
  --no-kernel                   do not read the kernel's socket table
  --token TOKEN                 require this token on the dashboard (required off loopback)
  --allow-host NAME             a name the dashboard answers to besides its address and
                                localhost (DNS rebinding guard); repeat or comma-separate
  -h, --help                    show this help`;

/** Parsed command line, or a usage error message. */
export function parseFlags(
  args: string[],
): {
  service: ServiceOptions;
  port: number;
  token?: string;
  allowHosts: string[];
  kernel: boolean;
  http: { maxConns: number; headerTimeoutMs: number; sseMaxBehindMs: number };
} | string {
  const portFlags = Object.fromEntries(
    ENDPOINTS.map((e) => [`${e.name}-port`, { type: "string" as const }]),
  );
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...portFlags,
        host: { type: "string" },
        port: { type: "string" },
        "http-max-conns": { type: "string" },
        "header-timeout": { type: "string" },
        "sse-max-behind": { type: "string" },
        "max-conns": { type: "string" },
        "idle-timeout": { type: "string" },
        "read-timeout": { type: "string" },
        "app-max-content": { type: "string" },
        backlog: { type: "string" },
        listeners: { type: "string" },
        "log-entries": { type: "string" },
        "log-preview": { type: "string" },
        "keep-closed": { type: "string" },
        "max-flows": { type: "string" },
        "flow-idle": { type: "string" },
        "chat-max-message": { type: "string" },
        "chat-history": { type: "string" },
        "chat-max-backlog": { type: "string" },
        "clients-max-names": { type: "string" },
        "frame-max-message": { type: "string" },
        "frame-fixed-size": { type: "string" },
        "frame-fixed-pad": { type: "string" },
        "frame-delimiter": { type: "string" },
        "capture-bytes": { type: "string" },
        "capture-dir": { type: "string" },
        "capture-files": { type: "string" },
        "capture-file-bytes": { type: "string" },
        "capture-file-seconds": { type: "string" },
        "log-format": { type: "string" },
        "no-kernel": { type: "boolean" },
        "udp-fast": { type: "boolean" },
        token: { type: "string" },
        "allow-host": { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (values.help) return USAGE;
  const int = (name: string, min: number, max: number, fallback: number): number => {
    const raw = values[name];
    if (raw === undefined) return fallback;
    if (typeof raw !== "string" || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new RangeError(`Invalid --${name}: "${raw}" is not an integer in ${min}..${max}`);
    }
    return Number(raw);
  };
  try {
    const ports: Record<string, number> = {};
    for (const e of ENDPOINTS) ports[e.name] = int(`${e.name}-port`, 0, 65535, e.defaultPort);
    const host = (values.host as string | undefined) ?? "127.0.0.1";
    const logFormat = values["log-format"] ?? "text";
    if (logFormat !== "text" && logFormat !== "json") {
      throw new RangeError(`Invalid --log-format: "${logFormat}" is not text or json`);
    }
    const captureBytes = int("capture-bytes", 0, 2 ** 31, 64 * 1024 * 1024);
    if (captureBytes !== 0 && captureBytes < 4096) {
      throw new RangeError(
        `Invalid --capture-bytes: "${captureBytes}" is neither 0 nor 4096 or more`,
      );
    }
    const captureDir = values["capture-dir"] as string | undefined;
    if (captureDir !== undefined && (captureDir === "" || captureBytes === 0)) {
      throw new RangeError(
        `Invalid --capture-dir: "${captureDir}" needs a directory and --capture-bytes above 0`,
      );
    }
    const allowHosts = ((values["allow-host"] ?? []) as string[])
      .flatMap((v) => v.split(",")).map((v) => v.trim().toLowerCase());
    for (const name of allowHosts) {
      if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name) && parseIp(name) === null) {
        throw new RangeError(`Invalid --allow-host: "${name}" is not a host name or address`);
      }
    }
    return {
      port: int("port", 0, 65535, 8000),
      token: values.token as string | undefined,
      allowHosts,
      kernel: !values["no-kernel"],
      http: {
        maxConns: int("http-max-conns", 1, 1_000_000, 256),
        headerTimeoutMs: int("header-timeout", 1, 3600, 10) * 1000,
        sseMaxBehindMs: int("sse-max-behind", 1, 86_400, 30) * 1000,
      },
      service: {
        host,
        ports,
        maxConns: int("max-conns", 1, 1_000_000, 10_000),
        idleTimeoutMs: int("idle-timeout", 0, 86_400, 300) * 1000,
        readTimeoutMs: int("read-timeout", 0, 86_400, 30) * 1000,
        appMaxContent: int("app-max-content", 0, 1 << 30, 1_048_576),
        backlog: int("backlog", 1, 65535, 4096),
        listeners: int("listeners", 1, 64, 4),
        logEntries: int("log-entries", 1, 10_000_000, 10_000),
        logPreview: int("log-preview", 0, 65535, 64),
        keepClosed: int("keep-closed", 0, 1_000_000, 1000),
        maxFlows: int("max-flows", 1, 1_000_000, 10_000),
        flowIdleMs: int("flow-idle", 1, 86_400, 60) * 1000,
        chat: {
          maxMessage: int("chat-max-message", 1, 1 << 30, 65_536),
          history: int("chat-history", 0, 100_000, 200),
          maxBacklog: int("chat-max-backlog", 1024, 2 ** 31, 1_048_576),
        },
        clients: { maxNames: int("clients-max-names", 1, 1_000_000, 1000) },
        frameMaxMessage: int("frame-max-message", 1, 1 << 30, 65_536),
        framing: {
          recordSize: int("frame-fixed-size", 1, 1 << 20, 30),
          pad: frameBytes(values, "frame-fixed-pad", 1, 1)?.[0],
          delimiter: frameBytes(values, "frame-delimiter", 1, 64),
        },
        udpFast: values["udp-fast"] === true,
        captureBytes,
        captureDir,
        captureFiles: int("capture-files", 1, 100_000, 10),
        captureFileBytes: int("capture-file-bytes", 65536, 2 ** 40, 16 * 1024 * 1024),
        captureFileSeconds: int("capture-file-seconds", 0, 30 * 86_400, 0),
        logFormat,
      },
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** A framing flag's bytes (escapes allowed), `min` to `max` of them; undefined when not given. */
function frameBytes(
  values: Record<string, string | string[] | boolean | undefined>,
  name: string,
  min: number,
  max: number,
): Uint8Array | undefined {
  const raw = values[name];
  if (typeof raw !== "string") return undefined;
  let bytes: Uint8Array;
  try {
    bytes = parseFramingBytes(raw);
  } catch (err) {
    throw new RangeError(`Invalid --${name}: ${(err as Error).message}`);
  }
  if (bytes.length < min || bytes.length > max) {
    const want = min === max ? `${min} byte` : `${min} to ${max} bytes`;
    throw new RangeError(`Invalid --${name}: "${raw}" is ${bytes.length} bytes, not ${want}`);
  }
  return bytes;
}

/**
 * Longest a stop takes from the signal to `Deno.exit`: under the promised 2 s with room for
 * the runtime's own exit and a late timer on a busy machine.
 */
const STOP_DEADLINE_MS = 1500;

/** The banner's descriptor-budget line: what floods can take, and what is kept from them. */
function fdBudgetLine(service: Service, maxConns: number): string {
  const plan = service.fds.plan!;
  const parts = plan.reserved === null
    ? "given"
    : Object.entries(plan.reserved).map(([k, v]) => `${v} ${k}`).join(", ");
  const assumed = plan.limitSource.startsWith("assumed");
  const short = plan.budget >= maxConns
    ? ""
    : `; less than --max-conns ${maxConns}: ${
      assumed ? "allow reading /proc/self/limits" : "raise ulimit -n"
    } for more`;
  return `  descriptors: ${plan.budget} connections for all TCP endpoints and client runs ` +
    `together (limit ${plan.limit} ${assumed ? plan.limitSource : `from ${plan.limitSource}`}, ` +
    `reserve ${plan.reserve}: ${parts})${short}`;
}

async function main(args: string[]): Promise<number> {
  const flags = parseFlags(args);
  if (typeof flags === "string") {
    const help = flags === USAGE;
    (help ? console.log : console.error)(help ? USAGE : `sockscope: ${flags} (see --help)`);
    return help ? 0 : 2;
  }
  const host = flags.service.host!;
  let token = flags.token;
  if (!isLoopback(host) && token === undefined) {
    token = crypto.randomUUID();
  }
  let service: Service;
  try {
    service = new Service({
      ...flags.service,
      // The service masks it in every capture, packet log and span (cookies ignore ports).
      token,
      // The descriptor budget keeps the dashboard's share: its cap and the refusals in flight.
      httpMaxConns: flags.http.maxConns + MAX_REFUSING,
      // Bound to an IPv4 address, the service has no IPv6 sockets to show: skip those tables.
      kernel: flags.kernel
        ? new KernelTable({ ipv6: !/^\d{1,3}(\.\d{1,3}){3}$/.test(host) })
        : undefined,
    });
  } catch (err) {
    console.error(`sockscope: cannot start: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const state: AppState = {
    service,
    startedAt: Date.now(),
    dashboard: "",
    client: clientCommand({
      version: Deno.version.deno,
      npmCommand: Deno.env.get("npm_command"),
    }),
    http: new HttpStats(),
    sseMaxBehindMs: flags.http.sseMaxBehindMs,
  };
  const app = createApp(state, { token, bind: host, allowHosts: flags.allowHosts });
  const ac = new AbortController();
  let server: HttpServer;
  try {
    server = serveHttp(app.fetch, {
      hostname: host,
      port: flags.port,
      signal: ac.signal,
      maxConns: flags.http.maxConns,
      headerTimeoutMs: flags.http.headerTimeoutMs,
      stats: state.http,
    });
  } catch (err) {
    await service.close();
    console.error(
      `sockscope: cannot start the dashboard: ${err instanceof Error ? err.message : err}`,
    );
    return 1;
  }
  const dash = `${
    server.addr.hostname.includes(":") ? `[${server.addr.hostname}]` : server.addr.hostname
  }:${server.addr.port}`;
  state.dashboard = dash;
  const lines = [`sockscope dashboard  http://${dash}/${token ? `?token=${token}` : ""}`];
  for (const spec of ENDPOINTS) {
    const addr = service.registry.endpoints.get(spec.name)!.address!;
    lines.push(
      `  ${spec.name.padEnd(15)} ${spec.transport} ${
        `${addr.hostname}:${addr.port}`.padEnd(22)
      } ${spec.description}`,
    );
    lines.push(
      `  ${"".padEnd(15)}     try: ${
        tryItLine(spec.tryIt[0], addr.hostname, addr.port, dash, state.client)
      }`,
    );
  }
  lines.push(`  clients: ${state.client} --help   (in this folder; the try-it lines use it too)`);
  if (flags.service.udpFast) {
    const udp = service.udp.get("udp");
    lines.push(
      udp?.fast
        ? "  udp fast path: on (recvmmsg/sendmmsg through libc)"
        : `  udp fast path: off, Deno's socket instead: ${udp?.fastUnavailable ?? "not started"}`,
    );
  }
  lines.push(fdBudgetLine(service, flags.service.maxConns!));
  if (!server.guarded) {
    lines.push(
      "  dashboard guards: off (this Deno has no per-connection HTTP server): no header " +
        "timeout, no connection cap, accept errors are fatal",
    );
  }
  lines.push(
    service.kernelStatus.reason === "Kernel view not configured"
      ? "  kernel view: off (--no-kernel)"
      : "  kernel view: sampled while someone looks, at most every 500 ms",
  );
  // Listening for signals before the banner says the service is up: a SIGTERM sent on seeing
  // it used to find no listener and kill the process without a clean close (exit 143).
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (name: string) => () => {
    // A second signal: the user insists, exit now.
    if (deadline !== undefined) Deno.exit(0);
    // Whatever hangs, the process is gone within 2 s of the signal: the hard deadline runs
    // from here, before any goodbye line or close, and leaves room for the runtime's exit.
    deadline = setTimeout(() => Deno.exit(0), STOP_DEADLINE_MS);
    Deno.unrefTimer(deadline);
    stop(name);
  };
  const signals: [Deno.Signal, () => void][] = [["SIGINT", onSignal("SIGINT")], [
    "SIGTERM",
    onSignal("SIGTERM"),
  ]];
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  if (flags.service.logFormat === "json") {
    // Log shippers read stdout: the banner is one more JSON line there.
    const endpoints = Object.fromEntries(
      service.addresses().map((a) => [a.name, `${a.address.hostname}:${a.address.port}`]),
    );
    console.log(JSON.stringify({
      ts: new Date().toISOString(),
      event: "start",
      dashboard: `http://${dash}/`,
      endpoints,
      fdBudget: service.fds.toJSON(),
    }));
  } else {
    console.log(lines.join("\n"));
  }
  const why = await stopped;
  if (flags.service.logFormat === "json") {
    console.log(JSON.stringify({ ts: new Date().toISOString(), event: "stop", signal: why }));
  } else {
    console.log(`sockscope: ${why}, closing listeners and connections`);
  }
  // The dashboard's listener and the endpoints' listeners close first (service.close() closes
  // listeners before connections); the deadline set on the signal cuts short a slow close.
  ac.abort();
  await Promise.allSettled([service.close(), server.finished]);
  for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
