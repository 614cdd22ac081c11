import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { decodeFrame, WirePacket } from "./decode.ts";
import { analysisNames, TcpSegmentInfo, TcpTracker } from "./tcp_analysis.ts";
import { buildFrame, type FrameSpec } from "./_frames_test_util.ts";

const A = 1000, B = 2000; // ports: A is the client
const ISN_A = 0xfffffff0; // wraps, as real ISNs may
const ISN_B = 5000;

/** Feeds hand-built segments; returns each one's `relSeq relAck win len analysis…`. */
function feed(tracker: TcpTracker, segments: (FrameSpec & { fromB?: boolean; t?: number })[]) {
  const p = new WirePacket();
  const info = new TcpSegmentInfo();
  return segments.map((s) => {
    const spec = s.fromB
      ? { ...s, sport: B, dport: A, src: 2, dst: 1 }
      : { ...s, sport: A, dport: B, src: 1, dst: 2 };
    const f = buildFrame(spec);
    decodeFrame(f, 0, f.length, f.length, s.t ?? 0, p);
    tracker.track(p, info);
    return [info.relSeq, info.relAck, info.window, info.len, ...analysisNames(info.analysis)].join(
      " ",
    );
  });
}

const WS7 = [1, 3, 3, 7];
const handshake = [
  { seq: ISN_A, flags: 0x02, window: 65495, options: WS7, t: 0 },
  { fromB: true, seq: ISN_B, ack: ISN_A + 1, flags: 0x12, window: 65483, options: WS7, t: 1 },
  { seq: ISN_A + 1, ack: ISN_B + 1, flags: 0x10, window: 512, t: 2 },
];

Deno.test("TcpTracker gives relative numbers and windows scaled by the handshake's shift", () => {
  const lines = feed(new TcpTracker(), [
    ...handshake,
    { seq: ISN_A + 1, ack: ISN_B + 1, flags: 0x18, window: 512, payload: 10, t: 3 },
    { fromB: true, seq: ISN_B + 1, ack: ISN_A + 11, window: 100, t: 4 },
  ]);
  deepStrictEqual(lines, [
    "0 0 65495 0",
    "0 1 65483 0",
    "1 1 65536 0",
    "1 1 65536 10",
    "1 11 12800 0",
  ]);
});

Deno.test("TcpTracker flags a lost segment, duplicate ACKs and the fast retransmission", () => {
  const s = (rel: number) => ISN_A + 1 + rel;
  const lines = feed(new TcpTracker(), [
    ...handshake,
    { seq: s(0), ack: ISN_B + 1, payload: 100, window: 512, t: 10 },
    // s(100) .. s(200) never seen.
    { seq: s(200), ack: ISN_B + 1, payload: 100, window: 512, t: 11 },
    { fromB: true, seq: ISN_B + 1, ack: s(100), window: 100, t: 12 },
    { fromB: true, seq: ISN_B + 1, ack: s(100), window: 100, t: 13 },
    { fromB: true, seq: ISN_B + 1, ack: s(100), window: 100, t: 14 },
    { seq: s(100), ack: ISN_B + 1, payload: 100, window: 512, t: 15 },
    { fromB: true, seq: ISN_B + 1, ack: s(300), window: 100, t: 16 },
    // An ACK for bytes A never sent (their segment was not captured).
    { fromB: true, seq: ISN_B + 1, ack: s(400), window: 100, t: 17 },
  ]);
  deepStrictEqual(lines.slice(3), [
    "1 1 65536 100",
    "201 1 65536 100 lost_segment",
    "1 101 12800 0",
    "1 101 12800 0 duplicate_ack",
    "1 101 12800 0 duplicate_ack",
    "101 1 65536 100 retransmission fast_retransmission",
    "1 301 12800 0",
    "1 401 12800 0 ack_lost_segment",
  ]);
});

Deno.test("TcpTracker tells out-of-order, spurious and plain retransmissions apart by time and ACK", () => {
  const s = (rel: number) => ISN_A + 1 + rel;
  const lines = feed(new TcpTracker(), [
    ...handshake,
    { seq: s(100), ack: ISN_B + 1, payload: 100, window: 512, t: 10 },
    // Within the first RTT (2 ms here) of the highest segment: out of order.
    { seq: s(0), ack: ISN_B + 1, payload: 100, window: 512, t: 10.5 },
    // Later, not acknowledged yet: a retransmission.
    { seq: s(0), ack: ISN_B + 1, payload: 100, window: 512, t: 300 },
    { fromB: true, seq: ISN_B + 1, ack: s(200), window: 100, t: 301 },
    // Already acknowledged: spurious.
    { seq: s(0), ack: ISN_B + 1, payload: 100, window: 512, t: 600 },
  ]);
  deepStrictEqual(lines.slice(4), [
    "1 1 65536 100 out_of_order",
    "1 1 65536 100 retransmission",
    "1 201 12800 0",
    "1 1 65536 100 retransmission spurious_retransmission",
  ]);
});

Deno.test("TcpTracker flags window full, zero window, probes, window update and keep-alive", () => {
  const s = (rel: number) => ISN_A + 1 + rel;
  const lines = feed(new TcpTracker(), [
    ...handshake,
    { fromB: true, seq: ISN_B + 1, ack: s(0), window: 1, t: 3 }, // 128 bytes open
    { seq: s(0), ack: ISN_B + 1, payload: 128, window: 512, t: 4 },
    { fromB: true, seq: ISN_B + 1, ack: s(128), window: 0, t: 5 },
    { seq: s(128), ack: ISN_B + 1, payload: 1, window: 512, t: 200 },
    { fromB: true, seq: ISN_B + 1, ack: s(128), window: 0, t: 201 },
    { fromB: true, seq: ISN_B + 1, ack: s(128), window: 4, t: 400 },
    { seq: s(127), ack: ISN_B + 1, window: 512, t: 7000 },
    { fromB: true, seq: ISN_B + 1, ack: s(128), window: 4, t: 7001 },
  ]);
  deepStrictEqual(lines.slice(3), [
    "1 1 128 0 window_update",
    "1 1 65536 128 window_full",
    "1 129 0 0 zero_window",
    "129 1 65536 1 zero_window_probe",
    "1 129 0 0 zero_window zero_window_probe_ack",
    "1 129 512 0 window_update",
    "128 1 65536 0 keep_alive",
    "1 129 512 0 keep_alive_ack",
  ]);
});

Deno.test("TcpTracker keeps at most maxConnections, dropping the least recently active", () => {
  const tracker = new TcpTracker({ maxConnections: 2 });
  const p = new WirePacket();
  const info = new TcpSegmentInfo();
  for (const sport of [1, 2, 1, 3]) {
    const f = buildFrame({ sport, flags: 0x02 });
    decodeFrame(f, 0, f.length, f.length, 0, p);
    tracker.track(p, info);
  }
  strictEqual(tracker.size, 2);
  strictEqual(tracker.evicted, 1);
  deepStrictEqual([...tracker.connections()].map((c) => c.portA), [3, 1]);
  strictEqual(tracker.sweep(1), 2);
  strictEqual(tracker.size, 0);
});

Deno.test("TcpTracker starts a new stream when a SYN with another ISN reuses the 4-tuple", () => {
  const tracker = new TcpTracker();
  const lines = feed(tracker, [
    ...handshake,
    { seq: ISN_A + 1, ack: ISN_B + 1, flags: 0x04, t: 3 },
    { seq: 77, flags: 0x02, window: 100, t: 4 },
  ]);
  // A RST without ACK shows its raw ack, as tshark does.
  deepStrictEqual(lines.slice(3), ["1 5001 128000 0", "0 0 100 0 reused_ports"]);
  strictEqual([...tracker.connections()][0].stream, 1);
});
