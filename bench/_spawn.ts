/**
 * What the extra benchmarks (udp_bench.ts, conns_bench.ts, app_bench.ts)
 * share: starting a server pinned to a core, reading the ports it prints,
 * stopping it, and reading a process's CPU time and memory from /proc.
 */
import { ENDPOINTS, PORT_ENDPOINTS } from "../lib/net/endpoint_table.ts";

/** A server started for one measurement. */
export interface Spawned {
  child: Deno.ChildProcess;
  pid: number;
  /** What the server printed first (a JSON line), or the service's parsed banner. */
  info: Record<string, unknown>;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and returns the rest of its stdout. */
  stop(): Promise<string>;
}

const root = new URL("../", import.meta.url);
const live = new Set<Deno.ChildProcess>();

/** Kills every server still running (on SIGINT or a failed run). */
export function killAll(): void {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

/** `taskset -c N` when taskset works here and the machine has 2 CPUs or more; else nothing. */
export async function pinPrefix(cpu: number): Promise<string[]> {
  if (navigator.hardwareConcurrency < 2) return [];
  try {
    const { success } = await new Deno.Command("taskset", {
      args: ["-c", String(cpu), "true"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success ? ["taskset", "-c", String(cpu)] : [];
  } catch {
    return [];
  }
}

/** The lines of a byte stream, without their newlines. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf !== "") yield buf;
}

/**
 * Starts `argv` (after the `pin` prefix) in the repository root and waits,
 * at most 20 s, until `ready` accepts what it printed so far (one line at a
 * time); `ready` returns the server's info, or null to keep reading.
 */
export async function spawnServer(
  pin: string[],
  argv: string[],
  ready: (line: string, seen: string[]) => Record<string, unknown> | null,
  env?: Record<string, string>,
): Promise<Spawned> {
  const all = [...pin, ...argv];
  const child = new Deno.Command(all[0], {
    args: all.slice(1),
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  live.add(child);
  const stderrText = new Response(child.stderr).text().catch(() => "");
  const out = lines(child.stdout);
  const seen: string[] = [];
  let info: Record<string, unknown> | null = null;
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }, 20_000);
  try {
    for await (const line of { [Symbol.asyncIterator]: () => out }) {
      seen.push(line);
      info = ready(line, seen);
      if (info !== null) break;
    }
  } finally {
    clearTimeout(timer);
  }
  if (info === null) {
    live.delete(child);
    await child.status;
    throw new Error(`Cannot start ${argv.join(" ")}: ${(await stderrText).slice(0, 2000)}`);
  }
  const rest = (async () => {
    const kept: string[] = [];
    for await (const line of { [Symbol.asyncIterator]: () => out }) kept.push(line);
    return kept.join("\n");
  })();
  const stop = async () => {
    await terminate(child, 3000);
    live.delete(child);
    await stderrText;
    return await rest.catch(() => "");
  };
  return { child, pid: child.pid, info: info as Record<string, unknown>, stop };
}

/** Sends SIGTERM, then SIGKILL if the child is still there after `graceMs`; waits for its exit. */
export async function terminate(child: Deno.ChildProcess, graceMs: number): Promise<void> {
  const kill = (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch {
      // Exited already.
    }
  };
  kill("SIGTERM");
  const killer = setTimeout(() => kill("SIGKILL"), graceMs);
  try {
    await child.status;
  } finally {
    clearTimeout(killer);
  }
}

/** The first line as JSON when it holds a port. */
export function jsonReady(line: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(line);
    return typeof v === "object" && v !== null ? v : null;
  } catch {
    return null;
  }
}

/** Options for {@linkcode spawnService}. */
export interface ServiceSpawnOptions {
  /** Extra flags for main.ts. */
  flags?: string[];
  /** Flags for `deno run` placed before the script. @default START_V8_FLAGS */
  denoFlags?: string[];
}

/** The V8 flags `deno task start` runs the service with (see deno.json). */
export const START_V8_FLAGS = ["--v8-flags=--max-semi-space-size=4"];

/**
 * Starts the real service (main.ts) as `deno task start` does, with every
 * endpoint and the dashboard on a free port; `info` maps endpoint names (and
 * `dashboard`) to ports.
 */
export function spawnService(pin: string[], options: ServiceSpawnOptions = {}): Promise<Spawned> {
  const ports = PORT_ENDPOINTS.flatMap((e) => [`--${e.name}-port`, "0"]);
  const argv = [
    Deno.execPath(),
    "run",
    "-A",
    ...(options.denoFlags ?? START_V8_FLAGS),
    "main.ts",
    "--port",
    "0",
    ...ports,
    ...(options.flags ?? []),
  ];
  const names = new Set(ENDPOINTS.map((e) => e.name));
  return spawnServer(pin, argv, (line, seen) => {
    if (!line.startsWith("  kernel view:")) return null;
    const info: Record<string, unknown> = {};
    for (const l of seen) {
      const dash = /^sockscope dashboard\s+http:\/\/[^\s]*:(\d+)\//.exec(l);
      if (dash) info.dashboard = Number(dash[1]);
      const ep = /^ {2}(\S+)\s+(tcp|udp) \S+:(\d+)/.exec(l);
      if (ep && names.has(ep[1])) info[ep[1]] = Number(ep[3]);
    }
    return info;
  });
}

/** Resident set size of `pid` in bytes, from /proc; null when unreadable. */
export function rssBytes(pid: number): number | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** utime + stime of `pid` in clock ticks; null when unreadable. */
export function cpuTicksOf(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Median of finite numbers; null when there are none. */
export function median(values: readonly (number | null)[]): number | null {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) =>
    a - b
  );
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** Runs `deno run -A script args` pinned by `pin` and returns its last stdout line as JSON. */
export async function runJson(
  pin: string[],
  script: string,
  args: string[],
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const all = [...pin, Deno.execPath(), "run", "-A", script, ...args];
  const child = new Deno.Command(all[0], {
    args: all.slice(1),
    cwd: root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone.
    }
  }, timeoutMs);
  try {
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(
        `${script} printed no result: ${new TextDecoder().decode(out.stderr).slice(0, 2000)}`,
      );
    }
  } finally {
    clearTimeout(timer);
    live.delete(child);
  }
}
