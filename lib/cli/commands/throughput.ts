/**
 * `deno task client discard` and `chargen`: the same flags and report around
 * a different run, so both commands come from one function.
 *
 * @module
 */
import {
  chargen,
  CHARGEN_PORT,
  discard,
  DISCARD_PORT,
  resolveThroughputOptions,
  type ThroughputOptions,
  type ThroughputResult,
} from "../../client/throughput.ts";
import type { OptionTable } from "../../options/option_table.ts";
import {
  type AnyCommand,
  defineCommand,
  noPositionals,
  portOption,
  timeoutOption,
} from "../command.ts";
import { formatBytes } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveThroughputOptions({}, DISCARD_PORT);

/** The discard command. */
export const discardCommand: AnyCommand = throughputCommand({
  name: "discard",
  port: DISCARD_PORT,
  run: discard,
  summary: "Throughput: write N bytes into discard (RFC 863)",
  about: "Write --bytes into the discard endpoint, half-close, wait for it to close, " +
    "and report the rate.",
  did: "written into discard",
  options: [
    {
      type: "int",
      name: "bytes",
      arg: "<n>",
      to: "bytes",
      help: `Bytes to write (default ${DEFAULTS.bytes})`,
    },
    {
      type: "int",
      name: "chunk",
      arg: "<bytes>",
      to: "chunkSize",
      help: `Bytes per write (default ${DEFAULTS.chunkSize})`,
    },
    timeoutOption(
      "Seconds to wait for the connect, any one write and the close",
      DEFAULTS.timeoutMs,
    ),
  ],
});

/** The chargen command. */
export const chargenCommand: AnyCommand = throughputCommand({
  name: "chargen",
  port: CHARGEN_PORT,
  run: chargen,
  summary: "Throughput: read N bytes of chargen (RFC 864), checking the pattern",
  about: "Read --bytes from the chargen endpoint, check every byte against the RFC 864 " +
    "pattern, and report the rate.",
  did: "read from chargen",
  options: [
    {
      type: "int",
      name: "bytes",
      arg: "<n>",
      to: "bytes",
      help: `Bytes to read (default ${DEFAULTS.bytes})`,
    },
    timeoutOption("Seconds to wait for the connect and for any one read", DEFAULTS.timeoutMs),
  ],
});

function throughputCommand(spec: {
  name: string;
  port: number;
  run: (options: ThroughputOptions) => Promise<ThroughputResult>;
  summary: string;
  about: string;
  /** What happened to the bytes, for the report line. */
  did: string;
  options: OptionTable<ThroughputOptions>;
}): AnyCommand {
  return defineCommand<ThroughputOptions>({
    name: spec.name,
    summary: spec.summary,
    usage: `${spec.name} [options]`,
    about: spec.about,
    options: [portOption(spec.port), ...spec.options],
    prepare(values, positionals, { io, progress }) {
      noPositionals(positionals);
      const options = resolveThroughputOptions({
        ...values,
        signal: io.signal,
        onProgress: progress
          ? (p) =>
            progress(`${spec.name} ${p.elapsedSeconds.toFixed(1)} s  ${formatBytes(p.bytes)}`)
          : undefined,
      }, spec.port);
      return async () => {
        const result = await spec.run(options);
        return { ...result, json: result, text: formatThroughput(spec.did, result) };
      };
    },
  });
}

function formatThroughput(what: string, r: ThroughputResult): string {
  const lines = [
    `${r.bytes} bytes (${formatBytes(r.bytes)}) ${what} in ${r.seconds.toFixed(3)} s: ` +
    `${r.megabytesPerSecond.toFixed(2)} MB/s`,
  ];
  if (r.mismatchAt === null) lines.push("every byte matched the RFC 864 pattern");
  return `${lines.join("\n")}\n`;
}
