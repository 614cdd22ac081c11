/**
 * One table of options per program: each option declares its flag, its type
 * and bounds, its default, its help and where its value goes in the typed
 * result. The same table parses the command line ({@linkcode parseOptions})
 * and writes the help ({@linkcode formatOptions}), so a flag is written once.
 *
 * Errors are {@linkcode OptionError}s naming the flag (`--chunk`) as data.
 *
 * @module
 */
import { parseFramingBytes } from "../protocol/framing.ts";
import { OptionError } from "./option_error.ts";

/** A function, array or byte view: values, not records to descend into. */
type Opaque = readonly unknown[] | ArrayBufferView | ((...args: never[]) => unknown);

/**
 * The keys of `T` (dotted for nested records, three levels at most) whose
 * field accepts a value of type `V`: where an option producing `V` may write.
 * With `Narrow`, fields of a narrower type qualify too (`"text" | "json"` for
 * an enum's string).
 */
export type PathTo<T, V, Narrow = false, Depth extends unknown[] = []> = Depth["length"] extends 3
  ? never
  : {
    [K in keyof T & string]-?: [V] extends [NonNullable<T[K]>] ? K
      : Narrow extends true ? [NonNullable<T[K]>] extends [V] ? K : Descend<T, K, V, Narrow, Depth>
      : Descend<T, K, V, Narrow, Depth>;
  }[keyof T & string];

type Descend<T, K extends keyof T & string, V, Narrow, Depth extends unknown[]> =
  NonNullable<T[K]> extends Opaque ? never
    : NonNullable<T[K]> extends object
      ? `${K}.${PathTo<NonNullable<T[K]>, V, Narrow, [...Depth, unknown]>}`
    : never;

/** What every option declares. */
interface OptionBase<P> {
  /** The flag without its dashes: `max-conns` for `--max-conns`. */
  name: string;
  /** A one-letter alias: `h` for `-h`. */
  short?: string;
  /** The value's placeholder in the help: `N`, `<secs>`. @default "" (an enum: its choices) */
  arg?: string;
  /**
   * The help, wrapped to the table's width ("\n" breaks a line where it
   * stands). `{default}` stands for the default; without it, ` (default X)`
   * ends the help when there is one.
   */
  help: string;
  /** Where the value goes in the result: a key, or a dotted path (`service.chat.history`). */
  to: P;
}

/** A whole number, `min` to `max` if given, else any non-negative integer. */
export interface IntOption<T> extends OptionBase<PathTo<T, number>> {
  type: "int";
  /** Smallest value accepted. */
  min?: number;
  /** Largest value accepted. */
  max?: number;
  /** The value when the flag is absent, in the flag's unit. */
  default?: number;
  /** Multiplies the value into the result's unit (1000: seconds to ms). @default 1 */
  scale?: number;
  /** A further check on the value: the reason it is wrong, or undefined when it is fine. */
  check?: (value: number) => string | undefined;
}

/** A duration in seconds, decimals allowed, `min` to `max`; the result is whole milliseconds. */
export interface SecondsOption<T> extends OptionBase<PathTo<T, number>> {
  type: "seconds";
  /** Fewest seconds accepted. */
  min: number;
  /** Most seconds accepted. */
  max: number;
}

/** Any text the check accepts. */
export interface StringOption<T> extends OptionBase<PathTo<T, string>> {
  type: "string";
  /** The value when the flag is absent. */
  default?: string;
  /** A check on the value: the reason it is wrong, or undefined when it is fine. */
  check?: (value: string) => string | undefined;
}

/** One of a few words. */
export interface EnumOption<T> extends OptionBase<PathTo<T, string, true>> {
  type: "enum";
  /** The words accepted. */
  choices: readonly string[];
  /** The value when the flag is absent. */
  default?: string;
}

/** A switch without a value: true when given (false when `negate`, as `--no-kernel`). */
export interface BooleanOption<T> extends OptionBase<PathTo<T, boolean>> {
  type: "boolean";
  /** The flag turns something off: the result is false when given, true when absent. */
  negate?: boolean;
  /**
   * Given, no other value is read (they are left undefined): `--help` shows the
   * help even next to a bad value. @default false
   */
  stops?: boolean;
}

/** Names, from repeating the flag or separating them with commas; [] when absent. */
export interface ListOption<T> extends OptionBase<PathTo<T, string[]>> {
  type: "list";
  /** Rewrites each item before the check (trimmed already). @default as given */
  normalize?: (item: string) => string;
  /** A check on each item: the reason it is wrong, or undefined when it is fine. */
  check?: (item: string) => string | undefined;
}

/** Bytes written with escapes (`\n`, `\xHH`, …), 1 to `maxLength` of them. */
export interface BytesOption<T> extends OptionBase<PathTo<T, Uint8Array>> {
  type: "bytes";
  /** Most bytes accepted. */
  maxLength: number;
}

/** Exactly one byte, written as a character or an escape; the result is its value. */
export interface ByteOption<T> extends OptionBase<PathTo<T, number>> {
  type: "byte";
}

/** One option of a table whose values make a `T`. */
export type Option<T> =
  | IntOption<T>
  | SecondsOption<T>
  | StringOption<T>
  | EnumOption<T>
  | BooleanOption<T>
  | ListOption<T>
  | BytesOption<T>
  | ByteOption<T>;

/** A program's options, in the order its help lists them. */
export type OptionTable<T> = readonly Option<T>[];

/** Options of {@linkcode parseOptions}. */
export interface ParseOptions {
  /** Accept arguments that are not options; else they are a usage error. @default false */
  positionals?: boolean;
}

/** A parsed command line: the typed values and the other arguments. */
export interface ParsedOptions<T> {
  /** Every option's value at its `to`: the default, or undefined, when the flag is absent. */
  values: T;
  /** The arguments that are not options, in order. */
  positionals: string[];
}

/**
 * Parses `args` by `table`: `--name value`, `--name=value`, `-h`, and `--`
 * before arguments that start with a dash. Throws {@linkcode OptionError}
 * naming the flag for an unknown flag, a missing value or a value out of range.
 */
export function parseOptions<T>(
  table: OptionTable<T>,
  args: readonly string[],
  options: ParseOptions = {},
): ParsedOptions<T> {
  const given = new Map<Option<T>, string[]>();
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const option = table.find((o) =>
      flag.startsWith("--")
        ? `--${o.name}` === flag
        : o.short !== undefined && `-${o.short}` === flag
    );
    if (option === undefined) {
      throw new OptionError(flag, "unknown", { message: `Unknown option: "${flag}"` });
    }
    let value: string;
    if (option.type === "boolean") {
      if (eq !== -1) {
        throw new OptionError(flag, "takes no value", {
          message: `Option "${flag}" does not take a value`,
        });
      }
      value = "";
    } else if (eq !== -1) {
      value = arg.slice(eq + 1);
    } else if (i + 1 < args.length && !args[i + 1].startsWith("-")) {
      value = args[++i];
    } else {
      throw new OptionError(flag, "missing value", {
        message: `Missing value for "${flag}" (use ${flag}=<value> for a value starting with "-")`,
      });
    }
    given.set(option, [...given.get(option) ?? [], value]);
  }
  if (positionals.length > 0 && !options.positionals) {
    throw new OptionError(positionals[0], "unexpected", {
      message: `Unexpected argument: "${positionals[0]}"`,
    });
  }
  const stopped = table.some((o) => o.type === "boolean" && o.stops && given.has(o));
  const values = {};
  for (const option of table) {
    const read = !stopped || (option.type === "boolean" && option.stops);
    setPath(values, option.to, read ? valueOf(option, given.get(option)) : undefined);
  }
  return { values: values as T, positionals };
}

/** The value of one option from what was given for it (the last one counts, but for lists). */
function valueOf<T>(option: Option<T>, given: string[] | undefined): unknown {
  const raw = given?.at(-1);
  const flag = `--${option.name}`;
  const invalid = (reason: string) => new OptionError(flag, reason);
  switch (option.type) {
    case "boolean":
      return option.negate ? raw === undefined : raw !== undefined;
    case "list": {
      const items = (given ?? []).flatMap((v) => v.split(",")).map((v) => v.trim())
        .map(option.normalize ?? ((v) => v));
      for (const item of items) {
        const reason = option.check?.(item);
        if (reason !== undefined) throw invalid(reason);
      }
      return items;
    }
    case "int": {
      if (raw === undefined) {
        return option.default === undefined ? undefined : option.default * (option.scale ?? 1);
      }
      const { min, max } = option;
      const ranged = min !== undefined && max !== undefined;
      const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (Number.isNaN(value) || (ranged && (value < min || value > max))) {
        throw invalid(
          ranged
            ? `"${raw}" is not an integer in ${min}..${max}`
            : `"${raw}" is not a non-negative integer`,
        );
      }
      const reason = option.check?.(value);
      if (reason !== undefined) throw invalid(reason);
      return value * (option.scale ?? 1);
    }
    case "seconds": {
      if (raw === undefined) return undefined;
      const value = /^\d+(\.\d+)?$|^\.\d+$/.test(raw) ? Number(raw) : NaN;
      if (Number.isNaN(value)) throw invalid(`"${raw}" is not a number`);
      if (value < option.min || value > option.max) {
        throw invalid(`"${raw}" is not between ${option.min} and ${option.max} seconds`);
      }
      // A positive minimum never rounds down to 0 ms, which would mean "no time at all".
      return Math.max(option.min > 0 ? 1 : 0, Math.round(value * 1000));
    }
    case "string": {
      if (raw === undefined) return option.default;
      const reason = option.check?.(raw);
      if (reason !== undefined) throw invalid(reason);
      return raw;
    }
    case "enum": {
      if (raw === undefined) return option.default;
      if (!option.choices.includes(raw)) throw invalid(`"${raw}" is not ${oneOf(option.choices)}`);
      return raw;
    }
    case "bytes":
    case "byte": {
      if (raw === undefined) return undefined;
      let bytes: Uint8Array;
      try {
        bytes = parseFramingBytes(raw);
      } catch (err) {
        throw invalid((err as Error).message);
      }
      const max = option.type === "byte" ? 1 : option.maxLength;
      if (bytes.length < 1 || bytes.length > max) {
        const want = max === 1 ? "1 byte" : `1 to ${max} bytes`;
        throw invalid(`"${raw}" is ${bytes.length} bytes, not ${want}`);
      }
      return option.type === "byte" ? bytes[0] : bytes;
    }
    default: {
      const unreachable: never = option;
      throw new TypeError(`Unknown option type: ${JSON.stringify(unreachable)}`);
    }
  }
}

function oneOf(choices: readonly string[]): string {
  return choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(", ")}`;
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let at = target;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1)!] = value;
}

/** Options of {@linkcode formatOptions}. */
export interface FormatOptions {
  /** Columns for the flags and their placeholders, before the help. */
  flagWidth: number;
  /** Longest line; longer help wraps under itself. @default 100 */
  lineWidth?: number;
}

/** The help's option lines: flag and placeholder, then the help with its default, wrapped. */
export function formatOptions<T>(table: OptionTable<T>, options: FormatOptions): string[] {
  const { flagWidth, lineWidth = 100 } = options;
  const indent = " ".repeat(2 + flagWidth + 1);
  return table.flatMap((option) => {
    const arg = option.arg ?? (option.type === "enum" ? option.choices.join("|") : "");
    const names = `${option.short ? `-${option.short}, ` : ""}--${option.name}${
      arg ? ` ${arg}` : ""
    }`;
    const lines = wrap(helpText(option), lineWidth - indent.length);
    return lines.map((line, i) => i === 0 ? `  ${names.padEnd(flagWidth)} ${line}` : indent + line);
  });
}

function helpText<T>(option: Option<T>): string {
  const fallback = "default" in option ? option.default : undefined;
  if (option.help.includes("{default}")) return option.help.replace("{default}", `${fallback}`);
  return fallback === undefined ? option.help : `${option.help} (default ${fallback})`;
}

/** Greedy word wrap: as many words per line as fit in `width`, and a break at each "\n". */
function wrap(text: string, width: number): string[] {
  return text.split("\n").flatMap((paragraph) => {
    const lines: string[] = [];
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line !== "" && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === "" ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
    return lines;
  });
}
