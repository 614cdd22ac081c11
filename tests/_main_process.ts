/**
 * main.ts as its own process on port 0 for every endpoint, its stdout read
 * line by line: for what only the real entry point does (the start banner,
 * --log-format, OpenTelemetry export at exit). Private to tests/.
 */
import { PORT_ENDPOINTS } from "../lib/net/endpoint_table.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** A running main.ts. */
export interface MainProcess extends AsyncDisposable {
  child: Deno.ChildProcess;
  /** The next stdout line, within `timeoutMs`; null at end of output. */
  line(timeoutMs?: number): Promise<string | null>;
  /** Sends SIGTERM and waits for the exit code (killed after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number>;
  /** Waits for the process to exit on its own; SIGKILL after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<number>;
  stderr(): Promise<string>;
}

/** How {@linkcode startMain} starts the process. */
export interface StartMainOptions {
  /** RLIMIT_NOFILE (soft and hard) of the process: prlimit where it exists, else bash's ulimit. */
  nofile?: number;
  /** Deno's permission flags for the process. @default ["-A"] */
  permissions?: string[];
  /** A command line the process runs under (e.g. `capsh --drop=…`), given the argv after it. */
  wrap?: string[];
}

function onPath(name: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // Not in this one.
    }
  }
  return null;
}

/** The command line that runs `argv` with at most `nofile` descriptors. */
function withNofile(argv: string[], nofile: number): string[] {
  const prlimit = onPath("prlimit");
  if (prlimit !== null) return [prlimit, `--nofile=${nofile}:${nofile}`, ...argv];
  return ["bash", "-c", `ulimit -n ${nofile} && exec "$0" "$@"`, ...argv];
}

/** Starts main.ts with every port 0 plus `args`, with `env` added. */
export function startMain(
  args: string[],
  env: Record<string, string> = {},
  options: StartMainOptions = {},
): MainProcess {
  const ports = PORT_ENDPOINTS.flatMap((e) => [`--${e.name}-port`, "0"]);
  let argv = [
    Deno.execPath(),
    ...[
      "run",
      ...(options.permissions ?? ["-A"]),
      MAIN,
      "--port",
      "0",
      "--no-kernel",
      ...ports,
      ...args,
    ],
  ];
  if (options.nofile !== undefined) argv = withNofile(argv, options.nofile);
  if (options.wrap !== undefined) argv = [...options.wrap, ...argv];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const errText = new Response(child.stderr).text();
  let buffered = "";
  let ended = false;
  let exited: Promise<Deno.CommandStatus> | null = null;
  async function line(timeoutMs = 10_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl !== -1) {
        const out = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return out;
      }
      if (ended) return buffered === "" ? null : (buffered = "", buffered);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No line from main.ts within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), left));
      const next = await Promise.race([lines.read(), late]);
      clearTimeout(timer);
      if (next === "late") throw new Error(`No line from main.ts within ${timeoutMs} ms`);
      if (next.done) ended = true;
      else buffered += next.value;
    }
  }
  function stop(timeoutMs = 5000): Promise<number> {
    if (exited === null) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Exited already.
      }
    }
    return exit(timeoutMs);
  }
  async function exit(timeoutMs = 10_000): Promise<number> {
    exited ??= child.status;
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, timeoutMs);
    try {
      return (await exited).code;
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    child,
    line,
    stop,
    exit,
    stderr: () => errText,
    async [Symbol.asyncDispose]() {
      await stop();
      // Read what is left so the pipes close.
      while ((await line(2000).catch(() => null)) !== null);
      await lines.cancel().catch(() => {});
      await errText;
    },
  };
}
