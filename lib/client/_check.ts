/**
 * Option checks shared by the clients: TypeError for the wrong type, and for
 * the range an {@linkcode OptionError} (a RangeError) naming the option, so the
 * CLI can name the flag it came from.
 */
import { OptionError } from "../options/option_error.ts";
import { defaultDial } from "./_conn.ts";
import type { Dial } from "./types.ts";

/** The options every TCP client resolves the same way. */
export interface ResolvedTcpOptions {
  hostname: string;
  port: number;
  signal: AbortSignal;
  dial: Dial;
}

/** Checks host and port and fills in the loopback host, the default port, a signal and `Deno.connect`. */
export function resolveTcpOptions(
  options: { hostname?: string; port?: number; signal?: AbortSignal; dial?: Dial },
  defaultPort: number,
): ResolvedTcpOptions {
  return {
    hostname: checkHostname(options.hostname ?? "127.0.0.1"),
    port: checkPort(options.port ?? defaultPort),
    signal: options.signal ?? new AbortController().signal,
    dial: options.dial ?? defaultDial,
  };
}

/** Checks a port to connect to: an integer from 1 to 65535. */
export function checkPort(port: number, name = "port"): number {
  return checkInteger(port, name, 1, 65535);
}

/** Checks that `value` is an integer within [min, max]. */
export function checkInteger(value: number, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`Invalid ${name}: "${value}" is not an integer`);
  }
  return checkRange(value, name, min, max);
}

/** Checks that `value` is a finite number within [min, max]. */
export function checkNumber(value: number, name: string, min: number, max: number): number {
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`Invalid ${name}: "${value}" is not a number`);
  }
  return checkRange(value, name, min, max);
}

/** Checks that `value` is a non-empty string. */
export function checkHostname(value: string, name = "hostname"): string {
  if (typeof value !== "string") throw new TypeError(`Invalid ${name}: "${value}" is not a string`);
  if (value.length === 0) throw new RangeError(`Invalid ${name}: "" is empty`);
  return value;
}

function checkRange(value: number, name: string, min: number, max: number): number {
  if (value < min || value > max) {
    throw new OptionError(name, `"${value}" is not between ${min} and ${max}`);
  }
  return value;
}
