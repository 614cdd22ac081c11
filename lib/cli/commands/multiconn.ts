/** `deno task client multiconn`: the load generator. @module */
import {
  CHARGEN_PORT,
  multiconn,
  MULTICONN_PORT,
  type MulticonnOptions,
  type MulticonnResult,
  resolveMulticonnOptions,
} from "../../client/multiconn.ts";
import { readSockDiag } from "../../kernel/netlink.ts";
import { defineCommand, intervalOption, noPositionals, timeoutOption } from "../command.ts";
import { formatBytes, percentiles } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveMulticonnOptions();

/** What the command line adds to the library's options. */
interface MulticonnValues extends MulticonnOptions {
  bidir?: boolean;
  reverse?: boolean;
  jsonStream?: boolean;
}

/** The multiconn command. */
export const multiconnCommand = defineCommand<MulticonnValues>({
  name: "multiconn",
  summary: "Load generator: parallel echo round trips, throughput and latency",
  usage: "multiconn [options]",
  about: "Open --conns connections to the multiconn endpoint and echo --messages on each, " +
    "checking every byte; report throughput and latency percentiles (HDR histogram). " +
    "--bidir writes and reads at once on each connection (both directions counted); " +
    "--reverse only reads what the server sends, as iperf3 -R: the chargen endpoint " +
    "(its port by default), whose RFC 864 pattern is checked (an echo server sends " +
    "nothing unasked, so --reverse against one times out).",
  options: [
    {
      type: "int",
      name: "port",
      arg: "<port>",
      to: "port",
      help:
        `Port to connect to (default ${MULTICONN_PORT}); with --reverse, chargen's ${CHARGEN_PORT}`,
    },
    {
      type: "boolean",
      name: "bidir",
      to: "bidir",
      help: "Send and read at the same time on each connection, both directions counted",
    },
    {
      type: "boolean",
      name: "reverse",
      to: "reverse",
      help: "The server sends (chargen), the client reads and checks; no latency",
    },
    {
      type: "int",
      name: "rate",
      arg: "<n>",
      to: "rate",
      min: 1,
      max: 1_000_000,
      help: "Messages per second per connection, paced by a token bucket (default: unpaced)",
    },
    {
      type: "int",
      name: "conns",
      arg: "<n>",
      to: "conns",
      help: `Connections in parallel (default ${DEFAULTS.conns})`,
    },
    {
      type: "int",
      name: "messages",
      arg: "<n>",
      to: "messages",
      help: `Messages per connection (default ${DEFAULTS.messages}, no limit with --duration)`,
    },
    {
      type: "int",
      name: "size",
      arg: "<bytes>",
      to: "size",
      help: 'Bytes per message (default: the tutorial\'s "Message N from client.")',
    },
    {
      type: "seconds",
      name: "duration",
      arg: "<secs>",
      to: "durationMs",
      min: 0.001,
      max: 86_400,
      help: "Run for this long instead of a message count",
    },
    timeoutOption("Seconds to wait for one connect or one echo", DEFAULTS.timeoutMs),
    {
      type: "boolean",
      name: "json-stream",
      to: "jsonStream",
      help: "Print one JSON object per --interval while the run goes (with each " +
        "connection's tcp_info where the kernel view is available), then the summary",
    },
    intervalOption("--json-stream reports", DEFAULTS.intervalMs),
  ],
  prepare(values, positionals, { io, progress, json }) {
    noPositionals(positionals);
    const { bidir, reverse, jsonStream, ...rest } = values;
    if (bidir && reverse) throw new TypeError("Cannot use --bidir with --reverse: pick one");
    if (jsonStream && json) {
      throw new TypeError("Cannot use --json with --json-stream: the stream ends with the summary");
    }
    const line = (event: string, data: object) =>
      `${JSON.stringify({ event, data: { command: "multiconn", ...data } })}\n`;
    const options = resolveMulticonnOptions({
      ...rest,
      mode: bidir ? "bidir" : reverse ? "reverse" : "echo",
      signal: io.signal,
      onProgress: progress
        ? (p) =>
          progress(
            `multiconn ${p.elapsedSeconds.toFixed(1)} s  ${p.messages} messages  ` +
              `${formatBytes(p.bytes)}  ${p.active} active`,
          )
        : undefined,
      onInterval: jsonStream ? (report) => io.stdout(line("interval", report)) : undefined,
      tcpInfo: jsonStream
        ? (ports) => readSockDiag({ ports, families: [rest.hostname?.includes(":") ? 6 : 4] })
        : undefined,
    });
    return async () => {
      const result = await multiconn(options);
      return {
        ...result,
        json: result,
        text: jsonStream ? line("end", result) : formatMulticonn(result),
      };
    };
  },
});

function formatMulticonn(r: MulticonnResult): string {
  const to = `${r.connected} of ${r.conns} connections to ${r.address.hostname}:${r.address.port}`;
  const paced = r.rate === null ? "" : ` (paced at ${r.rate}/s per connection)`;
  const lines = r.mode === "echo"
    ? [
      `${to}: ${r.messages} messages, ${r.bytes} bytes echoed in ${r.seconds.toFixed(3)} s`,
      `${r.messagesPerSecond.toFixed(0)} msg/s, ${r.megabytesPerSecond.toFixed(2)} MB/s${paced}`,
    ]
    : r.mode === "bidir"
    ? [
      `${to}, both directions at once, in ${r.seconds.toFixed(3)} s:`,
      `  sent ${r.sent.messages} messages, ${r.sent.bytes} bytes: ` +
      `${r.sentMegabytesPerSecond.toFixed(2)} MB/s${paced}`,
      `  received ${r.received.messages} messages, ${r.received.bytes} bytes verified: ` +
      `${r.megabytesPerSecond.toFixed(2)} MB/s`,
    ]
    : [
      `${to}, the server sending: ${r.bytes} bytes (${r.messages} × ${
        r.messages > 0 ? r.bytes / r.messages : 0
      }) read and checked in ${r.seconds.toFixed(3)} s`,
      `${r.megabytesPerSecond.toFixed(2)} MB/s${paced}`,
    ];
  if (r.latencyMs) lines.push(`latency ms: ${percentiles(r.latencyMs)}`);
  if (r.mismatches > 0) lines.push(`mismatched echoes: ${r.mismatches}`);
  if (r.failedConns > 0) lines.push(`failed connections: ${r.failedConns}`);
  return `${lines.join("\n")}\n`;
}
