/**
 * Fault modes as the API takes and shows them: the modes and their bounded
 * parameters, the request body's parser, and the words that describe one.
 * Shared by the fault route, the switch in lib/net/faults.ts and the
 * dashboard's fault form. Pure: no Deno.
 */

/** A fault and its parameters; `none` clears. */
export type Fault =
  | { mode: "none" }
  /** Hold each write `ms` milliseconds before it goes out. */
  | { mode: "delay"; ms: number }
  /** Write `bytes` at a time, `interval` milliseconds apart. */
  | { mode: "drip"; bytes: number; interval: number }
  /** Send FIN after `bytes` bytes written; later writes are dropped. */
  | { mode: "half-close"; bytes: number }
  /** Stop reading and close as soon as the peer's data waits unread: the kernel sends RST. */
  | { mode: "close-unread" }
  /** Stop reading: the kernel's receive queue fills, then the peer's send queue. */
  | { mode: "stall" }
  /** Stop calling accept(): the accept queue fills to the backlog and new clients hang. */
  | { mode: "pause-accept" };

/** A fault's name. */
export type FaultMode = Fault["mode"];

/** Every mode with its parameters and their inclusive bounds. */
export const FAULT_PARAMS: Readonly<Record<FaultMode, Readonly<Record<string, [number, number]>>>> =
  {
    none: {},
    delay: { ms: [0, 60_000] },
    drip: { bytes: [1, 65_536], interval: [1, 10_000] },
    "half-close": { bytes: [0, 65_536] },
    "close-unread": {},
    stall: {},
    "pause-accept": {},
  };

/** Every mode, in the order the API documents them. */
export const FAULT_MODES = Object.keys(FAULT_PARAMS) as FaultMode[];

/**
 * Checks a fault body (`{"mode": "delay", "ms": 200}`) and returns the fault;
 * throws TypeError or RangeError with a message fit for a 400.
 */
export function parseFault(body: Record<string, unknown>): Fault {
  const mode = body.mode;
  if (typeof mode !== "string" || !Object.hasOwn(FAULT_PARAMS, mode)) {
    throw new TypeError(
      `Cannot parse fault: "mode" must be one of ${FAULT_MODES.join(", ")}: ${
        JSON.stringify(mode) ?? "missing"
      }`,
    );
  }
  const params = FAULT_PARAMS[mode as FaultMode];
  const names = Object.keys(params);
  for (const key of Object.keys(body)) {
    if (key !== "mode" && !Object.hasOwn(params, key)) {
      throw new TypeError(
        `Cannot parse fault: "${key}" does not apply to mode "${mode}" (${
          names.length === 0 ? "it takes no parameters" : `it takes ${names.join(", ")}`
        })`,
      );
    }
  }
  const out: Record<string, unknown> = { mode };
  for (const [name, [min, max]] of Object.entries(params)) {
    const v = body[name];
    if (v === undefined || v === null) {
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
  return out as Fault;
}

/** Describes a fault in a few words, for the packet log and the banner. */
export function describeFault(fault: Fault): string {
  switch (fault.mode) {
    case "none":
      return "no fault";
    case "delay":
      return `delay ${fault.ms} ms before each write`;
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
    default: {
      const unreachable: never = fault;
      throw new TypeError(`Unknown fault: ${JSON.stringify(unreachable)}`);
    }
  }
}
