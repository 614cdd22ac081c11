/**
 * One connection's payloads, whole and in order, read from the full-payload
 * capture: what a "Follow TCP stream" view shows, bounded per answer.
 */
import type { CaptureRing } from "./capture_ring.ts";
import type { PacketDir } from "./packet_log.ts";

/** One read or write as {@linkcode connStream} returns it. */
export interface StreamRecord {
  /** The record's seq in the capture: pass it as `after` to read on. */
  seq: number;
  /** Epoch milliseconds. */
  ts: number;
  dir: PacketDir;
  /** Bytes of this direction before this record (mod 2^32, like a TCP sequence number). */
  offset: number;
  len: number;
  /** Base64 of the whole payload. */
  data: string;
}

/** Bytes per direction. */
export interface DirBytes {
  in: number;
  out: number;
}

/** A connection's stream as the capture holds it. */
export interface ConnStream {
  /** Some of the connection's bytes are no longer in the capture (`lost` is not zero). */
  evicted: boolean;
  /** Bytes read and written that the capture no longer holds: its beginning, evicted. */
  lost: DirBytes;
  /** What the capture holds of the connection, whatever `after` and the bounds. */
  total: DirBytes & { records: number };
  /** More records follow the last one returned: ask again with `after` its seq. */
  truncated: boolean;
  records: StreamRecord[];
}

/** Options of {@linkcode connStream}. */
export interface ConnStreamOptions {
  /** Only records with a larger seq. */
  after?: number;
  /** Records returned at most. @default 10000 */
  limit?: number;
  /** Payload bytes returned at most; one record is returned even if larger. @default 1048576 */
  maxBytes?: number;
  /**
   * The connection's own counters: every byte it read and wrote. With them
   * `lost` is exact; without, it is read from the records' offsets, which
   * miss what a UDP flow sent before the capture forgot it.
   */
  counted?: { bytesIn: number; bytesOut: number };
}

/** Reads connection (or UDP flow) `conn`'s payloads from `ring`, oldest first. */
export function connStream(
  ring: CaptureRing,
  conn: string,
  options: ConnStreamOptions = {},
): ConnStream {
  const { after = -1, limit = 10_000, maxBytes = 1 << 20, counted } = options;
  const total = { records: 0, in: 0, out: 0 };
  // Where each direction's next byte should start; a record starting later follows a gap.
  const expected = { in: 0, out: 0 };
  const gaps = { in: 0, out: 0 };
  const records: StreamRecord[] = [];
  let bytes = 0;
  let truncated = false;
  ring.readConn(conn, (rec, seq) => {
    if (rec.kind !== "in" && rec.kind !== "out") return;
    const dir = rec.kind;
    const len = rec.payload.length;
    const offset = dir === "in" ? rec.offIn : rec.offOut;
    total.records++;
    total[dir] += len;
    // An echo whose read was evicted is never visited, so gaps are not only at the start.
    gaps[dir] += (offset - expected[dir]) >>> 0;
    expected[dir] = (offset + len) >>> 0;
    if (seq <= after || truncated) return;
    if (records.length >= limit || (records.length > 0 && bytes + len > maxBytes)) {
      truncated = true;
      return;
    }
    records.push({ seq, ts: rec.ts, dir, offset, len, data: rec.payload.toBase64() });
    bytes += len;
  });
  const lost = counted === undefined ? gaps : {
    in: Math.max(0, counted.bytesIn - total.in),
    out: Math.max(0, counted.bytesOut - total.out),
  };
  return { evicted: lost.in + lost.out > 0, lost, total, truncated, records };
}
