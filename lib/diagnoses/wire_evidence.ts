/**
 * The wire view as the diagnosis rules read it: {@linkcode WireEvidence} made from the wire
 * view's per-connection queries (lib/wire/wire_view.ts) and a lookup from a socket id to its
 * 4-tuple (the socket row's). Pure: the service (lib/net/service.ts) hands in both.
 */
import type { WireConnectionSummary, WireSegment, WireTuple } from "../wire/wire_view.ts";
import { WIRE_WINDOW_MS, type WireCounts, type WireEvidence } from "./types.ts";

/** What {@linkcode wireEvidence} reads of the wire view (lib/wire/wire_view.ts `WireView`). */
export interface WireSource {
  /** False once the capture is off: the counts are then unknown (null). */
  readonly available: boolean;
  segments(tuple: WireTuple): WireSegment[];
  connection(tuple: WireTuple): WireConnectionSummary | null;
  synRetransmits(port: number, since?: number): number;
}

/** Options for {@linkcode wireEvidence}. */
export interface WireEvidenceOptions {
  /** Epoch ms. @default Date.now */
  now?: () => number;
}

/**
 * The rules' wire evidence from `wire`: a socket's counts over the last
 * {@linkcode WIRE_WINDOW_MS} of its kept segments, found by `tupleOf(socketId)` (null for a
 * socket without a 4-tuple: a listener, UDP, Unix); the RST from the whole connection.
 */
export function wireEvidence(
  wire: WireSource,
  tupleOf: (socketId: string) => WireTuple | null,
  options: WireEvidenceOptions = {},
): WireEvidence {
  const now = options.now ?? Date.now;
  return {
    counts(socketId: string): WireCounts | null {
      if (!wire.available) return null;
      const tuple = tupleOf(socketId);
      if (tuple === null) return null;
      const summary = wire.connection(tuple);
      if (summary === null) return null;
      return countSegments(wire.segments(tuple), summary, now() - WIRE_WINDOW_MS);
    },
    synRetransmits(port: number): number {
      return wire.available ? wire.synRetransmits(port, now() - WIRE_WINDOW_MS) : 0;
    },
  };
}

/**
 * Counts one connection's segments (oldest first, from our side) captured at or after `since`;
 * the RST and the bytes before it from every kept segment and the connection's summary.
 */
export function countSegments(
  segments: readonly WireSegment[],
  summary: WireConnectionSummary,
  since: number,
): WireCounts {
  const counts: WireCounts = {
    zeroWindowIn: 0,
    zeroWindowOut: 0,
    retransmissions: 0,
    keepAlivesUnanswered: 0,
    rst: summary.resetBy === "" ? null : summary.resetBy === "local" ? "out" : "in",
    bytesBeforeRst: 0,
    nagleWaits: 0,
    nagleGapMs: 0,
  };
  // Nagle: the peer's last small data segment, and when our ACK covering it went out.
  let small: { ts: number; end: number } | null = null;
  let ackedAt = -1;
  const gaps: number[] = [];
  // Highest relative sequence end of the data each side sent before the first RST: the bytes
  // sent, even where retention dropped the middle of a bulk transfer (relative seq starts at 1).
  const end = { in: 1, out: 1 };
  let rstSeen = false;
  for (const s of segments) {
    if (s.flags.includes("RST")) rstSeen = true;
    if (!rstSeen && s.len > 0) end[s.dir] = Math.max(end[s.dir], s.tcpSeq + s.len);
    if (s.ts < since) continue;
    if (s.analysis.includes("zero_window")) {
      if (s.dir === "in") counts.zeroWindowIn++;
      else counts.zeroWindowOut++;
    }
    if (s.analysis.includes("retransmission")) counts.retransmissions++;
    if (s.dir === "out" && small !== null && ackedAt < 0 && s.tcpAck >= small.end) ackedAt = s.ts;
    if (s.dir === "in" && s.len > 0) {
      // Sent right after our ACK of the previous small one (within NAGLE_AFTER_ACK_MS), that one
      // 30 ms or more before: it sat in the peer's send buffer until the ACK came.
      if (
        small !== null && ackedAt >= 0 && s.ts - small.ts >= NAGLE_MIN_GAP_MS &&
        s.ts - ackedAt <= NAGLE_AFTER_ACK_MS
      ) {
        gaps.push(s.ts - small.ts);
      }
      small = s.len < NAGLE_SMALL_BYTES ? { ts: s.ts, end: s.tcpSeq + s.len } : null;
      ackedAt = -1;
    }
    // A keep-alive of ours counts until anything comes back from the peer.
    if (s.dir === "in") counts.keepAlivesUnanswered = 0;
    else if (s.analysis.includes("keep_alive")) counts.keepAlivesUnanswered++;
  }
  if (counts.rst !== null) counts.bytesBeforeRst = end.in - 1 + end.out - 1;
  counts.nagleWaits = gaps.length;
  if (gaps.length > 0) {
    gaps.sort((a, b) => a - b);
    counts.nagleGapMs = Math.round(gaps[gaps.length >> 1]);
  }
  return counts;
}

// A Nagle stall on the wire: a small segment (under NAGLE_SMALL_BYTES) waited for our ACK of
// the peer's previous one, which came NAGLE_MIN_GAP_MS or more after it (delayed ACKs wait
// 40 ms on Linux), and went out within NAGLE_AFTER_ACK_MS of that ACK.
const NAGLE_SMALL_BYTES = 1000;
const NAGLE_MIN_GAP_MS = 30;
const NAGLE_AFTER_ACK_MS = 5;
