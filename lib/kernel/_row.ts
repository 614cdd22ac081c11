/** Pieces shared by the /proc and netlink decoders: state and timer names, address text, port matching. */

import { type KernelState, TCP_STATES } from "../net/types.ts";

/** Keeps a row when either of its ports is wanted; called before the row is built. */
export type PortFilter = (localPort: number, remotePort: number) => boolean;

// Indexed by the kernel's TCP_* state number; 0 is not a state.
const BY_NUMBER: readonly (KernelState | undefined)[] = [undefined, ...TCP_STATES];

/** The state name for a kernel state number, or undefined for one we don't name (e.g. 13, BOUND_INACTIVE). */
export function stateName(transport: "tcp" | "udp", code: number): KernelState | undefined {
  // A UDP socket is TCP_CLOSE until connect(); ss prints that as UNCONN.
  if (transport === "udp" && code === 7) return "UNCONN";
  return BY_NUMBER[code];
}

// ss's names for the kernel's timer kinds (0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe).
const TIMER_NAMES = ["off", "on", "keepalive", "timewait", "persist"];

/** The name ss prints for a kernel timer kind. */
export function timerName(code: number): string {
  return TIMER_NAMES[code] ?? "unknown";
}

/** Dotted-quad text for an IPv4 address given as four bytes in network order. */
export function formatIPv4(a: number, b: number, c: number, d: number): string {
  return `${a}.${b}.${c}.${d}`;
}

/**
 * RFC 5952 text for the IPv6 address in `bytes[offset..offset+16]` (network order): lowercase,
 * the longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. This is
 * what Deno prints for `Deno.NetAddr.hostname`, so rows join with Deno's own addresses; glibc's
 * inet_ntop (and so ss) also prints the long-deprecated IPv4-compatible `::a.b.c.d` form.
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  let zeroPrefix = true;
  for (let i = 0; i < 10; i++) {
    if (bytes[offset + i] !== 0) {
      zeroPrefix = false;
      break;
    }
  }
  if (zeroPrefix && bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff) {
    return "::ffff:" + formatIPv4(
      bytes[offset + 12],
      bytes[offset + 13],
      bytes[offset + 14],
      bytes[offset + 15],
    );
  }
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let g = 0; g < 8; g++) {
    const zero = bytes[offset + 2 * g] === 0 && bytes[offset + 2 * g + 1] === 0;
    if (zero) {
      if (runStart < 0) runStart = g;
      if (g - runStart + 1 > bestLen) {
        bestStart = runStart;
        bestLen = g - runStart + 1;
      }
    } else {
      runStart = -1;
    }
  }
  let text = "";
  for (let g = 0; g < 8; g++) {
    if (g === bestStart) {
      text += "::";
      g += bestLen - 1;
      continue;
    }
    if (text !== "" && !text.endsWith(":")) text += ":";
    text += ((bytes[offset + 2 * g] << 8) | bytes[offset + 2 * g + 1]).toString(16);
  }
  return text;
}

/** Memoises address text by the address's 32-bit words, since a socket table repeats few addresses. */
export class AddressNames {
  #v4 = new Map<number, string>();
  // One entry per last word is enough: a host has few IPv6 addresses.
  #v6 = new Map<number, [number, number, number, string]>();

  /** Text of the IPv4 address in `bytes[offset..offset+4]` (network order). */
  ipv4(bytes: Uint8Array, offset: number): string {
    const key = wordAt(bytes, offset);
    let name = this.#v4.get(key);
    if (name === undefined) {
      name = formatIPv4(bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]);
      this.#v4.set(key, name);
    }
    return name;
  }

  /** Text of the IPv6 address in `bytes[offset..offset+16]` (network order), as {@linkcode formatIPv6}. */
  ipv6(bytes: Uint8Array, offset: number): string {
    const w0 = wordAt(bytes, offset);
    const w1 = wordAt(bytes, offset + 4);
    const w2 = wordAt(bytes, offset + 8);
    const w3 = wordAt(bytes, offset + 12);
    const hit = this.#v6.get(w3);
    if (hit !== undefined && hit[0] === w0 && hit[1] === w1 && hit[2] === w2) return hit[3];
    const name = formatIPv6(bytes, offset);
    this.#v6.set(w3, [w0, w1, w2, name]);
    return name;
  }
}

function wordAt(bytes: Uint8Array, offset: number): number {
  return (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) |
    (bytes[offset + 3] << 24)) >>> 0;
}

/**
 * The ports sorted and distinct, for a filter; throws a TypeError or RangeError naming the
 * first bad one, with `doing` saying what failed (e.g. "sample the kernel table").
 */
export function sortedPorts(ports: readonly number[], doing: string): number[] {
  if (!Array.isArray(ports)) {
    throw new TypeError(`Cannot ${doing}: ports "${ports}" is not an array`);
  }
  for (const port of ports) {
    if (typeof port !== "number" || !Number.isInteger(port)) {
      throw new TypeError(`Cannot ${doing}: port "${port}" is not an integer`);
    }
    if (port < 0 || port > 65535) {
      throw new RangeError(`Cannot ${doing}: port "${port}" is not in 0-65535`);
    }
  }
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** A filter keeping rows whose local or remote port is in `ports`. */
export function portFilter(ports: Iterable<number>): PortFilter {
  const wanted = new Uint8Array(65536);
  for (const port of ports) wanted[port] = 1;
  return function hasWantedPort(localPort, remotePort) {
    return wanted[localPort] === 1 || wanted[remotePort] === 1;
  };
}
