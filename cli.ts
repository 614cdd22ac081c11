/**
 * `deno task client <command> [options]`: the tutorial's clients, a load
 * generator, a connect probe and the lab clients, one module each under
 * `lib/cli/commands/`. Exit 0 on success, 1 on a failed or mismatched
 * exchange or a timeout, 2 on a usage error, with a one-line reason on stderr.
 *
 * @module
 */
import { type AnyCommand, COMMON_OPTIONS, EXIT, PROGRAM } from "./lib/cli/command.ts";
import { appCommand } from "./lib/cli/commands/app.ts";
import { chatCommand } from "./lib/cli/commands/chat.ts";
import { clientsCommand } from "./lib/cli/commands/clients.ts";
import { doctorCommand } from "./lib/cli/commands/doctor.ts";
import { echoCommand } from "./lib/cli/commands/echo.ts";
import { frameCommand } from "./lib/cli/commands/frame.ts";
import { multiconnCommand } from "./lib/cli/commands/multiconn.ts";
import { probeCommand } from "./lib/cli/commands/probe.ts";
import { rawFrameCommand } from "./lib/cli/commands/raw_frame.ts";
import { reverseCommand } from "./lib/cli/commands/reverse.ts";
import { sinkCommand } from "./lib/cli/commands/sink.ts";
import { chargenCommand, discardCommand } from "./lib/cli/commands/throughput.ts";
import { tlsEchoCommand, unixEchoCommand } from "./lib/cli/commands/tls_unix.ts";
import { udpCommand } from "./lib/cli/commands/udp.ts";
import { type CliIo, denoIo, statusLine } from "./lib/cli/io.ts";
import { OptionError } from "./lib/options/option_error.ts";
import { formatOptions, type OptionTable, parseOptions } from "./lib/options/option_table.ts";

/** Every command, in the order the help lists them. */
const COMMANDS: readonly AnyCommand[] = [
  echoCommand,
  multiconnCommand,
  appCommand,
  udpCommand,
  sinkCommand,
  probeCommand,
  chatCommand,
  clientsCommand,
  reverseCommand,
  frameCommand,
  discardCommand,
  chargenCommand,
  rawFrameCommand,
  tlsEchoCommand,
  unixEchoCommand,
  doctorCommand,
];

/**
 * Runs the CLI with `args` (without the program name) and resolves to the
 * exit code; never calls `Deno.exit`.
 */
export async function main(args: string[], io: CliIo = denoIo()): Promise<number> {
  const [name, ...rest] = args;
  const names = COMMANDS.map((c) => c.name);
  if (name === undefined) {
    return usageError(io, null, `Missing command: expected one of ${names.join(", ")}`);
  }
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout(topHelp());
    return EXIT.ok;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) return usageError(io, null, `Unknown command: "${name}"`);

  const table = [...command.options, ...COMMON_OPTIONS] as OptionTable<Record<string, unknown>>;
  const status = io.progress ? statusLine(io) : null;
  let run: ReturnType<AnyCommand["prepare"]>;
  let json = false;
  try {
    const { values, positionals } = parseOptions(table, rest, { positionals: true });
    const { help, json: asJson, ...options } = values;
    if (help) {
      io.stdout(commandHelp(command, table));
      return EXIT.ok;
    }
    json = asJson === true;
    const progress = status ? (line: string) => status.draw(line) : null;
    run = command.prepare(options as never, positionals, { io, progress, json });
  } catch (err) {
    if (err instanceof TypeError || err instanceof RangeError) {
      return usageError(io, name, flagNamed(err, table).message.split("\n", 1)[0]);
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
    const reason = interrupted
      ? "Interrupted"
      : (err instanceof Error ? err.message : String(err)).split("\n", 1)[0];
    if (json) io.stdout(`${JSON.stringify({ command: name, ok: false, error: reason })}\n`);
    io.stderr(`${PROGRAM} ${name}: ${reason}\n`);
    return interrupted ? EXIT.interrupted : EXIT.failed;
  }
}

/**
 * A client library names its options (`chunkSize`); on the command line they
 * were flags (`--chunk`): the table says which flag writes that option.
 */
function flagNamed(err: Error, table: OptionTable<Record<string, unknown>>): Error {
  if (!(err instanceof OptionError)) return err;
  const option = table.find((o) => o.to === err.option);
  return option === undefined ? err : new OptionError(`--${option.name}`, err.reason);
}

function usageError(io: CliIo, name: string | null, reason: string): number {
  const help = name === null ? `${PROGRAM} --help` : `${PROGRAM} ${name} --help`;
  io.stderr(`${PROGRAM}${name === null ? "" : ` ${name}`}: ${reason} (see ${help})\n`);
  return EXIT.usage;
}

function topHelp(): string {
  return [
    `Usage: ${PROGRAM} <${COMMANDS.map((c) => c.name).join("|")}> [options]`,
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(32)} ${c.summary}`),
    "",
    `Run "${PROGRAM} <command> --help" for a command's options.`,
    "Exit status: 0 success, 1 failed or mismatched exchange or timeout, 2 usage error.",
    "",
  ].join("\n");
}

function commandHelp(command: AnyCommand, table: OptionTable<Record<string, unknown>>): string {
  return [
    `Usage: ${PROGRAM} ${command.usage}`,
    "",
    command.about,
    "",
    "Options:",
    ...formatOptions(table, { flagWidth: 26, lineWidth: Infinity }),
    "",
  ].join("\n");
}

if (import.meta.main) {
  const controller = new AbortController();
  const interrupt = () => controller.abort(new DOMException("Interrupted", "AbortError"));
  Deno.addSignalListener("SIGINT", interrupt);
  const code = await main(Deno.args, { ...denoIo(), signal: controller.signal });
  Deno.removeSignalListener("SIGINT", interrupt);
  Deno.exit(code);
}
