/** The process's own CPU, memory and file descriptors, as Prometheus' process collector exports them. */

/** The fields of /proc/self/stat that the metrics use. */
export interface ProcStat {
  /** CPU time in user mode, clock ticks. */
  utimeTicks: number;
  /** CPU time in kernel mode, clock ticks. */
  stimeTicks: number;
  /** Virtual memory size, bytes. */
  vsizeBytes: number;
}

/** The numbers behind the process_* and JS heap families; the /proc ones are null when /proc cannot be read. */
export interface ProcessStats {
  /** User plus system CPU time, seconds. */
  cpuSeconds: number | null;
  /** Resident set size, bytes. */
  residentBytes: number;
  /** Virtual memory size, bytes. */
  virtualBytes: number | null;
  /** When the service started, Unix seconds. */
  startTimeSeconds: number;
  /** Open file descriptors. */
  openFds: number | null;
  /** The soft limit on open file descriptors; Infinity when unlimited. */
  maxFds: number | null;
  /** V8 heap in use, bytes. */
  heapUsedBytes: number;
  /** V8 heap allocated, bytes. */
  heapTotalBytes: number;
  /** Memory of C++ objects bound to JS objects (buffers), bytes. */
  externalBytes: number;
}

/** Where {@linkcode readProcessStats} reads from; tests pass fakes. */
export interface ProcessStatsOptions {
  /** Reads a whole text file. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
  /** Counts the entries of a folder. @default counting Deno.readDir */
  countEntries?: (path: string) => Promise<number>;
  /** The runtime's memory figures. @default Deno.memoryUsage */
  memoryUsage?: () => Deno.MemoryUsage;
}

// USER_HZ: the kernel reports times in /proc in units of 100 per second to user space on every
// architecture Deno runs on (sysconf(_SC_CLK_TCK) is 100), whatever its internal tick rate.
const TICKS_PER_SECOND = 100;

/**
 * Parses the text of /proc/<pid>/stat. The second field (comm, the command name) is in
 * parentheses and may itself hold spaces and ')', so the fields are counted from the last ')'.
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) {
    throw new SyntaxError(`Cannot parse /proc stat: "${text.slice(0, 80)}" has no (comm)`);
  }
  // After ")" comes field 3 (state), so field n of proc_pid_stat(5) is at index n - 3.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const field = (n: number, name: string) => {
    const value = fields[n - 3];
    if (value === undefined || !/^\d+$/.test(value)) {
      throw new SyntaxError(`Cannot parse /proc stat: ${name} "${value}" is not a count`);
    }
    return Number(value);
  };
  return {
    utimeTicks: field(14, "utime"),
    stimeTicks: field(15, "stime"),
    vsizeBytes: field(23, "vsize"),
  };
}

/** The soft "Max open files" limit from the text of /proc/<pid>/limits; Infinity when unlimited, null when absent. */
export function parseMaxOpenFiles(text: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (m === null) return null;
  return m[1] === "unlimited" ? Infinity : Number(m[1]);
}

async function countDirEntries(path: string): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(path)) n++;
  return n;
}

// Any failure to read means the number is unknown (not Linux, no permission); a file that reads
// but does not parse still throws, since that is a bug here rather than a missing /proc.
async function orNull<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch {
    return null;
  }
}

/**
 * The process's stats now. The start time is the service's own `startedAtMs` (epoch ms) rather
 * than /proc's starttime: it is the instant `sockscope_uptime_seconds` counts from, so the two
 * agree, and it needs no /proc.
 */
export async function readProcessStats(
  startedAtMs: number,
  options: ProcessStatsOptions = {},
): Promise<ProcessStats> {
  const readTextFile = options.readTextFile ?? ((path) => Deno.readTextFile(path));
  const countEntries = options.countEntries ?? countDirEntries;
  const memory = (options.memoryUsage ?? Deno.memoryUsage)();
  const [statText, limitsText, openFds] = await Promise.all([
    orNull(() => readTextFile("/proc/self/stat")),
    orNull(() => readTextFile("/proc/self/limits")),
    orNull(() => countEntries("/proc/self/fd")),
  ]);
  const stat = statText === null ? null : parseProcStat(statText);
  return {
    cpuSeconds: stat === null ? null : (stat.utimeTicks + stat.stimeTicks) / TICKS_PER_SECOND,
    residentBytes: memory.rss,
    virtualBytes: stat === null ? null : stat.vsizeBytes,
    startTimeSeconds: startedAtMs / 1000,
    openFds,
    maxFds: limitsText === null ? null : parseMaxOpenFiles(limitsText),
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
  };
}
