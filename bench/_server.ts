/** What the two benchmark servers share: their flags and how they stop. */

/** Flags of bare_echo.ts and observed_echo.ts. */
export interface ServerArgs {
  /** The server exits on its own after this long, in case the orchestrator died. @default 600 */
  maxSeconds: number;
  /** observed_echo.ts only: poll the packet log like the dashboard's event stream. */
  dashboard: boolean;
  /** observed_echo.ts only: extra `ServiceOptions` as JSON, to attribute a cost. @default {} */
  serviceOptions: Record<string, unknown>;
}

/** Parses `--max-seconds N`, `--dashboard` and `--options JSON`; throws on anything else. */
export function serverArgs(args: readonly string[]): ServerArgs {
  const out: ServerArgs = { maxSeconds: 600, dashboard: false, serviceOptions: {} };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--dashboard") out.dashboard = true;
    else if (arg === "--max-seconds") {
      const n = Number(args[++i]);
      if (!Number.isFinite(n) || n <= 0) {
        throw new RangeError(`Cannot start server: --max-seconds "${args[i]}" is not positive`);
      }
      out.maxSeconds = n;
    } else if (arg === "--options") {
      out.serviceOptions = parseOptionsJson(args[++i]);
    } else throw new TypeError(`Cannot start server: unknown flag "${arg}"`);
  }
  return out;
}

/** Parses a JSON object of service options; throws SyntaxError or TypeError. */
export function parseOptionsJson(text: string | undefined): Record<string, unknown> {
  const value: unknown = JSON.parse(text ?? "");
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`Cannot use service options: "${text}" is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/**
 * On SIGTERM, SIGINT or after `maxSeconds`: runs `stop`, prints its result as
 * `{"stats":…}` on one line and exits.
 */
export function onStop(maxSeconds: number, stop: () => unknown | Promise<unknown>): void {
  let stopping = false;
  const finish = async () => {
    if (stopping) return;
    stopping = true;
    let stats: unknown = null;
    try {
      stats = await stop();
    } finally {
      console.log(JSON.stringify({ stats }));
      Deno.exit(0);
    }
  };
  Deno.addSignalListener("SIGTERM", finish);
  Deno.addSignalListener("SIGINT", finish);
  setTimeout(finish, maxSeconds * 1000);
}
