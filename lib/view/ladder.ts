/**
 * The ladder: one connection's wire segments, the app's reads and writes and the queue
 * samples laid out on one time axis, as a pure view model the connection page draws (see
 * islands/_ladder.tsx). Client and server are two vertical lines; each segment is an arrow
 * from its sender's line (at its send time) to the other (at its receive time: on loopback
 * the same capture time); the handshake and the close are grouped; app events sit beside the
 * line of the side they happened on; a stretch of time with nothing in it longer than
 * `gapMs` is compressed to a fixed height with a marker. Bounded to the latest `maxItems`
 * items, with the count left out. No Deno APIs.
 *
 * @module
 */

import type { WireSegment } from "./api_types.ts";

export type { WireSegment };

/** An app read or write (a packet-log entry: only these fields are used). */
export interface LadderAppEvent {
  seq: number;
  ts: number;
  dir: "in" | "out";
  len: number;
  decoded?: { kind: string; summary: string }[];
}

/** A queue sample of the socket (the kernel's Recv-Q and Send-Q). */
export interface QueueSample {
  ts: number;
  recvQ: number;
  sendQ: number;
}

/** Options for {@linkcode ladder}. */
export interface LadderOptions {
  /** Which side our socket is: a server row's segments `out` go server → client. @default "server" */
  side?: "server" | "client";
  /** Items (segments, app events, samples) kept, the latest. @default 1000 */
  maxItems?: number;
  /** A quiet stretch longer than this is compressed to `gapHeight`. @default 200 */
  gapMs?: number;
  /** Pixels per millisecond of uncompressed time. @default 0.5 */
  pxPerMs?: number;
  /** Least vertical distance between two rows, so close events stay legible. @default 18 */
  rowHeight?: number;
  /** Height of a compressed gap. @default 28 */
  gapHeight?: number;
}

/** An arrow between the lines: one segment. */
export interface LadderArrow {
  kind: "segment";
  seq: number;
  ts: number;
  from: "client" | "server";
  to: "client" | "server";
  /** y where it leaves and where it lands (equal on loopback: one capture time). */
  y1: number;
  y2: number;
  /** `SYN`, `SYN, ACK`, `ACK 1:65 len=64 win=65536`. */
  label: string;
  /** Wireshark's analysis names; a non-empty list marks the arrow. */
  analysis: string[];
  /** `handshake`, `close`, or null for data and plain ACKs. */
  group: "handshake" | "close" | null;
}

/** An app read or write, beside the line of its side. */
export interface LadderAppMark {
  kind: "app";
  seq: number;
  ts: number;
  side: "client" | "server";
  y: number;
  /** `read 64 B`, `write 16384 B`. */
  label: string;
}

/** A queue sample, beside our line. */
export interface LadderQueueMark {
  kind: "queue";
  ts: number;
  side: "client" | "server";
  y: number;
  label: string;
}

/** A compressed quiet stretch. */
export interface LadderGap {
  kind: "gap";
  y: number;
  height: number;
  /** How long nothing happened, ms. */
  ms: number;
}

/** A group's extent on the axis (the handshake, the close). */
export interface LadderGroup {
  kind: "handshake" | "close";
  y1: number;
  y2: number;
}

/** Everything the drawing needs. */
export interface LadderModel {
  side: "server" | "client";
  arrows: LadderArrow[];
  app: LadderAppMark[];
  queues: LadderQueueMark[];
  gaps: LadderGap[];
  groups: LadderGroup[];
  /** Total height in pixels. */
  height: number;
  /** ts of the first item drawn (the axis' origin), or null when empty. */
  start: number | null;
  /** Items left out (older than the latest `maxItems`). */
  omitted: number;
}

/**
 * The label of a segment: `SYN`, `SYN, ACK`; else its flags (PSH left out), the sequence range
 * and length of its data or the number it acknowledges, and the window:
 * `ACK 1:65 len=64 win=65536`, `ACK ack=65 win=65536`, `FIN, ACK ack=65 win=65536`.
 */
export function segmentLabel(s: WireSegment): string {
  const names = s.flags.filter((f) => f !== "PSH");
  const head = names.join(", ");
  if (s.flags.includes("SYN")) return head;
  const body = s.len > 0
    ? `${s.tcpSeq}:${s.tcpSeq + s.len} len=${s.len}`
    : s.flags.includes("ACK")
    ? `ack=${s.tcpAck}`
    : `seq=${s.tcpSeq}`;
  return `${head} ${body} win=${s.win}`.trim();
}

type Item =
  | { t: "seg"; ts: number; s: WireSegment }
  | { t: "app"; ts: number; a: LadderAppEvent }
  | { t: "q"; ts: number; q: QueueSample };

/**
 * Lays the items out on one axis. Items are ordered by time (segments before app events at
 * the same instant: the kernel saw the bytes before the app read them).
 */
export function ladder(
  segments: readonly WireSegment[],
  appEvents: readonly LadderAppEvent[] = [],
  samples: readonly QueueSample[] = [],
  options: LadderOptions = {},
): LadderModel {
  const side = options.side ?? "server";
  const peer = side === "server" ? "client" : "server";
  const maxItems = options.maxItems ?? 1000;
  const gapMs = options.gapMs ?? 200;
  const pxPerMs = options.pxPerMs ?? 0.5;
  const rowHeight = options.rowHeight ?? 18;
  const gapHeight = options.gapHeight ?? 28;
  const rank = { seg: 0, app: 1, q: 2 } as const;
  const all: Item[] = [
    ...segments.map((s): Item => ({ t: "seg", ts: s.ts, s })),
    ...appEvents.map((a): Item => ({ t: "app", ts: a.ts, a })),
    ...samples.map((q): Item => ({ t: "q", ts: q.ts, q })),
  ].sort((a, b) => a.ts - b.ts || rank[a.t] - rank[b.t]);
  const omitted = Math.max(0, all.length - maxItems);
  const items = omitted > 0 ? all.slice(omitted) : all;
  const model: LadderModel = {
    side,
    arrows: [],
    app: [],
    queues: [],
    gaps: [],
    groups: [],
    height: 0,
    start: items[0]?.ts ?? null,
    omitted,
  };
  let y = rowHeight;
  let lastTs = items[0]?.ts ?? 0;
  let handshakeOpen = true;
  for (const item of items) {
    const dt = item.ts - lastTs;
    if (dt > gapMs) {
      model.gaps.push({ kind: "gap", y: y + rowHeight / 2, height: gapHeight, ms: dt });
      y += gapHeight + rowHeight;
    } else if (item !== items[0]) {
      y += Math.max(rowHeight, dt * pxPerMs);
    }
    lastTs = item.ts;
    if (item.t === "seg") {
      const s = item.s;
      const group = groupOf(s, handshakeOpen);
      if (group !== "handshake" && s.len > 0) handshakeOpen = false;
      model.arrows.push({
        kind: "segment",
        seq: s.seq,
        ts: s.ts,
        from: s.dir === "out" ? side : peer,
        to: s.dir === "out" ? peer : side,
        y1: y,
        y2: y,
        label: segmentLabel(s),
        analysis: s.analysis,
        group,
      });
      if (group !== null) extendGroup(model.groups, group, y);
    } else if (item.t === "app") {
      const a = item.a;
      model.app.push({
        kind: "app",
        seq: a.seq,
        ts: a.ts,
        side,
        y,
        label: `${a.dir === "in" ? "read" : "write"} ${a.len} B`,
      });
    } else {
      model.queues.push({
        kind: "queue",
        ts: item.ts,
        side,
        y,
        label: `Recv-Q ${item.q.recvQ} · Send-Q ${item.q.sendQ}`,
      });
    }
  }
  model.height = items.length === 0 ? 0 : y + rowHeight;
  return model;
}

function groupOf(s: WireSegment, handshakeOpen: boolean): "handshake" | "close" | null {
  if (s.flags.includes("SYN")) return "handshake";
  if (s.flags.includes("FIN") || s.flags.includes("RST")) return "close";
  // The ACK of the SYN-ACK: the first bare ACK while no data has flowed yet.
  if (handshakeOpen && s.len === 0 && s.tcpSeq === 1 && s.tcpAck === 1) return "handshake";
  return null;
}

function extendGroup(groups: LadderGroup[], kind: "handshake" | "close", y: number): void {
  const last = groups.at(-1);
  if (last !== undefined && last.kind === kind) last.y2 = y;
  else groups.push({ kind, y1: y, y2: y });
}
