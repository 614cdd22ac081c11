import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { ladder, type LadderAppEvent, segmentLabel, type WireSegment } from "./ladder.ts";

let n = 0;
function seg(
  ts: number,
  dir: "in" | "out",
  flags: string[],
  tcpSeq: number,
  tcpAck: number,
  len = 0,
  analysis: string[] = [],
): WireSegment {
  return { seq: ++n, ts, dir, flags, tcpSeq, tcpAck, win: 65536, len, options: {}, analysis };
}

/** A server socket's view: handshake, 64 B echoed, a delayed ACK, a retransmission, a reset. */
function fixture(): { segments: WireSegment[]; app: LadderAppEvent[] } {
  n = 0;
  const segments = [
    seg(1000, "in", ["SYN"], 0, 0),
    seg(1000.01, "out", ["SYN", "ACK"], 0, 1),
    seg(1000.02, "in", ["ACK"], 1, 1),
    seg(1001, "in", ["PSH", "ACK"], 1, 1, 64),
    // The server's ACK comes 40 ms later, delayed, with its echo.
    seg(1041, "out", ["PSH", "ACK"], 1, 65, 64),
    seg(1041.5, "out", ["PSH", "ACK"], 1, 65, 64, ["retransmission"]),
    seg(1081, "in", ["ACK"], 65, 65),
    // Long quiet, then a reset.
    seg(6081, "in", ["RST", "ACK"], 65, 65),
  ];
  const app = [
    { seq: 1, ts: 1001.1, dir: "in" as const, len: 64 },
    { seq: 2, ts: 1040.9, dir: "out" as const, len: 64 },
  ];
  return { segments, app };
}

Deno.test("segmentLabel() writes SYN, data ranges, ACKs and the window", () => {
  n = 0;
  strictEqual(segmentLabel(seg(0, "in", ["SYN"], 0, 0)), "SYN");
  strictEqual(segmentLabel(seg(0, "out", ["SYN", "ACK"], 0, 1)), "SYN, ACK");
  strictEqual(segmentLabel(seg(0, "in", ["PSH", "ACK"], 1, 1, 64)), "ACK 1:65 len=64 win=65536");
  strictEqual(segmentLabel(seg(0, "in", ["ACK"], 65, 65)), "ACK ack=65 win=65536");
  strictEqual(segmentLabel(seg(0, "in", ["RST"], 65, 0)), "RST seq=65 win=65536");
});

Deno.test("ladder() draws arrows between the lines, grouped, with app events beside ours", () => {
  const { segments, app } = fixture();
  const m = ladder(segments, app, [{ ts: 1002, recvQ: 0, sendQ: 0 }]);
  strictEqual(m.arrows.length, 8);
  deepStrictEqual(m.arrows.map((a) => [a.from, a.to]).slice(0, 2), [
    ["client", "server"],
    ["server", "client"],
  ]);
  deepStrictEqual(m.arrows.map((a) => a.group), [
    "handshake",
    "handshake",
    "handshake",
    null,
    null,
    null,
    null,
    "close",
  ]);
  deepStrictEqual(m.groups.map((g) => g.kind), ["handshake", "close"]);
  ok(m.groups[0].y2 > m.groups[0].y1);
  deepStrictEqual(m.arrows[5].analysis, ["retransmission"]);
  // Time runs down: every item below the one before, the read after the data that brought it.
  const ys = m.arrows.map((a) => a.y1);
  ok(ys.every((y, i) => i === 0 || y > ys[i - 1]), String(ys));
  deepStrictEqual(m.app.map((a) => [a.label, a.side]), [["read 64 B", "server"], [
    "write 64 B",
    "server",
  ]]);
  ok(m.app[0].y > m.arrows[3].y1 && m.app[1].y < m.arrows[4].y1);
  strictEqual(m.queues.length, 1);
  // The delayed ACK's 40 ms is drawn to scale (20 px at 0.5 px/ms), the 5 s quiet compressed.
  strictEqual(m.gaps.length, 1);
  strictEqual(m.gaps[0].ms, 5000);
  ok(m.arrows[7].y1 - m.arrows[6].y1 < 100, "the gap is compressed");
  ok(m.height > m.arrows[7].y1);
  strictEqual(m.omitted, 0);
});

Deno.test("ladder() from the client's side swaps the lines", () => {
  const { segments } = fixture();
  const m = ladder(segments, [], [], { side: "client" });
  deepStrictEqual([m.arrows[0].from, m.arrows[0].to], ["server", "client"]);
});

Deno.test("ladder() keeps the latest maxItems and counts what it left out", () => {
  n = 0;
  const many = Array.from({ length: 2500 }, (_, i) => seg(i, "in", ["ACK"], 1, 1 + i));
  const m = ladder(many);
  strictEqual(m.arrows.length, 1000);
  strictEqual(m.omitted, 1500);
  strictEqual(m.arrows[0].seq, 1501);
  strictEqual(ladder([]).height, 0);
});
