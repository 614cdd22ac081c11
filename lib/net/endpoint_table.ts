/**
 * Every endpoint the service hosts, in one list: each module declares its
 * name, transport, default port, lesson and behaviour (see ./endpoint_spec.ts);
 * adding an endpoint is adding its module here.
 */
import { app } from "./endpoints/app.ts";
import { chargen } from "./endpoints/chargen.ts";
import { chat } from "./endpoints/chat.ts";
import { clients } from "./endpoints/client_list.ts";
import { discard } from "./endpoints/discard.ts";
import { echo } from "./endpoints/echo.ts";
import { frameClose, frameDelimited, frameFixed, framePrefixed } from "./endpoints/framing.ts";
import { httpHello } from "./endpoints/http_hello.ts";
import { multiconn } from "./endpoints/multiconn.ts";
import { raw } from "./endpoints/raw.ts";
import { reverse } from "./endpoints/reverse.ts";
import { sink } from "./endpoints/sink.ts";
import { tlsEcho } from "./endpoints/tls_echo.ts";
import { unixEcho } from "./endpoints/unix_echo.ts";
import { udp } from "./endpoints/udp.ts";
import type { EndpointSpec, LinkEndpointSpec } from "./endpoint_spec.ts";
import type { EndpointRecord } from "./registry.ts";

/**
 * The endpoints in port order; later issues append theirs from 65447 up. The link-layer ones
 * (no port) come last.
 */
export const ENDPOINTS = [
  echo,
  multiconn,
  app,
  udp,
  sink,
  chat,
  clients,
  reverse,
  httpHello,
  frameFixed,
  frameDelimited,
  framePrefixed,
  frameClose,
  discard,
  chargen,
  tlsEcho,
  unixEcho,
  raw,
] as const;

/** The endpoints with a port (TCP and UDP): each has a `--<name>-port` flag. */
export const PORT_ENDPOINTS: readonly EndpointSpec[] = ENDPOINTS.filter(
  (e): e is typeof e & EndpointSpec => e.transport === "tcp" || e.transport === "udp",
);

/** The link-layer endpoints (the raw lab): frames of an EtherType on an interface, no port. */
export const LINK_ENDPOINTS: readonly LinkEndpointSpec[] = ENDPOINTS.filter(
  (e): e is typeof e & LinkEndpointSpec => e.transport === "link",
);

/** The endpoints that write back every byte they read: the multiconn load's targets. */
export const ECHOING: readonly string[] = ENDPOINTS.filter((e) => e.echoes).map((e) => e.name);

/** How the tables' lines spell the CLI; {@linkcode tryItLine} respells it as the service runs. */
export const CLIENT_COMMAND = "deno task client";

/**
 * Fills `{host}`, `{port}`, `{path}` (a Unix socket's, which its address holds as the host)
 * and `{dashboard}` in a try-it line, and spells a leading
 * `deno task client` as `client` (see {@linkcode clientCommand}), so the line runs where the
 * service runs.
 */
export function tryItLine(
  line: string,
  host: string,
  port: number,
  dashboard: string,
  client: string = CLIENT_COMMAND,
): string {
  // A URL or host:port needs an IPv6 literal in brackets; nc, ncat and ss take it bare.
  const hostPort = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const filled = line.replaceAll("{host}:{port}", hostPort).replaceAll("{host}", host)
    .replaceAll("{path}", host).replaceAll("{port}", String(port)).replaceAll(
      "{dashboard}",
      dashboard,
    );
  return client !== CLIENT_COMMAND && filled.startsWith(`${CLIENT_COMMAND} `)
    ? client + filled.slice(CLIENT_COMMAND.length)
    : filled;
}

/**
 * An endpoint's try-it lines filled in from its record (see {@linkcode tryItLine}): a port
 * endpoint's with its address, a link endpoint's `{iface}` with its interface (`lo` when it
 * receives on every one); [] for a port endpoint not bound.
 */
export function tryItLines(
  lines: readonly string[],
  record: Pick<EndpointRecord, "address" | "link">,
  dashboard: string,
  client: string = CLIENT_COMMAND,
): string[] {
  if (record.link !== null) {
    const iface = record.link.interface || "lo";
    return lines.map((line) =>
      tryItLine(line.replaceAll("{iface}", iface), "", 0, dashboard, client)
    );
  }
  const addr = record.address;
  if (addr === null) return [];
  return lines.map((line) => tryItLine(line, addr.hostname, addr.port, dashboard, client));
}

/** How the running service was launched, for {@linkcode clientCommand}. */
export interface Launch {
  /** Deno's version, as `Deno.version.deno` tells. */
  version: string;
  /** npm's `npm_command` variable, which `npx` sets to `exec` for everything it starts. */
  npmCommand?: string;
}

/**
 * The command that runs the CLI where the service runs: `npx -y deno@VERSION task client` when
 * the service was started through npx (the README's Node-only set-up, where the user's shell may
 * have no `deno`), else `deno task client`. The banner, `/api/endpoints` and every page print
 * their lines with this one rule. (Where deno lives says nothing: a `deno` on PATH may itself
 * sit in npx's cache.)
 */
export function clientCommand(launch: Launch): string {
  return launch.npmCommand === "exec"
    ? `npx -y deno@${launch.version} task client`
    : CLIENT_COMMAND;
}
