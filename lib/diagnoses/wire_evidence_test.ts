import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { WireSegment } from "../view/api_types.ts";
import { countSegments } from "./wire_evidence.ts";

const summary = { segments: 0, kept: 0, resetBy: "" as const, finLocal: false, finRemote: false };

function seg(
  ts: number,
  dir: "in" | "out",
  tcpSeq: number,
  tcpAck: number,
  len: number,
): WireSegment {
  return {
    seq: ts,
    ts,
    dir,
    flags: len > 0 ? ["PSH", "ACK"] : ["ACK"],
    tcpSeq,
    tcpAck,
    win: 65536,
    len,
    options: {},
    analysis: [],
  };
}

Deno.test("countSegments() sees Nagle's stall: the second small write waits for our delayed ACK", () => {
  const segments = [
    // Request 1: 10 bytes, our delayed ACK 40 ms later, the other 6 bytes right after it.
    seg(1000, "in", 1, 1, 10),
    seg(1040, "out", 1, 11, 0),
    seg(1040.2, "in", 11, 1, 6),
    seg(1041, "out", 1, 17, 20),
    // Request 2: the same, 42 ms.
    seg(1100, "in", 17, 21, 10),
    seg(1142, "out", 21, 27, 0),
    seg(1142.1, "in", 27, 21, 6),
    seg(1143, "out", 21, 33, 20),
  ];
  const counts = countSegments(segments, summary, 0);
  strictEqual(counts.nagleWaits, 2);
  strictEqual(counts.nagleGapMs, 42);
});

Deno.test("countSegments() counts no Nagle stall without the wait for our ACK", () => {
  const counts = (segments: WireSegment[]) => {
    const c = countSegments(segments, summary, 0);
    return [c.nagleWaits, c.nagleGapMs];
  };
  // Both parts at once (TCP_NODELAY): no gap.
  deepStrictEqual(counts([seg(1000, "in", 1, 1, 10), seg(1000.1, "in", 11, 1, 6)]), [0, 0]);
  // A late second part that did not wait for an ACK (the app wrote it late).
  deepStrictEqual(counts([seg(1000, "in", 1, 1, 10), seg(1050, "in", 11, 1, 6)]), [0, 0]);
  // An ACK that did not cover the first part.
  deepStrictEqual(
    counts([seg(1000, "in", 1, 1, 10), seg(1040, "out", 1, 5, 0), seg(1040.2, "in", 11, 1, 6)]),
    [0, 0],
  );
  // Big segments are not Nagle's business.
  deepStrictEqual(
    counts([
      seg(1000, "in", 1, 1, 5000),
      seg(1040, "out", 1, 5001, 0),
      seg(1040.2, "in", 5001, 1, 6),
    ]),
    [0, 0],
  );
});
