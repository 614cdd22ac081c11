/**
 * Fault modes as the API takes and shows them: the modes and their bounded
 * parameters (TCP and UDP), the request body's parser, and the words that
 * describe one. Shared by the fault route, the switches in lib/net/faults.ts
 * and lib/net/udp_faults.ts, and the dashboard's fault form. Pure: no Deno.
 */

/** Which way a TCP fault acts: on the reads the endpoint does, the writes it makes, or both. */
export type FaultDirection = "in" | "out" | "both";

/** Options any TCP fault may add. */
export interface TcpFaultOptions {
  /** Share of connections the fault applies to, decided per connection at accept. @default 1 */
  probability?: number;
  /** Which way it acts (delay, drip, bandwidth, slice, reset). @default "out" */
  direction?: FaultDirection;
}

/** A TCP endpoint's fault and its parameters; `none` clears. */
export type TcpFault =
  | { mode: "none" }
  /** Hold each write `ms` milliseconds (± `jitter`, uniformly) before it goes out. */
  | ({ mode: "delay"; ms: number; jitter?: number } & TcpFaultOptions)
  /** Write `bytes` at a time, `interval` milliseconds apart. */
  | ({ mode: "drip"; bytes: number; interval: number } & TcpFaultOptions)
  /** Send FIN after `bytes` bytes written; later writes are dropped. */
  | ({ mode: "half-close"; bytes: number } & TcpFaultOptions)
  /** Stop reading and close as soon as the peer's data waits unread: the kernel sends RST. */
  | ({ mode: "close-unread" } & TcpFaultOptions)
  /** Stop reading: the kernel's receive queue fills, then the peer's send queue. */
  | ({ mode: "stall" } & TcpFaultOptions)
  /** Stop calling accept(): the accept queue fills to the backlog and new clients hang. */
  | ({ mode: "pause-accept" } & TcpFaultOptions)
  /** At most `bytesPerSecond`: a token bucket of 40 ms of them, written 20 ms at a time. */
  | ({ mode: "bandwidth"; bytesPerSecond: number } & TcpFaultOptions)
  /** Cut each write into pieces of `minBytes`..`maxBytes`, `interval` ms apart (default 0). */
  | ({ mode: "slice"; minBytes: number; maxBytes: number; interval?: number } & TcpFaultOptions)
  /** At the next write (or read, `direction: "in"`), RST without FIN. */
  | ({ mode: "reset" } & TcpFaultOptions);

/** The UDP endpoint's fault: what happens to its replies; `none` clears. */
export type UdpFault =
  | { mode: "none" }
  /** Drop `percent` of replies. */
  | { mode: "loss"; percent: number }
  /** Send `percent` of replies twice. */
  | { mode: "duplicate"; percent: number }
  /** Hold up to `window` replies and send them shuffled (held ones go after 100 ms at most). */
  | { mode: "reorder"; window: number }
  /** Hold each reply `ms` (± `jitter`, uniformly). */
  | { mode: "delay"; ms: number; jitter?: number };

/** A fault and its parameters, TCP or UDP. */
export type Fault = TcpFault | UdpFault;

/** A fault's name. */
export type FaultMode = Fault["mode"];

/** A parameter's inclusive bounds; "optional" when it may be left out. */
export type FaultParam = readonly [min: number, max: number, optional?: "optional"];

/** Every TCP mode with its integer parameters and their inclusive bounds. */
export const FAULT_PARAMS: Readonly<
  Record<TcpFault["mode"], Readonly<Record<string, FaultParam>>>
> = {
  none: {},
  delay: { ms: [0, 60_000], jitter: [0, 60_000, "optional"] },
  drip: { bytes: [1, 65_536], interval: [1, 10_000] },
  "half-close": { bytes: [0, 65_536] },
  "close-unread": {},
  stall: {},
  "pause-accept": {},
  bandwidth: { bytesPerSecond: [1, 1_000_000_000] },
  slice: { minBytes: [1, 65_536], maxBytes: [1, 65_536], interval: [0, 10_000, "optional"] },
  reset: {},
};

/** Every UDP mode with its integer parameters and their inclusive bounds. */
export const UDP_FAULT_PARAMS: Readonly<
  Record<UdpFault["mode"], Readonly<Record<string, FaultParam>>>
> = {
  none: {},
  loss: { percent: [0, 100] },
  duplicate: { percent: [0, 100] },
  reorder: { window: [2, 1024] },
  delay: { ms: [0, 60_000], jitter: [0, 60_000, "optional"] },
};

/** Every TCP mode, in the order the API documents them. */
export const FAULT_MODES = Object.keys(FAULT_PARAMS) as TcpFault["mode"][];

/** Every UDP mode, in the order the API documents them. */
export const UDP_FAULT_MODES = Object.keys(UDP_FAULT_PARAMS) as UdpFault["mode"][];

/** The directions a TCP fault takes. */
export const FAULT_DIRECTIONS: readonly FaultDirection[] = ["in", "out", "both"];

/** TCP modes that act on the writes by default and can act on reads with `direction`. */
export const DIRECTED_MODES: readonly FaultMode[] = [
  "delay",
  "drip",
  "bandwidth",
  "slice",
  "reset",
];

const OPTIONS = ["probability", "direction"];

/**
 * Checks a fault body (`{"mode": "delay", "ms": 200}`) for a TCP endpoint,
 * or with `transport` "udp" for the UDP one, and returns the fault; throws
 * TypeError or RangeError with a message fit for a 400.
 */
export function parseFault(body: Record<string, unknown>, transport: "tcp" | "udp" = "tcp"): Fault {
  const table: Readonly<Record<string, Readonly<Record<string, FaultParam>>>> = transport === "tcp"
    ? FAULT_PARAMS
    : UDP_FAULT_PARAMS;
  const modes = Object.keys(table);
  const mode = body.mode;
  if (typeof mode !== "string" || !Object.hasOwn(table, mode)) {
    throw new TypeError(
      `Cannot parse fault: "mode" must be one of ${modes.join(", ")}${
        transport === "udp" ? " on a UDP endpoint" : ""
      }: ${JSON.stringify(mode) ?? "missing"}`,
    );
  }
  const params = table[mode];
  const names = Object.keys(params);
  const options = transport === "tcp" && mode !== "none" ? OPTIONS : [];
  for (const key of Object.keys(body)) {
    if (key !== "mode" && !Object.hasOwn(params, key) && !options.includes(key)) {
      const takes = [...names, ...options];
      throw new TypeError(
        `Cannot parse fault: "${key}" does not apply to mode "${mode}" (${
          takes.length === 0 ? "it takes no parameters" : `it takes ${takes.join(", ")}`
        })`,
      );
    }
  }
  const out: Record<string, unknown> = { mode };
  for (const [name, [min, max, optional]] of Object.entries(params)) {
    const v = body[name];
    if (v === undefined || v === null) {
      if (optional) continue;
      throw new TypeError(
        `Cannot parse fault: mode "${mode}" needs "${name}", an integer in ${min}..${max}`,
      );
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      throw new RangeError(
        `Cannot parse fault: "${name}" must be an integer in ${min}..${max}: ${JSON.stringify(v)}`,
      );
    }
    out[name] = v;
  }
  if (mode === "slice" && (out.minBytes as number) > (out.maxBytes as number)) {
    throw new RangeError(
      `Cannot parse fault: "minBytes" must not exceed "maxBytes": ${out.minBytes} > ${out.maxBytes}`,
    );
  }
  const p = body.probability;
  if (options.length > 0 && p !== undefined && p !== null) {
    if (typeof p !== "number" || !(p >= 0 && p <= 1)) {
      throw new RangeError(
        `Cannot parse fault: "probability" must be a number in 0..1: ${JSON.stringify(p)}`,
      );
    }
    out.probability = p;
  }
  const d = body.direction;
  if (options.length > 0 && d !== undefined && d !== null) {
    if (typeof d !== "string" || !(FAULT_DIRECTIONS as readonly string[]).includes(d)) {
      throw new TypeError(
        `Cannot parse fault: "direction" must be one of ${FAULT_DIRECTIONS.join(", ")}: ${
          JSON.stringify(d)
        }`,
      );
    }
    out.direction = d;
  }
  return out as Fault;
}

/**
 * Which way a TCP fault acts: a directed mode's `direction`, else "out";
 * stall and close-unread always act on reads, half-close and pause-accept on
 * the writes and the accepts.
 */
export function faultDirection(fault: Fault): FaultDirection {
  if (fault.mode === "stall" || fault.mode === "close-unread") return "in";
  if (!DIRECTED_MODES.includes(fault.mode)) return "out";
  return ("direction" in fault ? fault.direction : undefined) ?? "out";
}

/** Describes a fault in a few words, for the packet log, the API and the banner. */
export function describeFault(fault: Fault): string {
  const base = describeMode(fault);
  const extra: string[] = [];
  if ("direction" in fault && fault.direction !== undefined) {
    if (fault.mode === "reset") {
      // Said by the mode's own words.
    } else if (DIRECTED_MODES.includes(fault.mode)) {
      extra.push(
        fault.direction === "both"
          ? "reads and writes"
          : fault.direction === "in"
          ? "on reads"
          : "on writes",
      );
    } else extra.push(`direction ${fault.direction} does not change this mode`);
  }
  if ("probability" in fault && fault.probability !== undefined && fault.probability !== 1) {
    extra.push(`${Math.round(fault.probability * 1000) / 10}% of connections`);
  }
  return extra.length === 0 ? base : `${base} (${extra.join(", ")})`;
}

function plusMinus(jitter: number | undefined): string {
  return jitter ? ` ± ${jitter}` : "";
}

function describeMode(fault: Fault): string {
  switch (fault.mode) {
    case "none":
      return "no fault";
    case "delay":
      return `delay ${fault.ms}${plusMinus(fault.jitter)} ms before each write`;
    case "drip":
      return `drip ${fault.bytes} B every ${fault.interval} ms`;
    case "half-close":
      return `half-close after ${fault.bytes} B`;
    case "close-unread":
      return "close with unread data (RST)";
    case "stall":
      return "stall (stop reading)";
    case "pause-accept":
      return "pause accept";
    case "bandwidth":
      return `bandwidth ${fault.bytesPerSecond} B/s`;
    case "slice":
      return `slice writes into ${fault.minBytes}..${fault.maxBytes} B pieces${
        fault.interval ? ` ${fault.interval} ms apart` : ""
      }`;
    case "reset":
      return `reset (RST without FIN) at the next ${
        fault.direction === "in" ? "read" : fault.direction === "both" ? "read or write" : "write"
      }`;
    case "loss":
      return `drop ${fault.percent}% of replies`;
    case "duplicate":
      return `send ${fault.percent}% of replies twice`;
    case "reorder":
      return `reorder replies in windows of ${fault.window}`;
    default: {
      const unreachable: never = fault;
      throw new TypeError(`Unknown fault: ${JSON.stringify(unreachable)}`);
    }
  }
}
