import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { OptionError } from "./option_error.ts";
import { formatOptions, type OptionTable, parseOptions } from "./option_table.ts";

interface Flags {
  port: number;
  timeoutMs?: number;
  net: { waitMs: number; format: "text" | "json"; names: string[]; pad?: number };
  quiet: boolean;
  help: boolean;
}

const TABLE: OptionTable<Flags> = [
  { type: "int", name: "port", arg: "N", to: "port", min: 0, max: 9, default: 8, help: "a port" },
  { type: "seconds", name: "timeout", arg: "S", to: "timeoutMs", min: 0.001, max: 60, help: "t" },
  {
    type: "int",
    name: "wait",
    arg: "S",
    to: "net.waitMs",
    min: 1,
    max: 5,
    default: 2,
    scale: 1000,
    help: "wait (default {default} s) then\ngo",
  },
  {
    type: "enum",
    name: "format",
    to: "net.format",
    choices: ["text", "json"],
    default: "text",
    help: "f",
  },
  { type: "list", name: "name", to: "net.names", normalize: (v) => v.toLowerCase(), help: "n" },
  { type: "byte", name: "pad", to: "net.pad", help: "p" },
  { type: "boolean", name: "loud", to: "quiet", negate: true, help: "l" },
  { type: "boolean", name: "help", short: "h", to: "help", stops: true, help: "h" },
];

Deno.test("parseOptions() fills every option's path with its value or default", () => {
  deepStrictEqual(parseOptions(TABLE, []).values, {
    port: 8,
    timeoutMs: undefined,
    net: { waitMs: 2000, format: "text", names: [], pad: undefined },
    quiet: true,
    help: false,
  });
  const { values, positionals } = parseOptions(
    TABLE,
    [
      "--port=3",
      "--timeout",
      "0.0014",
      "--wait",
      "5",
      "--format",
      "json",
      "--name",
      "A, b",
      "--name",
      "c",
      "--pad",
      "\\x20",
      "--loud",
      "x",
      "--",
      "-y",
    ],
    { positionals: true },
  );
  deepStrictEqual(values, {
    port: 3,
    timeoutMs: 1,
    net: { waitMs: 5000, format: "json", names: ["a", "b", "c"], pad: 0x20 },
    quiet: false,
    help: false,
  });
  deepStrictEqual(positionals, ["x", "-y"]);
});

Deno.test("parseOptions() throws an OptionError that names the flag as data", () => {
  const cases: [string[], string, string][] = [
    [["--port", "10"], "--port", 'Invalid --port: "10" is not an integer in 0..9'],
    [["--timeout", "x"], "--timeout", 'Invalid --timeout: "x" is not a number'],
    [["--format", "xml"], "--format", 'Invalid --format: "xml" is not text or json'],
    [["--pad", "ab"], "--pad", 'Invalid --pad: "ab" is 2 bytes, not 1 byte'],
    [["--nope"], "--nope", 'Unknown option: "--nope"'],
    [
      ["--port"],
      "--port",
      'Missing value for "--port" (use --port=<value> for a value starting with "-")',
    ],
    [["--loud=1"], "--loud", 'Option "--loud" does not take a value'],
    [["stray"], "stray", 'Unexpected argument: "stray"'],
  ];
  for (const [args, option, message] of cases) {
    throws(() => parseOptions(TABLE, args), (err) => {
      strictEqual(err instanceof OptionError && err.name, "RangeError");
      strictEqual((err as OptionError).option, option);
      strictEqual((err as OptionError).message, message);
      return true;
    });
  }
});

Deno.test("parseOptions() reads no other value once a stopping flag (--help) is given", () => {
  const { values } = parseOptions(TABLE, ["--port", "99", "-h"]);
  strictEqual(values.help, true);
  strictEqual(values.port, undefined);
});

Deno.test("formatOptions() writes each flag once, with its default and line breaks", () => {
  deepStrictEqual(formatOptions(TABLE.slice(0, 4), { flagWidth: 14, lineWidth: 40 }), [
    "  --port N       a port (default 8)",
    "  --timeout S    t",
    "  --wait S       wait (default 2 s) then",
    "                 go",
    "  --format text|json f (default text)",
  ]);
});
