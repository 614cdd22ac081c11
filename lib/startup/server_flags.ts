/**
 * `main.ts`'s command line: one table makes the help, the parser and the
 * typed flags; each default is declared once (here, or in the library that
 * applies it).
 *
 * @module
 */
import { CAPTURE_FILES_DEFAULTS } from "../capture/capture_files.ts";
import { CAPTURE_RING_DEFAULTS } from "../capture/capture_ring.ts";
import { PACKET_LOG_DEFAULTS } from "../capture/packet_log.ts";
import { PORT_ENDPOINTS } from "../net/endpoint_table.ts";
import { CHAT_ROOM_DEFAULTS as CHAT } from "../net/endpoints/chat.ts";
import { CLIENT_LIST_DEFAULTS } from "../net/endpoints/client_list.ts";
import { UDP_FLOW_DEFAULTS as UDP } from "../net/endpoints/udp.ts";
import { DEFAULT_KEEP_CLOSED } from "../net/registry.ts";
import type { ServiceOptions } from "../net/service.ts";
import { TCP_ENDPOINT_DEFAULTS as TCP } from "../net/tcp_endpoint.ts";
import { OptionError } from "../options/option_error.ts";
import { formatOptions, type OptionTable, parseOptions } from "../options/option_table.ts";
import { APP_MAX_CONTENT_LENGTH } from "../protocol/app_codec.ts";
import { FRAMING_DEFAULTS, MAX_DELIMITER } from "../protocol/framing.ts";
import { HTTP_SERVER_DEFAULTS as HTTP } from "../web/http_server.ts";
import { SSE_DEFAULTS } from "../web/sse.ts";
import { parseIp } from "../web/trust.ts";
import { WIRE_CAPTURE_METHODS, WIRE_VIEW_DEFAULTS } from "../wire/wire_view.ts";

/** The service's command line, parsed. */
export interface ServerFlags {
  /** What the endpoints get (`host` included: the dashboard binds there too). */
  service: ServiceOptions;
  /** Dashboard port; 0 picks a free one. */
  port: number;
  /** Required on every dashboard request when set. */
  token?: string;
  /** Names the dashboard answers to besides its address and localhost. */
  allowHosts: string[];
  /** Read the kernel's socket table (`--no-kernel` turns it off). */
  kernel: boolean;
  /** Run the diagnoses' monitor (`--no-diagnoses` turns it off). */
  diagnoses: boolean;
  /** The dashboard's own HTTP server. */
  http: { maxConns: number; headerTimeoutMs: number; sseMaxBehindMs: number };
  /** `--udp-fast`: accepted and ignored, the batched UDP path being the default now. */
  udpFast: boolean;
  /** `-h`/`--help`: print {@linkcode usage} instead of starting. */
  help: boolean;
}

const PAD = String.fromCharCode(FRAMING_DEFAULTS.pad);
const HOST_NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** Every flag of `main.ts`, in the order the help lists them. */
export const SERVER_FLAGS: OptionTable<ServerFlags> = [
  {
    type: "string",
    name: "host",
    arg: "HOST",
    to: "service.host",
    default: "127.0.0.1",
    help: "address every endpoint and the dashboard bind to",
  },
  {
    type: "int",
    name: "port",
    arg: "PORT",
    to: "port",
    min: 0,
    max: 65535,
    default: 8000,
    help: "dashboard port (default {default}; 0 = any free port)",
  },
  {
    type: "int",
    name: "http-max-conns",
    arg: "N",
    to: "http.maxConns",
    min: 1,
    max: 1_000_000,
    default: HTTP.maxConns,
    help: "dashboard connections at once; past it the one idle longest is closed, or, all " +
      "busy, the new one gets a 503",
  },
  {
    type: "int",
    name: "header-timeout",
    arg: "SECONDS",
    to: "http.headerTimeoutMs",
    min: 1,
    max: 3600,
    default: HTTP.headerTimeoutMs / 1000,
    scale: 1000,
    help: "close a dashboard connection that sends no complete request\nhead this long, or " +
      "idles this long between requests",
  },
  {
    type: "int",
    name: "sse-max-behind",
    arg: "SECONDS",
    to: "http.sseMaxBehindMs",
    min: 1,
    max: 86_400,
    default: SSE_DEFAULTS.maxBehindMs / 1000,
    scale: 1000,
    help: "close an event stream whose client has not read for this long",
  },
  // A Unix endpoint has a path (--unix-path), a link endpoint an interface: no port.
  ...PORT_ENDPOINTS.map((e) => ({
    type: "int" as const,
    name: `${e.name}-port`,
    arg: "PORT",
    to: `service.ports.${e.name}` as const,
    min: 0,
    max: 65535,
    default: e.defaultPort,
    help: `${e.name} endpoint port`,
  })),
  {
    type: "int",
    name: "max-conns",
    arg: "N",
    to: "service.maxConns",
    min: 1,
    max: 1_000_000,
    default: TCP.maxConns,
    help: "live connections per TCP endpoint (default {default}); all endpoints share the " +
      "descriptor budget (RLIMIT_NOFILE less a reserve) too",
  },
  {
    type: "int",
    name: "idle-timeout",
    arg: "SECONDS",
    to: "service.idleTimeoutMs",
    min: 0,
    max: 86_400,
    default: TCP.idleTimeoutMs / 1000,
    scale: 1000,
    help: "close TCP connections idle this long, 0 = never",
  },
  {
    type: "int",
    name: "read-timeout",
    arg: "SECONDS",
    to: "service.readTimeoutMs",
    min: 0,
    max: 86_400,
    default: TCP.readTimeoutMs / 1000,
    scale: 1000,
    help: "close a framed connection whose started message takes longer,\n0 = never",
  },
  {
    type: "int",
    name: "app-max-content",
    arg: "BYTES",
    to: "service.appMaxContent",
    min: 0,
    max: 1 << 30,
    default: APP_MAX_CONTENT_LENGTH,
    help: "largest app-protocol content-length",
  },
  {
    type: "int",
    name: "backlog",
    arg: "N",
    to: "service.backlog",
    min: 1,
    max: 65535,
    default: TCP.backlog,
    help: "listen backlog, capped by net.core.somaxconn",
  },
  {
    type: "int",
    name: "listeners",
    arg: "N",
    to: "service.listeners",
    min: 1,
    max: 64,
    default: TCP.listeners,
    help: "listening sockets per TCP endpoint, sharing the port with SO_REUSEPORT: N × backlog " +
      "connects queue at once",
  },
  {
    type: "int",
    name: "log-entries",
    arg: "N",
    to: "service.logEntries",
    min: 1,
    max: 10_000_000,
    default: PACKET_LOG_DEFAULTS.entries,
    help: "packet-log entries kept",
  },
  {
    type: "int",
    name: "log-preview",
    arg: "BYTES",
    to: "service.logPreview",
    min: 0,
    max: 65535,
    default: PACKET_LOG_DEFAULTS.previewBytes,
    help: "bytes kept per packet-log entry",
  },
  {
    type: "int",
    name: "keep-closed",
    arg: "N",
    to: "service.keepClosed",
    min: 0,
    max: 1_000_000,
    default: DEFAULT_KEEP_CLOSED,
    help: "closed sockets kept readable at /api/sockets/:id",
  },
  {
    type: "int",
    name: "max-flows",
    arg: "N",
    to: "service.maxFlows",
    min: 1,
    max: 1_000_000,
    default: UDP.maxFlows,
    help: "UDP peers tracked as flows",
  },
  {
    type: "int",
    name: "flow-idle",
    arg: "SECONDS",
    to: "service.flowIdleMs",
    min: 1,
    max: 86_400,
    default: UDP.flowIdleMs / 1000,
    scale: 1000,
    help: "end a UDP flow quiet this long",
  },
  {
    type: "int",
    name: "chat-max-message",
    arg: "BYTES",
    to: "service.chat.maxMessage",
    min: 1,
    max: 1 << 30,
    default: CHAT.maxMessage,
    help: "largest chat message a header may declare",
  },
  {
    type: "int",
    name: "chat-history",
    arg: "N",
    to: "service.chat.history",
    min: 0,
    max: 100_000,
    default: CHAT.history,
    help: "chat messages kept for the dashboard",
  },
  {
    type: "int",
    name: "chat-max-backlog",
    arg: "BYTES",
    to: "service.chat.maxBacklog",
    min: 1024,
    max: 2 ** 31,
    default: CHAT.maxBacklog,
    help: "unsent bytes per chat participant before relays to it are\ndropped",
  },
  {
    type: "int",
    name: "clients-max-names",
    arg: "N",
    to: "service.clientList.maxNames",
    min: 1,
    max: 1_000_000,
    default: CLIENT_LIST_DEFAULTS.maxNames,
    help: "names the client list keeps, oldest forgotten first",
  },
  {
    type: "int",
    name: "frame-max-message",
    arg: "BYTES",
    to: "service.frameMaxMessage",
    min: 1,
    max: 1 << 30,
    default: FRAMING_DEFAULTS.maxMessage,
    help: "largest message of the delimited, prefixed and close framing\nlabs",
  },
  {
    type: "int",
    name: "frame-fixed-size",
    arg: "BYTES",
    to: "service.framing.recordSize",
    min: 1,
    max: 1 << 20,
    default: FRAMING_DEFAULTS.recordSize,
    help: "record size of frame-fixed (default {default}, as seed 002)",
  },
  {
    type: "byte",
    name: "frame-fixed-pad",
    arg: "CHAR",
    to: "service.framing.pad",
    help: `padding byte of frame-fixed (default ${PAD}; \\x20 for a space)`,
  },
  {
    type: "bytes",
    name: "frame-delimiter",
    arg: "STR",
    to: "service.framing.delimiter",
    maxLength: MAX_DELIMITER,
    help:
      `delimiter of frame-delimited, 1 to ${MAX_DELIMITER} bytes (default ${FRAMING_DEFAULTS.delimiter};\n` +
      "escapes: \\n, \\r, \\t, " +
      "\\0, \\\\, \\xHH)",
  },
  {
    type: "boolean",
    name: "udp-plain",
    to: "service.udpPlain",
    help: "UDP through Deno's socket, a datagram per call, instead of the default batches " +
      "through libc (recvmmsg/sendmmsg by FFI, used wherever --allow-ffi is given)",
  },
  {
    type: "boolean",
    name: "udp-fast",
    to: "udpFast",
    help: "accepted and ignored, so old command lines work: the batched UDP path is the default",
  },
  {
    type: "int",
    name: "capture-bytes",
    arg: "BYTES",
    to: "service.captureBytes",
    min: 0,
    max: 2 ** 31,
    default: CAPTURE_RING_DEFAULTS.bytes,
    check: (v) => v !== 0 && v < 4096 ? `"${v}" is neither 0 nor 4096 or more` : undefined,
    help: "full-payload capture kept for pcapng, 0 = off",
  },
  {
    type: "string",
    name: "capture-dir",
    arg: "DIR",
    to: "service.captureDir",
    help: "also write the capture to rotating pcapng files in DIR",
  },
  {
    type: "int",
    name: "capture-files",
    arg: "N",
    to: "service.captureFiles",
    min: 1,
    max: 100_000,
    default: CAPTURE_FILES_DEFAULTS.files,
    help: "capture files kept in DIR, oldest deleted",
  },
  {
    type: "int",
    name: "capture-file-bytes",
    arg: "BYTES",
    to: "service.captureFileBytes",
    min: 65536,
    max: 2 ** 40,
    default: CAPTURE_FILES_DEFAULTS.fileBytes,
    help: "start a new capture file at this size",
  },
  {
    type: "int",
    name: "capture-file-seconds",
    arg: "S",
    to: "service.captureFileSeconds",
    min: 0,
    max: 30 * 86_400,
    default: CAPTURE_FILES_DEFAULTS.fileSeconds,
    help: "start a new capture file after S seconds, 0 = never",
  },
  {
    type: "enum",
    name: "log-format",
    to: "service.logFormat",
    choices: ["text", "json"],
    default: "text",
    help: "json: one JSON line per connection open, close, error",
  },
  {
    type: "boolean",
    name: "no-raw-lab",
    to: "service.rawLab",
    negate: true,
    help: "do not open the raw lab's AF_PACKET socket (EtherType 0x0801 frames)",
  },
  {
    type: "boolean",
    name: "no-kernel",
    to: "kernel",
    negate: true,
    help: "do not read the kernel's socket table",
  },
  {
    type: "boolean",
    name: "no-diagnoses",
    to: "diagnoses",
    negate: true,
    help: "do not sample the sockets for diagnoses (/api/diagnoses then says they are off)",
  },
  {
    type: "boolean",
    name: "no-wire",
    to: "service.wire",
    negate: true,
    help: "do not capture the endpoints' real segments (the wire view; needs root, CAP_BPF " +
      "with CAP_NET_ADMIN, or CAP_NET_RAW; off with the reason without)",
  },
  {
    type: "int",
    name: "wire-snaplen",
    arg: "BYTES",
    to: "service.wireSnaplen",
    min: 64,
    max: 65535,
    default: WIRE_VIEW_DEFAULTS.snaplen,
    help: "bytes kept of each captured frame (headers and the start of the payload)",
  },
  {
    type: "int",
    name: "wire-ring",
    arg: "BYTES",
    to: "service.wireRing",
    min: 1 << 20,
    max: 1 << 30,
    default: WIRE_VIEW_DEFAULTS.ringBytes,
    help: "the wire capture's kernel ring (the kernel drops frames when it is full)",
  },
  {
    type: "enum",
    name: "wire-capture",
    to: "service.wireCapture",
    choices: WIRE_CAPTURE_METHODS,
    default: "auto",
    help: "how the wire view takes frames: tcx (eBPF on lo's egress, Linux 6.6+), packet " +
      "(an AF_PACKET ring), auto (tcx where it can, else packet)",
  },
  {
    type: "string",
    name: "tls-cert",
    arg: "FILE",
    to: "service.tlsCert",
    help: "PEM certificate for tls-echo, with --tls-key (default: a self-signed one made at start)",
  },
  {
    type: "string",
    name: "tls-key",
    arg: "FILE",
    to: "service.tlsKey",
    help: "PEM private key for tls-echo, with --tls-cert",
  },
  {
    type: "string",
    name: "unix-path",
    arg: "PATH",
    to: "service.unixPath",
    help: "unix-echo's socket (default $XDG_RUNTIME_DIR or /tmp, sockscope-<port>.sock)",
  },
  {
    type: "string",
    name: "token",
    arg: "TOKEN",
    to: "token",
    help: "require this token on the dashboard (required off loopback)",
  },
  {
    type: "list",
    name: "allow-host",
    arg: "NAME",
    to: "allowHosts",
    normalize: (name) => name.toLowerCase(),
    check: (name) =>
      HOST_NAME.test(name) || parseIp(name) !== null
        ? undefined
        : `"${name}" is not a host name or address`,
    help: "a name the dashboard answers to besides its address and\nlocalhost (DNS rebinding " +
      "guard); repeat or comma-separate",
  },
  { type: "boolean", name: "help", short: "h", to: "help", stops: true, help: "show this help" },
];

/** `deno task start --help`. */
export function usage(): string {
  return ["Usage: deno task start [options]", "", ...formatOptions(SERVER_FLAGS, FORMAT)].join(
    "\n",
  );
}

const FORMAT = { flagWidth: 29, lineWidth: 100 };

/**
 * Parses `main.ts`'s arguments. Throws {@linkcode OptionError} naming the flag
 * on a usage error.
 */
export function parseServerFlags(args: readonly string[]): ServerFlags {
  const { values } = parseOptions(SERVER_FLAGS, args);
  if (values.help) return values;
  const { captureDir, captureBytes } = values.service;
  if (captureDir !== undefined && (captureDir === "" || captureBytes === 0)) {
    throw new OptionError(
      "--capture-dir",
      `"${captureDir}" needs a directory and --capture-bytes above 0`,
    );
  }
  return values;
}

/** {@linkcode parseServerFlags}, with a usage error's message returned instead of thrown. */
export function parseFlags(args: readonly string[]): ServerFlags | string {
  try {
    return parseServerFlags(args);
  } catch (err) {
    if (err instanceof OptionError) return err.message;
    throw err;
  }
}
