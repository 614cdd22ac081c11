/**
 * sockscope: starts every endpoint and serves the dashboard until SIGINT or
 * SIGTERM. The parts: flags `lib/startup/server_flags.ts`, the service
 * `lib/net/service.ts`, the app and its routes `routes/_routes.ts`, the banner
 * `lib/startup/banner.ts`.
 */
import { KernelTable } from "./lib/kernel/kernel_table.ts";
import { clientCommand } from "./lib/net/endpoint_table.ts";
import { Service } from "./lib/net/service.ts";
import { defaultUnixPath } from "./lib/net/unix_socket.ts";
import { OptionError } from "./lib/options/option_error.ts";
import { banner, startLine } from "./lib/startup/banner.ts";
import { parseServerFlags, type ServerFlags, usage } from "./lib/startup/server_flags.ts";
import { listenForStop } from "./lib/startup/stop_signal.ts";
import type { AppState } from "./lib/web/define.ts";
import { type HttpServer, MAX_REFUSING, serveHttp } from "./lib/web/http_server.ts";
import { HttpStats } from "./lib/web/http_stats.ts";
import { isLoopback } from "./lib/web/trust.ts";
import { createApp } from "./routes/_routes.ts";

async function main(args: string[]): Promise<number> {
  let flags: ServerFlags;
  try {
    flags = parseServerFlags(args);
  } catch (err) {
    if (!(err instanceof OptionError)) throw err;
    console.error(`sockscope: ${err.message} (see --help)`);
    return 2;
  }
  if (flags.help) {
    console.log(usage());
    return 0;
  }
  const host = flags.service.host!;
  const token = flags.token ?? (isLoopback(host) ? undefined : crypto.randomUUID());
  let service: Service;
  try {
    service = new Service({
      ...flags.service,
      unixPath: flags.service.unixPath ?? defaultUnixPath(flags.port),
      // The service masks it in every capture, packet log and span (cookies ignore ports).
      token,
      // The descriptor budget keeps the dashboard's share: its cap and the refusals in flight.
      httpMaxConns: flags.http.maxConns + MAX_REFUSING,
      // Bound to an IPv4 address, the service has no IPv6 sockets to show: skip those tables.
      kernel: flags.kernel
        ? new KernelTable({ ipv6: !/^\d{1,3}(\.\d{1,3}){3}$/.test(host) })
        : undefined,
      ...(flags.diagnoses ? {} : { diagnoses: { enabled: false } }),
    });
  } catch (err) {
    console.error(`sockscope: cannot start: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const state: AppState = {
    service,
    startedAt: Date.now(),
    dashboard: "",
    client: clientCommand({ version: Deno.version.deno, npmCommand: Deno.env.get("npm_command") }),
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
  const { hostname, port } = server.addr;
  const dash = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  state.dashboard = dash;
  using stop = listenForStop();
  const json = flags.service.logFormat === "json";
  console.log(
    json ? startLine(service, dash) : banner(service, {
      dashboard: dash,
      token,
      client: state.client!,
      udpPlain: flags.service.udpPlain,
      maxConns: flags.service.maxConns!,
      guarded: server.guarded,
    }),
  );
  const why = await stop.stopped;
  console.log(
    json
      ? JSON.stringify({ ts: new Date().toISOString(), event: "stop", signal: why })
      : `sockscope: ${why}, closing listeners and connections`,
  );
  // The dashboard's listener and the endpoints' listeners close first (service.close() closes
  // listeners before connections); the deadline set on the signal cuts short a slow close.
  ac.abort();
  await Promise.allSettled([service.close(), server.finished]);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
