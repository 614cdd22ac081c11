/**
 * What the group benches (app, udp, conns) share on their command line and
 * when run on their own: the round flags and the entry's print-and-save.
 */
import { killAll } from "./_spawn.ts";

/** The flags of an A/B bench that runs rounds of timed runs. */
export interface RoundArgs {
  /** Rounds, alternating the order of the servers. @default 3 */
  rounds: number;
  /** Seconds each measured run lasts. @default 3 */
  seconds: number;
  /** Where to write the whole result as JSON. @default null */
  json: string | null;
}

/**
 * Applies `flag` to `out` if it is one of the round flags (`--rounds`,
 * `--seconds`, `--json`, `--quick`), taking its value from `value`; returns
 * false for any other flag, for the bench's own switch.
 */
export function roundFlag(out: RoundArgs, flag: string, value: () => string): boolean {
  switch (flag) {
    case "--rounds":
      out.rounds = Math.max(1, Math.round(Number(value())));
      return true;
    case "--seconds":
      out.seconds = Math.max(0.5, Number(value()));
      return true;
    case "--json":
      out.json = value();
      return true;
    case "--quick":
      out.rounds = 1;
      out.seconds = 1;
      return true;
    default:
      return false;
  }
}

/**
 * Walks `argv`, handing each flag and a getter of its value to `handle`,
 * which returns false for a flag it does not know. Throws TypeError for an
 * unknown flag or a missing value, naming the bench (`what`).
 */
export function eachFlag(
  what: string,
  argv: readonly string[],
  handle: (flag: string, value: () => string) => boolean,
): void {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const s = argv[++i];
      if (s === undefined) throw new TypeError(`Cannot run ${what}: ${flag} needs a value`);
      return s;
    };
    if (!handle(flag, value)) throw new TypeError(`Cannot run ${what}: unknown flag "${flag}"`);
  }
}

/**
 * A bench's entry when run on its own: kills its servers on Ctrl-C, prints
 * the table, writes the result to `json` when given, and ends with one JSON
 * line of the result without its runs.
 */
export async function benchMain<R extends { runs: unknown }>(
  run: () => Promise<R>,
  table: (result: R) => string,
  json: string | null,
): Promise<void> {
  Deno.addSignalListener("SIGINT", () => {
    killAll();
    Deno.exit(130);
  });
  const result = await run();
  console.log(table(result));
  if (json !== null) await Deno.writeTextFile(json, JSON.stringify(result, null, 2) + "\n");
  console.log(JSON.stringify({ ...result, runs: undefined }));
}
