/**
 * `deno task client <echo|multiconn|app|udp|sink|probe|chat|clients|reverse|frame|discard|chargen>
 * [options]`: the tutorial's clients, a load generator, a connect probe and
 * the lab clients. Exit 0 on
 * success, 1 on a failed or mismatched exchange or a timeout, 2 on a usage
 * error, with a one-line reason on stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { app, APP_PORT, type AppResult, resolveAppOptions } from "./lib/client/app.ts";
import { chat, CHAT_PORT, resolveChatOptions } from "./lib/client/chat.ts";
import {
  clientList,
  type ClientListResult,
  CLIENTS_PORT,
  resolveClientListOptions,
} from "./lib/client/client_list.ts";
import { frame, FRAME_PORTS, type FrameResult, resolveFrameOptions } from "./lib/client/frame.ts";
import { resolveReverseOptions, reverse, REVERSE_PORT } from "./lib/client/reverse.ts";
import {
  chargen,
  CHARGEN_PORT,
  discard,
  DISCARD_PORT,
  resolveThroughputOptions,
  type ThroughputOptions,
  type ThroughputResult,
} from "./lib/client/throughput.ts";
import { encodeMessage, type FramingKind, parseFramingBytes } from "./lib/protocol/framing.ts";
import { echo, ECHO_PORT, resolveEchoOptions } from "./lib/client/echo.ts";
import {
  multiconn,
  MULTICONN_PORT,
  type MulticonnResult,
  resolveMulticonnOptions,
} from "./lib/client/multiconn.ts";
import { probe, PROBE_PORT, type ProbeResult, resolveProbeOptions } from "./lib/client/probe.ts";
import { resolveSinkOptions, sink, SINK_PORT, type SinkResult } from "./lib/client/sink.ts";
import type { LatencySummary } from "./lib/client/types.ts";
import { resolveUdpOptions, udp, UDP_PORT, type UdpResult } from "./lib/client/udp.ts";

/** Where the CLI writes and what stops it; tests pass their own. */
export interface CliIo {
  /** Writes text to stdout as is. */
  stdout(text: string): void;
  /** Writes text to stderr as is. */
  stderr(text: string): void;
  /** Show progress lines on stderr (true when stderr is a terminal). */
  progress: boolean;
  /** Stops a running client (Ctrl-C). */
  signal?: AbortSignal;
  /** Opens standard input, for the interactive chat. @default no input */
  stdin?: () => ReadableStream<Uint8Array>;
}

/** Exit codes, as scripts see them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

type Values = Record<string, string | boolean | undefined>;

interface Flag {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder shown in help, e.g. `<n>`. */
  arg?: string;
  help: string;
}

interface Command {
  usage: string;
  /** One line for the top-level help. */
  summary: string;
  about: string;
  flags: Record<string, Flag>;
  /** Parses and checks arguments (TypeError/RangeError mean a usage error), then returns the run. */
  prepare(values: Values, positionals: string[]): () => Promise<CommandOutcome>;
}

interface CommandOutcome {
  ok: boolean;
  error?: string;
  /** Plain data printed with --json. */
  json: object;
  /** Text printed on stdout without --json. */
  text: string;
}

const PROGRAM = "deno task client";
const COMMON: Record<string, Flag> = {
  host: { type: "string", arg: "<host>", help: "Host to connect to (default 127.0.0.1)" },
  json: { type: "boolean", help: "Print one JSON result object on stdout" },
  help: { type: "boolean", short: "h", help: "Show this help" },
};

function portFlag(port: number): Flag {
  return { type: "string", arg: "<port>", help: `Port to connect to (default ${port})` };
}

function timeoutFlag(what: string, seconds: number): Flag {
  return { type: "string", arg: "<secs>", help: `${what} (default ${seconds})` };
}

/** Writes and reads of the commands, keyed by name. */
function commands(io: CliIo, status: StatusLine | null): Record<string, Command> {
  const progress = status ? (line: string) => status.draw(line) : null;
  return {
    echo: {
      summary: "Send a message, print the echo",
      usage: "echo [options] <message>",
      about: "Send <message> to the echo endpoint and print the echo.",
      flags: {
        port: portFlag(ECHO_PORT),
        timeout: timeoutFlag("Seconds the whole exchange may take", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        const message = text(positionals, "message");
        const options = resolveEchoOptions({
          ...address(values),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
        });
        return async () => {
          const result = await echo(message, options);
          return { ...result, json: result, text: `${result.text}\n` };
        };
      },
    },
    multiconn: {
      summary: "Load generator: parallel echo round trips, throughput and latency",
      usage: "multiconn [options]",
      about: "Open --conns connections to the multiconn endpoint and echo --messages on each, " +
        "checking every byte; report throughput and latency percentiles.",
      flags: {
        port: portFlag(MULTICONN_PORT),
        conns: { type: "string", arg: "<n>", help: "Connections in parallel (default 2)" },
        messages: {
          type: "string",
          arg: "<n>",
          help: "Messages per connection (default 2, no limit with --duration)",
        },
        size: {
          type: "string",
          arg: "<bytes>",
          help: 'Bytes per message (default: the tutorial\'s "Message N from client.")',
        },
        duration: {
          type: "string",
          arg: "<secs>",
          help: "Run for this long instead of a message count",
        },
        timeout: timeoutFlag("Seconds to wait for one connect or one echo", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        noPositionals(positionals);
        const options = resolveMulticonnOptions({
          ...address(values),
          conns: integer(values, "conns"),
          messages: integer(values, "messages"),
          size: integer(values, "size"),
          durationMs: seconds(values, "duration", 0.001, 86_400),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
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
    },
    app: {
      summary: "Application-protocol request: search or binary",
      usage: "app [options] <action> <value>",
      about: 'Send an application-protocol request: "search <value>" as text/json, ' +
        "any other action as binary; print the result.",
      flags: {
        port: portFlag(APP_PORT),
        repeat: {
          type: "string",
          arg: "<n>",
          help: "Requests on the same connection, one after another (default 1)",
        },
        timeout: timeoutFlag("Seconds to wait for the connect or one response", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        if (positionals.length < 2) {
          throw new TypeError(
            positionals.length === 0
              ? "Missing <action> <value>, e.g. search morpheus"
              : `Missing <value> after "${positionals[0]}", e.g. ${positionals[0]} morpheus`,
          );
        }
        const [action, ...rest] = positionals;
        const value = rest.join(" ");
        const options = resolveAppOptions({
          ...address(values),
          repeat: integer(values, "repeat"),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
        });
        return async () => {
          const result = await app(action, value, options);
          return { ...result, json: result, text: formatApp(result) };
        };
      },
    },
    udp: {
      summary: "Send datagrams, print the echo; loss and RTT like ping",
      usage: "udp [options] <message>",
      about: "Send <message> as a datagram to the UDP endpoint and print the echo; " +
        "with --count, like ping.",
      flags: {
        port: portFlag(UDP_PORT),
        count: { type: "string", arg: "<n>", help: "Datagrams to send (default 1)" },
        interval: {
          type: "string",
          arg: "<secs>",
          help: "Seconds between datagrams (default 1)",
        },
        timeout: timeoutFlag("Seconds to wait for each echo", 1),
        ...COMMON,
      },
      prepare(values, positionals) {
        const message = text(positionals, "message");
        const options = resolveUdpOptions({
          ...address(values),
          count: integer(values, "count"),
          intervalMs: seconds(values, "interval", 0, 3600),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
          onReply: progress ? (r) => progress(`udp seq=${r.seq} ${r.outcome}`) : undefined,
        });
        return async () => {
          const result = await udp(message, options);
          return { ...result, json: result, text: formatUdp(result) };
        };
      },
    },
    sink: {
      summary: "Write until the kernel buffers are full, report the bytes taken",
      usage: "sink [options]",
      about: "Write to the sink endpoint until a write stalls (the kernel buffers are full) " +
        "and report the bytes the kernel accepted.",
      flags: {
        port: portFlag(SINK_PORT),
        "stall-ms": {
          type: "string",
          arg: "<ms>",
          help: "A write slower than this means the buffers are full (default 500)",
        },
        chunk: { type: "string", arg: "<bytes>", help: "Bytes per write (default 65536)" },
        "max-bytes": {
          type: "string",
          arg: "<bytes>",
          help: "Give up without a stall after this many bytes (default 1073741824)",
        },
        hold: {
          type: "string",
          arg: "<secs>",
          help: "Keep the stalled connection open this long, to watch it (default 0)",
        },
        timeout: timeoutFlag("Seconds the connect and the filling may take", 30),
        ...COMMON,
      },
      prepare(values, positionals) {
        noPositionals(positionals);
        const options = resolveSinkOptions({
          ...address(values),
          stallMs: integer(values, "stall-ms"),
          chunkSize: integer(values, "chunk"),
          maxBytes: integer(values, "max-bytes"),
          holdMs: seconds(values, "hold", 0, 86_400),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
          onProgress: progress
            ? (p) =>
              progress(
                `sink ${p.phase} ${p.elapsedSeconds.toFixed(1)} s  ${formatBytes(p.bytes)}`,
              )
            : undefined,
        });
        return async () => {
          const result = await sink(options);
          return { ...result, json: result, text: formatSink(result) };
        };
      },
    },
    probe: {
      summary: "Time repeated TCP connects, like ping",
      usage: "probe [options]",
      about: "Time repeated TCP connects, like ping; count refusals and timeouts.",
      flags: {
        port: portFlag(PROBE_PORT),
        count: { type: "string", arg: "<n>", help: "Connects to attempt (default 4)" },
        interval: {
          type: "string",
          arg: "<secs>",
          help: "Seconds between attempts (default 1)",
        },
        timeout: timeoutFlag("Seconds to wait for each connect", 2),
        ...COMMON,
      },
      prepare(values, positionals) {
        noPositionals(positionals);
        const options = resolveProbeOptions({
          ...address(values),
          count: integer(values, "count"),
          intervalMs: seconds(values, "interval", 0, 3600),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
          onAttempt: values.json ? undefined : (a) => {
            const target = `${options.hostname}:${options.port}`;
            const line = a.outcome === "connected"
              ? `connected to ${target}: seq=${a.seq} time=${ms(a.ms)} ms`
              : `${a.outcome} ${target}: seq=${a.seq} time=${ms(a.ms)} ms: ${a.error}`;
            // Like ping, each attempt is printed as it happens.
            io.stdout(`${line}\n`);
          },
        });
        return async () => {
          const result = await probe(options);
          return { ...result, json: result, text: formatProbe(result) };
        };
      },
    },
    chat: {
      summary: 'Join the chat: 64-byte headers, "Msg received", relays',
      usage: "chat [options]",
      about: "Join the chat endpoint. Each line read from stdin is sent behind a 64-byte length " +
        'header and answered with "Msg received"; after "!JOIN" (sent first) messages from ' +
        'other participants are printed as "[name] text" when they arrive. "!DISCONNECT" or ' +
        "the end of input leaves. With --send, send one message and leave (joining only with " +
        "--wait).",
      flags: {
        port: portFlag(CHAT_PORT),
        send: {
          type: "string",
          arg: "<text>",
          help: "Send this one message instead of stdin's lines",
        },
        name: {
          type: "string",
          arg: "<name>",
          help: "Name to take in the room (default: your address)",
        },
        wait: {
          type: "string",
          arg: "<secs>",
          help: "Stay this long after the last message, printing relays (default 0)",
        },
        timeout: timeoutFlag('Seconds to wait for the connect and each "Msg received"', 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        noPositionals(positionals);
        const send = values.send as string | undefined;
        if (send !== undefined && send.length === 0) {
          throw new RangeError('Invalid --send: "" is empty');
        }
        const live = !values.json;
        const options = resolveChatOptions({
          ...address(values),
          name: values.name as string | undefined,
          waitMs: seconds(values, "wait", 0, 86_400),
          // A one-shot --send that does not wait has no time to print relays.
          join: send === undefined || values.wait !== undefined,
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
          onEvent: live
            ? (e) =>
              io.stdout(
                e.kind === "ack"
                  ? "Msg received\n"
                  : e.kind === "relay"
                  ? `[${e.name}] ${e.text}\n`
                  : `${e.text}\n`,
              )
            : undefined,
        });
        return async () => {
          if (status !== null && send === undefined) {
            io.stderr(
              `Connected to ${options.hostname}:${options.port}: type messages, ` +
                '"!DISCONNECT" or Ctrl-D to leave\n',
            );
          }
          const lines = send !== undefined ? [send] : stdinLines(io);
          const result = await chat(lines, options);
          return { ...result, json: result, text: "" };
        };
      },
    },
    clients: {
      summary: "Send a name, print the JSON list of every client seen",
      usage: "clients [options] [name]",
      about: 'Send <name> (default "name", as the seed\'s client) to the clients endpoint and ' +
        "print the JSON list of every client it has seen, however long.",
      flags: {
        port: portFlag(CLIENTS_PORT),
        timeout: timeoutFlag("Seconds the whole exchange may take", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        const name = positionals.length === 0 ? "name" : text(positionals, "name");
        const options = resolveClientListOptions({
          ...address(values),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
        });
        return async () => {
          const result = await clientList(name, options);
          return { ...result, json: result, text: formatClientList(result) };
        };
      },
    },
    reverse: {
      summary: "Send a message, print what the server reversed",
      usage: "reverse [options] <message>",
      about: "Send <message> to the reverse endpoint in one write and print the bytes it " +
        "answers with until it closes: the server's first read, reversed.",
      flags: {
        port: portFlag(REVERSE_PORT),
        timeout: timeoutFlag("Seconds the whole exchange may take", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        const message = text(positionals, "message");
        const options = resolveReverseOptions({
          ...address(values),
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
          signal: io.signal,
        });
        return async () => {
          const result = await reverse(message, options);
          return { ...result, json: result, text: `${result.text}\n` };
        };
      },
    },
    frame: {
      summary: "Framing lab: send framed messages, print the echoes",
      usage: "frame [options] <message>...",
      about: "Send each <message> to a framing endpoint in its framing (fixed 30-byte records " +
        "padded with #, ended by #*#, 5-digit length prefix, or ended by closing: seed 002's) " +
        "and print each echo " +
        "on a line. --bytewise splits messages across reads, --together merges them into one.",
      flags: {
        kind: {
          type: "string",
          arg: "<kind>",
          help: "fixed, delimited, prefixed or close (default delimited)",
        },
        port: {
          type: "string",
          arg: "<port>",
          help:
            `Port to connect to (default: the kind's, ${FRAME_PORTS.fixed} to ${FRAME_PORTS.close})`,
        },
        bytewise: { type: "boolean", help: "Write one byte per write" },
        together: { type: "boolean", help: "Write every message in one write" },
        size: { type: "string", arg: "<bytes>", help: "Record size of fixed (default 30)" },
        pad: { type: "string", arg: "<char>", help: "Padding byte of fixed (default #)" },
        delimiter: {
          type: "string",
          arg: "<str>",
          help: "Delimiter of delimited (default #*#; escapes: \\n, \\r, \\t, \\xHH)",
        },
        timeout: timeoutFlag("Seconds the whole exchange may take", 5),
        ...COMMON,
      },
      prepare(values, positionals) {
        if (positionals.length === 0) throw new TypeError("Missing message");
        if (values.bytewise && values.together) {
          throw new TypeError('Options "--bytewise" and "--together" exclude each other');
        }
        const options = resolveFrameOptions({
          ...address(values),
          kind: values.kind as FramingKind | undefined,
          writes: values.bytewise ? "byte" : values.together ? "together" : "message",
          framing: {
            recordSize: integer(values, "size"),
            pad: framingBytes(values, "pad", 1)?.[0],
            delimiter: framingBytes(values, "delimiter", 64),
          },
          timeoutMs: seconds(values, "timeout", 0.001, 3600),
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
    },
    discard: throughputCommand(io, progress, {
      name: "discard",
      port: DISCARD_PORT,
      run: discard,
      summary: "Throughput: write N bytes into discard (RFC 863)",
      about: "Write --bytes into the discard endpoint, half-close, wait for it to close, " +
        "and report the rate.",
      did: "written into discard",
      flags: {
        bytes: { type: "string", arg: "<n>", help: "Bytes to write (default 10000000)" },
        chunk: { type: "string", arg: "<bytes>", help: "Bytes per write (default 65536)" },
        timeout: timeoutFlag("Seconds to wait for the connect, any one write and the close", 5),
      },
    }),
    chargen: throughputCommand(io, progress, {
      name: "chargen",
      port: CHARGEN_PORT,
      run: chargen,
      summary: "Throughput: read N bytes of chargen (RFC 864), checking the pattern",
      about: "Read --bytes from the chargen endpoint, check every byte against the RFC 864 " +
        "pattern, and report the rate.",
      did: "read from chargen",
      flags: {
        bytes: { type: "string", arg: "<n>", help: "Bytes to read (default 10000000)" },
        timeout: timeoutFlag("Seconds to wait for the connect and for any one read", 5),
      },
    }),
  };
}

/** The discard and chargen commands: the same flags and report around a different run. */
function throughputCommand(
  io: CliIo,
  progress: ((line: string) => void) | null,
  spec: {
    name: string;
    port: number;
    run: (options: ThroughputOptions) => Promise<ThroughputResult>;
    summary: string;
    about: string;
    /** What happened to the bytes, for the report line. */
    did: string;
    flags: Record<string, Flag>;
  },
): Command {
  return {
    summary: spec.summary,
    usage: `${spec.name} [options]`,
    about: spec.about,
    flags: { port: portFlag(spec.port), ...spec.flags, ...COMMON },
    prepare(values, positionals) {
      noPositionals(positionals);
      const options = resolveThroughputOptions({
        ...address(values),
        bytes: integer(values, "bytes"),
        chunkSize: integer(values, "chunk"),
        timeoutMs: seconds(values, "timeout", 0.001, 3600),
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
  };
}

/** Lines of standard input, without their line ends; none when the CLI has no stdin. */
async function* stdinLines(io: CliIo): AsyncGenerator<string> {
  if (io.stdin === undefined) return;
  const reader = io.stdin().getReader();
  const utf8 = new TextDecoder();
  let pending = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += utf8.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl).replace(/\r$/, "");
        pending = pending.slice(nl + 1);
        if (line.length > 0) yield line;
      }
    }
    if (pending.length > 0) yield pending;
  } finally {
    reader.releaseLock();
  }
}

/**
 * Runs the CLI with `args` (without the program name) and resolves to the
 * exit code; never calls `Deno.exit`.
 */
export async function main(args: string[], io: CliIo = denoIo()): Promise<number> {
  const status = io.progress ? statusLine(io) : null;
  const table = commands(io, status);
  const [name, ...rest] = args;
  if (name === undefined) {
    return usageError(
      io,
      null,
      `Missing command: expected one of ${Object.keys(table).join(", ")}`,
    );
  }
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout(topHelp(table));
    return EXIT.ok;
  }
  const command = Object.hasOwn(table, name) ? table[name] : undefined;
  if (command === undefined) return usageError(io, null, `Unknown command: "${name}"`);

  let run: () => Promise<CommandOutcome>;
  let json = false;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: Object.fromEntries(
        Object.entries(command.flags).map(([flag, spec]) => [
          flag,
          spec.short ? { type: spec.type, short: spec.short } : { type: spec.type },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      io.stdout(commandHelp(command));
      return EXIT.ok;
    }
    json = values.json === true;
    run = command.prepare(values, positionals);
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) {
      return usageError(io, name, parseError(err, command.flags));
    }
    throw err;
  }

  try {
    const outcome = await run().finally(() => status?.clear());
    if (json) io.stdout(`${JSON.stringify({ command: name, ...outcome.json })}\n`);
    else io.stdout(outcome.text);
    if (!outcome.ok) {
      io.stderr(`${PROGRAM} ${name}: ${outcome.error ?? "Failed"}\n`);
      return EXIT.failed;
    }
    return EXIT.ok;
  } catch (err) {
    status?.clear();
    const interrupted = io.signal?.aborted === true;
    const reason = interrupted ? "Interrupted" : oneLine(err);
    if (json) io.stdout(`${JSON.stringify({ command: name, ok: false, error: reason })}\n`);
    io.stderr(`${PROGRAM} ${name}: ${reason}\n`);
    return interrupted ? EXIT.interrupted : EXIT.failed;
  }
}

function usageError(io: CliIo, name: string | null, reason: string): number {
  const help = name === null ? `${PROGRAM} --help` : `${PROGRAM} ${name} --help`;
  io.stderr(`${PROGRAM}${name === null ? "" : ` ${name}`}: ${reason} (see ${help})\n`);
  return EXIT.usage;
}

/** Turns node:util parseArgs errors into one line with the flag quoted. */
function parseError(err: TypeError | RangeError, flags: Record<string, unknown>): string {
  const code = (err as { code?: string }).code;
  // The client library names its options ("Invalid conns: …"); here they were flags.
  const option = /^Invalid ([a-z][A-Za-z]*):/.exec(err.message)?.[1];
  if (option !== undefined) {
    const kebab = option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    // chunkSize is --chunk.
    const flag = [kebab, kebab.replace(/-size$/, "")].find((f) => f in flags);
    if (flag !== undefined) {
      return oneLine(err).replace(`Invalid ${option}:`, `Invalid --${flag}:`);
    }
  }
  const flag = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) return `Unknown option: "${flag}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    if (err.message.includes("does not take an argument")) {
      return `Option "${flag}" does not take a value`;
    }
    return `Missing value for "${flag}" (use ${flag}=<value> for a value starting with "-")`;
  }
  return oneLine(err);
}

function address(values: Values): { hostname?: string; port?: number } {
  const hostname = values.host as string | undefined;
  if (hostname !== undefined && hostname.length === 0) {
    throw new RangeError('Invalid --host: "" is empty');
  }
  return { hostname, port: integer(values, "port") };
}

function text(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new TypeError(`Missing ${what}`);
  const joined = positionals.join(" ");
  if (joined.length === 0) throw new RangeError(`Invalid ${what}: "" is empty`);
  return joined;
}

function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new TypeError(`Unexpected argument: "${positionals[0]}"`);
}

function integer(values: Values, flag: string): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^\d+$/.test(raw)) {
    throw new TypeError(`Invalid --${flag}: "${raw}" is not a non-negative integer`);
  }
  return Number(raw);
}

/** A framing flag's bytes (escapes allowed), 1 to `max` of them. */
function framingBytes(values: Values, flag: string, max: number): Uint8Array | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  let bytes: Uint8Array;
  try {
    bytes = parseFramingBytes(String(raw));
  } catch (err) {
    throw new TypeError(`Invalid --${flag}: ${(err as Error).message}`);
  }
  if (bytes.length < 1 || bytes.length > max) {
    throw new RangeError(
      `Invalid --${flag}: "${raw}" is ${bytes.length} bytes, not ${
        max === 1 ? "1" : `1 to ${max}`
      }`,
    );
  }
  return bytes;
}

/** A flag in seconds (decimals allowed), returned in whole milliseconds. */
function seconds(values: Values, flag: string, min: number, max: number): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const value = typeof raw === "string" && /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : NaN;
  if (Number.isNaN(value)) throw new TypeError(`Invalid --${flag}: "${raw}" is not a number`);
  if (value < min || value > max) {
    throw new RangeError(`Invalid --${flag}: "${raw}" is not between ${min} and ${max} seconds`);
  }
  return Math.max(min > 0 ? 1 : 0, Math.round(value * 1000));
}

function topHelp(table: Record<string, Command>): string {
  const lines = [
    `Usage: ${PROGRAM} <${Object.keys(table).join("|")}> [options]`,
    "",
    "Commands:",
    ...Object.values(table).map((c) => `  ${c.usage.padEnd(32)} ${c.summary}`),
    "",
    `Run "${PROGRAM} <command> --help" for a command's options.`,
    "Exit status: 0 success, 1 failed or mismatched exchange or timeout, 2 usage error.",
    "",
  ];
  return lines.join("\n");
}

function commandHelp(command: Command): string {
  const rows = Object.entries(command.flags).map(([flag, spec]) => {
    const names = `${spec.short ? `-${spec.short}, ` : ""}--${flag}${
      spec.arg ? ` ${spec.arg}` : ""
    }`;
    return `  ${names.padEnd(26)} ${spec.help}`;
  });
  return [
    `Usage: ${PROGRAM} ${command.usage}`,
    "",
    command.about,
    "",
    "Options:",
    ...rows,
    "",
  ].join("\n");
}

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

function formatApp(r: AppResult): string {
  const lines: string[] = [];
  const response = r.response;
  if (response !== null && response.serverError === undefined) {
    lines.push(response.result ?? response.text);
  }
  if (r.requests > 1 && r.latencyMs) {
    lines.push(
      `${r.requests} requests in ${r.seconds.toFixed(3)} s, latency ms: ${
        percentiles(r.latencyMs)
      }`,
    );
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

function formatUdp(r: UdpResult): string {
  const lines: string[] = [];
  if (r.received > 0 || r.mismatched > 0) lines.push(r.text);
  if (r.sent > 1) {
    lines.push(
      `${r.sent} datagrams sent, ${r.received} echoed, ${r.mismatched} mismatched, ` +
        `${r.lossPercent.toFixed(0)}% loss`,
    );
    if (r.rttMs) lines.push(`rtt min/avg/max/mdev = ${pingStats(r.rttMs)} ms`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

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

function formatClientList(r: ClientListResult): string {
  const lines = [JSON.stringify(r.clients, null, 4)];
  if (r.reads > 1) lines.push(`(${r.bytes} bytes in ${r.reads} reads)`);
  return `${lines.join("\n")}\n`;
}

function formatFrame(r: FrameResult): string {
  return r.echoed.length === 0 ? "" : `${r.echoed.join("\n")}\n`;
}

function formatThroughput(what: string, r: ThroughputResult): string {
  const lines = [
    `${r.bytes} bytes (${formatBytes(r.bytes)}) ${what} in ${r.seconds.toFixed(3)} s: ` +
    `${r.megabytesPerSecond.toFixed(2)} MB/s`,
  ];
  if (r.mismatchAt === null) lines.push("every byte matched the RFC 864 pattern");
  return `${lines.join("\n")}\n`;
}

function formatProbe(r: ProbeResult): string {
  const lines = [
    `--- ${r.address.hostname}:${r.address.port} probe statistics ---`,
    `${r.attempts} attempts, ${r.connected} connected, ${r.refused} refused, ` +
    `${r.timeouts} timeouts, ${r.errors} errors, ${r.lossPercent.toFixed(0)}% loss`,
  ];
  if (r.connectMs) lines.push(`connect min/avg/max/mdev = ${pingStats(r.connectMs)} ms`);
  return `${lines.join("\n")}\n`;
}

function percentiles(s: LatencySummary): string {
  return `p50 ${ms(s.p50)}  p90 ${ms(s.p90)}  p99 ${ms(s.p99)}  max ${ms(s.max)}`;
}

function pingStats(s: LatencySummary): string {
  return [s.min, s.avg, s.max, s.mdev].map(ms).join("/");
}

function ms(value: number): string {
  return value.toFixed(3);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n", 1)[0];
}

/** One stderr line redrawn in place for progress, erased before results print. */
interface StatusLine {
  draw(line: string): void;
  clear(): void;
}

function statusLine(io: CliIo): StatusLine {
  // CR returns to the line start, ESC [K erases to its end.
  const erase = "\r\x1b[K";
  let drawn = false;
  return {
    draw(line) {
      drawn = true;
      io.stderr(`${erase}${line}`);
    },
    clear() {
      if (drawn) io.stderr(erase);
      drawn = false;
    },
  };
}

function denoIo(): CliIo {
  const encoder = new TextEncoder();
  const writeAll = (file: typeof Deno.stdout, text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
  };
  return {
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    progress: Deno.stderr.isTerminal(),
    stdin: () => Deno.stdin.readable,
  };
}

if (import.meta.main) {
  const controller = new AbortController();
  const interrupt = () => controller.abort(new DOMException("Interrupted", "AbortError"));
  Deno.addSignalListener("SIGINT", interrupt);
  const code = await main(Deno.args, { ...denoIo(), signal: controller.signal });
  Deno.removeSignalListener("SIGINT", interrupt);
  Deno.exit(code);
}
