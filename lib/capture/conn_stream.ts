/**
 * One connection's payloads, whole and in order, read from the full-payload
 * capture: what a "Follow TCP stream" view shows, bounded per answer, from
 * its beginning or (with `tail`) its latest bytes.
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
  /**
   * Bytes of this direction the capture no longer holds just before this
   * record: evicted, or an echo whose read was evicted. 0 when it holds the
   * bytes before, whether returned or left out by the bounds or `tail`.
   */
  gap: number;
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
  /**
   * With `tail`, the held records (after `after`) before the first one
   * returned, left out to fit the bounds, and their payload bytes; zero without `tail`.
   */
  skipped: { records: number; bytes: number };
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
   * Return the latest records that fit the bounds instead of the first ones,
   * oldest first, counting what was left out before them in `skipped`. @default false
   */
  tail?: boolean;
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
  const { after = -1, limit = 10_000, maxBytes = 1 << 20, tail = false, counted } = options;
  const skipped = { records: 0, bytes: 0 };
  // With tail, a first pass finds the oldest record of the latest that fit; the second returns them.
  const from = tail ? tailStart(ring, conn, after, limit, maxBytes, skipped) : after + 1;
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
    const gap = (offset - expected[dir]) >>> 0;
    gaps[dir] += gap;
    expected[dir] = (offset + len) >>> 0;
    if (seq < from || truncated) return;
    // The two pieces of a record the capture kept in part (its first bytes and its latest)
    // share a seq: `after` could not resume between them.
    const piece = records.length > 0 && records[records.length - 1].seq === seq;
    if (!piece && (records.length >= limit || (records.length > 0 && bytes + len > maxBytes))) {
      truncated = true;
      return;
    }
    records.push({ seq, ts: rec.ts, dir, offset, gap, len, data: rec.payload.toBase64() });
    bytes += len;
  });
  const lost = counted === undefined ? gaps : {
    in: Math.max(0, counted.bytesIn - total.in),
    out: Math.max(0, counted.bytesOut - total.out),
  };
  return { evicted: lost.in + lost.out > 0, lost, total, truncated, skipped, records };
}

/**
 * The seq of the oldest of the latest payload records after `after` that fit
 * `limit` and `maxBytes` (at least one, however large); counts those before
 * it into `skipped`. Keeps only the lengths of the records that still fit.
 */
function tailStart(
  ring: CaptureRing,
  conn: string,
  after: number,
  limit: number,
  maxBytes: number,
  skipped: { records: number; bytes: number },
): number {
  const seqs: number[] = [];
  const lens: number[] = [];
  let first = 0;
  let bytes = 0;
  ring.readConn(conn, (rec, seq) => {
    if ((rec.kind !== "in" && rec.kind !== "out") || seq <= after) return;
    seqs.push(seq);
    lens.push(rec.payload.length);
    bytes += rec.payload.length;
    // Drop the oldest while too many, or too large with more than the newest one kept.
    while (
      first < seqs.length &&
      (seqs.length - first > limit || (seqs.length - first > 1 && bytes > maxBytes))
    ) {
      skipped.records++;
      skipped.bytes += lens[first];
      bytes -= lens[first];
      first++;
    }
    // Drop what is no longer needed now and then, so a long stream holds about `limit` entries.
    if (first > 1024 && first * 2 > seqs.length) {
      seqs.splice(0, first);
      lens.splice(0, first);
      first = 0;
    }
  });
  return first < seqs.length ? seqs[first] : Infinity;
}
