/**
 * The system-wide counters the diagnoses read: TcpExt from /proc/net/netstat
 * and Udp from /proc/net/snmp (both "Name: keys" / "Name: values" line
 * pairs), and the ephemeral port range. The file reader is injected.
 */
import type { NetCounters } from "../diagnoses/types.ts";

/** Counters by group and name, e.g. `TcpExt.ListenOverflows`. */
export type ProcCounterGroups = Record<string, Record<string, number>>;

/**
 * Parses the paired header/value lines of /proc/net/netstat or /proc/net/snmp; with `groups`,
 * only those (the diagnoses read two of ~10 groups each second: the rest is ~100 KB of strings
 * a second for nothing).
 */
export function parseProcCounters(
  text: string,
  groups?: readonly string[],
): ProcCounterGroups {
  const out: ProcCounterGroups = {};
  const lines = text.split("\n");
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (groups !== undefined && !groups.some((g) => lines[i].startsWith(`${g}:`))) continue;
    const keys = lines[i].trim().split(/\s+/);
    const values = lines[i + 1].trim().split(/\s+/);
    const group = keys[0];
    if (!group?.endsWith(":") || values[0] !== group) {
      throw new SyntaxError(`Cannot parse counters: line ${i + 2} does not pair with "${group}"`);
    }
    const name = group.slice(0, -1);
    const table: Record<string, number> = out[name] ?? {};
    for (let k = 1; k < keys.length && k < values.length; k++) table[keys[k]] = Number(values[k]);
    out[name] = table;
  }
  return out;
}

/** Parses net.ipv4.ip_local_port_range ("32768\t60999"). */
export function parsePortRange(text: string): [number, number] {
  const [low, high] = text.trim().split(/\s+/).map(Number);
  if (!Number.isInteger(low) || !Number.isInteger(high) || low > high) {
    throw new SyntaxError(`Cannot parse the port range: "${text.trim()}"`);
  }
  return [low, high];
}

/** Options for {@linkcode readNetCounters}. */
export interface ReadNetCountersOptions {
  /** Reads a whole file as text. @default Deno.readTextFile */
  readTextFile?: (path: string) => Promise<string>;
  /** Where the files are. @default "/proc" */
  procDir?: string;
}

/** What {@linkcode readNetCounters} found: null for what it could not read. */
export interface NetCountersReading {
  counters: NetCounters | null;
  portRange: [number, number] | null;
}

/** Reads the counters and the port range; a file that cannot be read gives null, never throws. */
export async function readNetCounters(
  options: ReadNetCountersOptions = {},
): Promise<NetCountersReading> {
  const read = options.readTextFile ?? ((path: string) => Deno.readTextFile(path));
  const dir = options.procDir ?? "/proc";
  const [netstat, snmp, range] = await Promise.allSettled([
    read(`${dir}/net/netstat`).then((text) => parseProcCounters(text, ["TcpExt"])),
    read(`${dir}/net/snmp`).then((text) => parseProcCounters(text, ["Udp"])),
    read(`${dir}/sys/net/ipv4/ip_local_port_range`).then(parsePortRange),
  ]);
  let counters: NetCounters | null = null;
  if (netstat.status === "fulfilled") {
    const ext = netstat.value.TcpExt ?? {};
    const udp = snmp.status === "fulfilled" ? snmp.value.Udp ?? {} : {};
    counters = {
      listenOverflows: ext.ListenOverflows ?? 0,
      listenDrops: ext.ListenDrops ?? 0,
      delayedAcks: ext.DelayedACKs ?? 0,
      udpRcvbufErrors: udp.RcvbufErrors ?? 0,
    };
  }
  return { counters, portRange: range.status === "fulfilled" ? range.value : null };
}
