/**
 * What a CLI command is: its usage, its option table (parsed and shown by
 * `lib/options`), and a `prepare` that checks the arguments and returns the
 * run. `cli.ts` lists the commands and dispatches on the name.
 *
 * @module
 */
import type { IntOption, OptionTable, SecondsOption } from "../options/option_table.ts";
import { resolveTcpOptions } from "../client/_check.ts";
import type { CliIo } from "./io.ts";

/** How the CLI is spelled in messages and help. */
export const PROGRAM = "deno task client";

/** Exit codes, as scripts see them. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** What a command's run gets besides its options. */
export interface CommandContext {
  /** Where to write, what stops the run. */
  io: CliIo;
  /** Draws a progress line on stderr; null when stderr is not a terminal. */
  progress: ((line: string) => void) | null;
  /** `--json`: one JSON object on stdout, nothing printed live. */
  json: boolean;
}

/** What a run ends with. */
export interface CommandOutcome {
  /** The exchange succeeded. */
  ok: boolean;
  /** Why it did not. */
  error?: string;
  /** Plain data printed with --json. */
  json: object;
  /** Text printed on stdout without --json. */
  text: string;
}

/** One command; `V` is what its option table parses into. */
export interface Command<V> {
  /** The name typed after the program. */
  name: string;
  /** `echo [options] <message>`. */
  usage: string;
  /** One line for the top-level help. */
  summary: string;
  /** A paragraph for the command's help. */
  about: string;
  /** The command's own options; `--host`, `--json` and `--help` follow them. */
  options: OptionTable<V>;
  /**
   * Checks the positionals and what the options do not check alone (a
   * TypeError or RangeError is a usage error), then returns the run.
   */
  prepare(values: V, positionals: string[], ctx: CommandContext): () => Promise<CommandOutcome>;
}

/** A command whatever its options: what `cli.ts`'s table holds. */
export type AnyCommand = Command<never>;

/** Erases a command's option type so the commands fit in one table. */
export function defineCommand<V>(command: Command<V>): AnyCommand {
  return command as unknown as AnyCommand;
}

/** The options every command takes after its own. */
export interface CommonValues {
  /** `--host`. */
  hostname?: string;
  /** `--json`. */
  json: boolean;
  /** `--help`. */
  help: boolean;
}

/** `--host`, `--json` and `--help`. */
export const COMMON_OPTIONS: OptionTable<CommonValues> = [
  {
    type: "string",
    name: "host",
    arg: "<host>",
    to: "hostname",
    check: (v) => v === "" ? '"" is empty' : undefined,
    help: `Host to connect to (default ${resolveTcpOptions({}, 1).hostname})`,
  },
  { type: "boolean", name: "json", to: "json", help: "Print one JSON result object on stdout" },
  { type: "boolean", name: "help", short: "h", to: "help", stops: true, help: "Show this help" },
];

/** `--port`, defaulting to the endpoint's port. */
export function portOption(port: number): IntOption<{ port?: number }> {
  return {
    type: "int",
    name: "port",
    arg: "<port>",
    to: "port",
    default: port,
    help: "Port to connect to",
  };
}

/** `--timeout` in seconds, into `timeoutMs`; `defaultMs` is the library's default, for the help. */
export function timeoutOption(
  what: string,
  defaultMs: number,
): SecondsOption<{ timeoutMs?: number }> {
  return {
    type: "seconds",
    name: "timeout",
    arg: "<secs>",
    to: "timeoutMs",
    min: 0.001,
    max: 3600,
    help: `${what} (default ${defaultMs / 1000})`,
  };
}

/** `--interval` in seconds, into `intervalMs`: the pause between attempts, as ping's `-i`. */
export function intervalOption(
  what: string,
  defaultMs: number,
): SecondsOption<{ intervalMs?: number }> {
  return {
    type: "seconds",
    name: "interval",
    arg: "<secs>",
    to: "intervalMs",
    min: 0,
    max: 3600,
    help: `Seconds between ${what} (default ${defaultMs / 1000})`,
  };
}

/** The positionals as one text, required and not empty. */
export function text(positionals: string[], what: string): string {
  if (positionals.length === 0) throw new TypeError(`Missing ${what}`);
  const joined = positionals.join(" ");
  if (joined.length === 0) throw new RangeError(`Invalid ${what}: "" is empty`);
  return joined;
}

/** Throws a usage error for any positional. */
export function noPositionals(positionals: string[]): void {
  if (positionals.length > 0) throw new TypeError(`Unexpected argument: "${positionals[0]}"`);
}
