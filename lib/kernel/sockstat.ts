/** Parser for /proc/net/sockstat and /proc/net/sockstat6: socket counts per protocol, cheap to read. */

/**
 * Counters by protocol, named as the file names them, e.g.
 * `{ sockets: { used: 47 }, TCP: { inuse: 23, orphan: 1, tw: 1, alloc: 28, mem: 980 } }`
 * (`mem` counts pages).
 */
export type SockstatCounts = Record<string, Record<string, number>>;

/** Parses the text of /proc/net/sockstat or sockstat6 (lines like `TCP: inuse 23 orphan 1`). */
export function parseSockstat(text: string): SockstatCounts {
  const counts: SockstatCounts = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new SyntaxError(`Cannot parse sockstat line ${i + 1}: "${line}" has no protocol`);
    }
    const fields = line.slice(colon + 1).trim().split(/\s+/);
    if (fields.length % 2 !== 0) {
      throw new SyntaxError(
        `Cannot parse sockstat line ${i + 1}: "${line}" is not name-value pairs`,
      );
    }
    const protocol: Record<string, number> = {};
    for (let k = 0; k < fields.length; k += 2) {
      if (!/^\d+$/.test(fields[k + 1])) {
        throw new SyntaxError(
          `Cannot parse sockstat line ${i + 1}: "${fields[k + 1]}" is not a count`,
        );
      }
      protocol[fields[k]] = Number(fields[k + 1]);
    }
    counts[line.slice(0, colon)] = protocol;
  }
  return counts;
}
