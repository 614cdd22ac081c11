/** `deno task client frame`: the framing lab's client. @module */
import {
  frame,
  FRAME_PORTS,
  type FrameOptions,
  type FrameResult,
  resolveFrameOptions,
} from "../../client/frame.ts";
import {
  encodeMessage,
  FRAMING_DEFAULTS,
  FRAMING_KINDS,
  MAX_DELIMITER,
} from "../../protocol/framing.ts";
import { defineCommand, timeoutOption } from "../command.ts";

/** The frame command's options: the client's, and how to split the writes. */
interface FrameValues extends FrameOptions {
  bytewise: boolean;
  together: boolean;
}

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveFrameOptions();

/** The frame command. */
export const frameCommand = defineCommand<FrameValues>({
  name: "frame",
  summary: "Framing lab: send framed messages, print the echoes",
  usage: "frame [options] <message>...",
  about: "Send each <message> to a framing endpoint in its framing (fixed 30-byte records " +
    "padded with #, ended by #*#, 5-digit length prefix, or ended by closing: seed 002's) " +
    "and print each echo " +
    "on a line. --bytewise splits messages across reads, --together merges them into one.",
  options: [
    {
      type: "enum",
      name: "kind",
      arg: "<kind>",
      to: "kind",
      choices: FRAMING_KINDS,
      help: `fixed, delimited, prefixed or close (default ${DEFAULTS.kind})`,
    },
    {
      type: "int",
      name: "port",
      arg: "<port>",
      to: "port",
      help:
        `Port to connect to (default: the kind's, ${FRAME_PORTS.fixed} to ${FRAME_PORTS.close})`,
    },
    { type: "boolean", name: "bytewise", to: "bytewise", help: "Write one byte per write" },
    { type: "boolean", name: "together", to: "together", help: "Write every message in one write" },
    {
      type: "int",
      name: "size",
      arg: "<bytes>",
      to: "framing.recordSize",
      help: `Record size of fixed (default ${FRAMING_DEFAULTS.recordSize})`,
    },
    {
      type: "byte",
      name: "pad",
      arg: "<char>",
      to: "framing.pad",
      help: `Padding byte of fixed (default ${String.fromCharCode(FRAMING_DEFAULTS.pad)})`,
    },
    {
      type: "bytes",
      name: "delimiter",
      arg: "<str>",
      to: "framing.delimiter",
      maxLength: MAX_DELIMITER,
      help:
        `Delimiter of delimited (default ${FRAMING_DEFAULTS.delimiter}; escapes: \\n, \\r, \\t, \\xHH)`,
    },
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
  ],
  prepare({ bytewise, together, ...values }, positionals, { io }) {
    if (positionals.length === 0) throw new TypeError("Missing message");
    if (bytewise && together) {
      throw new TypeError('Options "--bytewise" and "--together" exclude each other');
    }
    const options = resolveFrameOptions({
      ...values,
      writes: bytewise ? "byte" : together ? "together" : "message",
      signal: io.signal,
    });
    // A message the framing cannot carry is a usage error, found before connecting.
    if (options.kind === "close" && positionals.length > 1) {
      throw new RangeError("Invalid messages: the close framing carries one message");
    }
    for (const m of positionals) {
      encodeMessage(options.kind, new TextEncoder().encode(m), options.framing);
    }
    return async () => {
      const result = await frame(positionals, options);
      return { ...result, json: result, text: formatFrame(result) };
    };
  },
});

function formatFrame(r: FrameResult): string {
  return r.echoed.length === 0 ? "" : `${r.echoed.join("\n")}\n`;
}
