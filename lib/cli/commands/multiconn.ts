/** `deno task client multiconn`: the load generator. @module */
import {
  multiconn,
  MULTICONN_PORT,
  type MulticonnOptions,
  type MulticonnResult,
  resolveMulticonnOptions,
} from "../../client/multiconn.ts";
import { defineCommand, noPositionals, portOption, timeoutOption } from "../command.ts";
import { formatBytes, percentiles } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveMulticonnOptions();

/** The multiconn command. */
export const multiconnCommand = defineCommand<MulticonnOptions>({
  name: "multiconn",
  summary: "Load generator: parallel echo round trips, throughput and latency",
  usage: "multiconn [options]",
  about: "Open --conns connections to the multiconn endpoint and echo --messages on each, " +
    "checking every byte; report throughput and latency percentiles.",
  options: [
    portOption(MULTICONN_PORT),
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
  ],
  prepare(values, positionals, { io, progress }) {
    noPositionals(positionals);
    const options = resolveMulticonnOptions({
      ...values,
      signal: io.signal,
      onProgress: progress
        ? (p) =>
          progress(
            `multiconn ${p.elapsedSeconds.toFixed(1)} s  ${p.messages} messages  ` +
              `${formatBytes(p.bytes)}  ${p.active} active`,
          )
        : undefined,
    });
    return async () => {
      const result = await multiconn(options);
      return { ...result, json: result, text: formatMulticonn(result) };
    };
  },
});

function formatMulticonn(r: MulticonnResult): string {
  const lines = [
    `${r.connected} of ${r.conns} connections to ${r.address.hostname}:${r.address.port}: ` +
    `${r.messages} messages, ${r.bytes} bytes echoed in ${r.seconds.toFixed(3)} s`,
    `${r.messagesPerSecond.toFixed(0)} msg/s, ${r.megabytesPerSecond.toFixed(2)} MB/s`,
  ];
  if (r.latencyMs) lines.push(`latency ms: ${percentiles(r.latencyMs)}`);
  if (r.mismatches > 0) lines.push(`mismatched echoes: ${r.mismatches}`);
  if (r.failedConns > 0) lines.push(`failed connections: ${r.failedConns}`);
  return `${lines.join("\n")}\n`;
}
