/** `deno task client sink`: write until the kernel buffers are full. @module */
import {
  resolveSinkOptions,
  sink,
  SINK_PORT,
  type SinkOptions,
  type SinkResult,
} from "../../client/sink.ts";
import { defineCommand, noPositionals, portOption, timeoutOption } from "../command.ts";
import { formatBytes } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveSinkOptions();

/** The sink command. */
export const sinkCommand = defineCommand<SinkOptions>({
  name: "sink",
  summary: "Write until the kernel buffers are full, report the bytes taken",
  usage: "sink [options]",
  about: "Write to the sink endpoint until a write stalls (the kernel buffers are full) " +
    "and report the bytes the kernel accepted.",
  options: [
    portOption(SINK_PORT),
    {
      type: "int",
      name: "stall-ms",
      arg: "<ms>",
      to: "stallMs",
      help: `A write slower than this means the buffers are full (default ${DEFAULTS.stallMs})`,
    },
    {
      type: "int",
      name: "chunk",
      arg: "<bytes>",
      to: "chunkSize",
      help: `Bytes per write (default ${DEFAULTS.chunkSize})`,
    },
    {
      type: "int",
      name: "max-bytes",
      arg: "<bytes>",
      to: "maxBytes",
      help: `Give up without a stall after this many bytes (default ${DEFAULTS.maxBytes})`,
    },
    {
      type: "seconds",
      name: "hold",
      arg: "<secs>",
      to: "holdMs",
      min: 0,
      max: 86_400,
      help: `Keep the stalled connection open this long, to watch it (default ${
        DEFAULTS.holdMs / 1000
      })`,
    },
    timeoutOption("Seconds the connect and the filling may take", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io, progress }) {
    noPositionals(positionals);
    const options = resolveSinkOptions({
      ...values,
      signal: io.signal,
      onProgress: progress
        ? (p) =>
          progress(`sink ${p.phase} ${p.elapsedSeconds.toFixed(1)} s  ${formatBytes(p.bytes)}`)
        : undefined,
    });
    return async () => {
      const result = await sink(options);
      return { ...result, json: result, text: formatSink(result) };
    };
  },
});

function formatSink(r: SinkResult): string {
  if (!r.stalled) return `The socket kept accepting: ${r.bytes} bytes in ${r.writes} writes\n`;
  const lines = [
    `The kernel accepted ${r.bytes} bytes (${formatBytes(r.bytes)}) in ${r.writes} writes ` +
    `before a write stalled for ${r.stallMs} ms`,
  ];
  if (r.heldSeconds > 0) {
    lines.push(`held the connection open for ${r.heldSeconds.toFixed(1)} s`);
  }
  if (r.lateBytes > 0) lines.push(`${r.lateBytes} more bytes went in while holding`);
  return `${lines.join("\n")}\n`;
}
