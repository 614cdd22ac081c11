/**
 * The descriptor budget: how many connections the TCP endpoints and the service's own client
 * runs may hold at once, all together, so that a flood never takes the last file descriptors.
 *
 * Every accepted or dialled connection is a descriptor. The process can hold RLIMIT_NOFILE of
 * them (Deno raises the soft limit to the hard one at start), and what the connections may use
 * is that limit less a reserve: descriptors already open at start (the runtime's, every
 * listener), one per listener for an accept that has taken a socket the loop has not counted
 * yet, the dashboard's HTTP connections, the kernel view's netlink socket and /proc files, the
 * capture files, and some slack. A connection past the budget is closed at once and counted,
 * like one past `--max-conns`; the dashboard and everything else keep their descriptors.
 */
import { parseMaxOpenFiles } from "../telemetry/process_stats.ts";

/** What the reserve is made of, in descriptors. */
export interface FdReserve {
  /** Open when the budget was set: the runtime's own, the listeners, the UDP sockets. */
  open: number;
  /** One per listening socket: an accept can hold a socket before the loop counts it. */
  accepts: number;
  /** The dashboard's HTTP connections (its cap, or a quarter of what is left when less). */
  dashboard: number;
  /** The kernel view's netlink socket and /proc/net files. */
  kernel: number;
  /** Capture files being written and downloaded. */
  capture: number;
  /** Everything else now and then: /proc reads for /metrics, static files, a log line. */
  slack: number;
}

/** Inputs of {@linkcode planFdBudget}. */
export interface FdBudgetInput {
  /** The descriptor limit (soft RLIMIT_NOFILE). */
  limit: number;
  /** Descriptors open now, listeners included. */
  open: number;
  /** Listening sockets of every TCP endpoint. */
  listeners: number;
  /** Dashboard connections the HTTP server allows at once. @default 256 */
  httpMaxConns?: number;
  /** Whether the kernel view is on. @default true */
  kernel?: boolean;
  /** Whether capture files are written (`--capture-dir`). @default false */
  captureFiles?: boolean;
  /** Descriptors kept for the rest. @default 32 */
  slack?: number;
  /** The whole reserve, instead of the sum of its parts (tests, a host with other needs). */
  reserve?: number;
}

/** The budget as planned: the limit, the reserve and its parts, and the connections left. */
export interface FdBudgetPlan {
  /** The descriptor limit. */
  limit: number;
  /** Where the limit comes from: "/proc/self/limits", "option", or "assumed: <why>". */
  limitSource: string;
  /** Descriptors kept out of the budget. */
  reserve: number;
  /** The reserve's parts; null when given whole. */
  reserved: FdReserve | null;
  /** Connections all TCP endpoints and client runs may hold together. */
  budget: number;
}

/** Descriptors per kernel-view read at once: the netlink socket, or /proc/net/{tcp,tcp6,udp,udp6}. */
const KERNEL_FDS = 4;
/** Capture files at once: the one written, the one rotated out, two downloads. */
const CAPTURE_FDS = 4;
/** The dashboard keeps at least this many even when the limit is tiny. */
const MIN_DASHBOARD_FDS = 8;

/**
 * Plans the budget. Pure. The dashboard is reserved its whole connection cap when the limit
 * allows; on a small limit it gets a quarter of what the fixed parts leave (at least 8), so
 * the endpoints keep the rest rather than nothing.
 */
export function planFdBudget(
  input: FdBudgetInput,
  limitSource = "option",
): FdBudgetPlan {
  const { limit, open, listeners } = input;
  for (const [name, value] of [["limit", limit], ["open", open], ["listeners", listeners]]) {
    if (!Number.isSafeInteger(value) || (value as number) < 0) {
      throw new RangeError(`Cannot plan the descriptor budget: ${name} "${value}" is not a count`);
    }
  }
  if (input.reserve !== undefined) {
    if (!Number.isSafeInteger(input.reserve) || input.reserve < 0) {
      throw new RangeError(
        `Cannot plan the descriptor budget: reserve "${input.reserve}" is not a count`,
      );
    }
    return {
      limit,
      limitSource,
      reserve: input.reserve,
      reserved: null,
      budget: Math.max(0, limit - input.reserve),
    };
  }
  const httpMaxConns = input.httpMaxConns ?? 256;
  const kernel = input.kernel === false ? 0 : KERNEL_FDS;
  const capture = input.captureFiles ? CAPTURE_FDS : 0;
  const slack = input.slack ?? 32;
  const fixed = open + listeners + kernel + capture + slack;
  const left = Math.max(0, limit - fixed);
  const dashboard = Math.min(httpMaxConns, Math.max(MIN_DASHBOARD_FDS, Math.floor(left / 4)));
  const reserve = fixed + dashboard;
  return {
    limit,
    limitSource,
    reserve,
    reserved: { open, accepts: listeners, dashboard, kernel, capture, slack },
    budget: Math.max(0, limit - reserve),
  };
}

/** The budget's figures as `/api/endpoints` shows them. */
export interface FdBudgetSnapshot extends FdBudgetPlan {
  /** Connections open now, counted against the budget. */
  used: number;
  /** Connections refused because the budget was spent. */
  refused: number;
  /** Accepts that failed with EMFILE or ENFILE (the process or the system out of descriptors). */
  exhausted: number;
}

/**
 * The running count against the budget, shared by every TCP endpoint and the client runs.
 * Until {@linkcode FdBudget.set} it has no limit: the service sets it once its listeners are
 * bound, before any accept can run.
 */
export class FdBudget {
  /** Connections open now, counted against the budget. */
  used = 0;
  /** Connections refused because the budget was spent. */
  refused = 0;
  /** Accepts that failed with EMFILE or ENFILE. */
  exhausted = 0;
  #plan: FdBudgetPlan | null = null;

  /** The plan in force; null before {@linkcode FdBudget.set}. */
  get plan(): FdBudgetPlan | null {
    return this.#plan;
  }

  /** Connections allowed at once: Infinity before a plan is set. */
  get budget(): number {
    return this.#plan?.budget ?? Infinity;
  }

  /** Puts a plan in force. */
  set(plan: FdBudgetPlan): void {
    this.#plan = plan;
  }

  /** Takes one connection's share; false (and counted) when the budget is spent. */
  acquire(): boolean {
    if (this.used >= this.budget) {
      this.refused++;
      return false;
    }
    this.used++;
    return true;
  }

  /** Gives back one connection's share. */
  release(): void {
    if (this.used > 0) this.used--;
  }

  /** Plain data for the API; null fields before a plan is set. */
  toJSON(): FdBudgetSnapshot | null {
    if (this.#plan === null) return null;
    return { ...this.#plan, used: this.used, refused: this.refused, exhausted: this.exhausted };
  }
}

/** Whether an error is EMFILE or ENFILE: the process, or the whole system, out of descriptors. */
export function fdExhaustion(err: unknown): "emfile" | "enfile" | null {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : "";
  if (code === "EMFILE" || message.includes("(os error 24)")) return "emfile";
  if (code === "ENFILE" || message.includes("(os error 23)")) return "enfile";
  return null;
}

/** What {@linkcode readFdLimit} found. */
export interface FdLimitReading {
  limit: number;
  source: string;
}

/** The limit assumed when /proc/self/limits cannot be read: Linux's usual soft default. */
export const ASSUMED_FD_LIMIT = 1024;
// What "unlimited" means on Linux: fs.nr_open's default, the most a process can ever hold.
const NR_OPEN = 1_048_576;

function readable(path: string): boolean {
  // Asking first keeps Deno from prompting on a terminal when --allow-read was not given.
  return Deno.permissions.querySync?.({ name: "read", path }).state === "granted";
}

/**
 * The process's soft descriptor limit from /proc/self/limits; without /proc or the permission
 * to read it, {@linkcode ASSUMED_FD_LIMIT} with the reason.
 */
export function readFdLimit(): FdLimitReading {
  const path = "/proc/self/limits";
  if (!readable(path)) {
    return { limit: ASSUMED_FD_LIMIT, source: `assumed: no --allow-read for ${path}` };
  }
  try {
    const soft = parseMaxOpenFiles(Deno.readTextFileSync(path));
    if (soft === null) {
      return { limit: ASSUMED_FD_LIMIT, source: `assumed: no "Max open files" in ${path}` };
    }
    return { limit: Number.isFinite(soft) ? soft : NR_OPEN, source: path };
  } catch (err) {
    return {
      limit: ASSUMED_FD_LIMIT,
      source: `assumed: cannot read ${path}: ${err instanceof Error ? err.message : err}`,
    };
  }
}

/** Descriptors open now, from /proc/self/fd; null without /proc or the permission to read it. */
export function countOpenFds(): number | null {
  const path = "/proc/self/fd";
  if (!readable(path)) return null;
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(path)) n++;
    // The listing's own descriptor is among the entries.
    return Math.max(0, n - 1);
  } catch {
    return null;
  }
}
