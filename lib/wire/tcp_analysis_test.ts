import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { decodeFrame, WirePacket } from "./decode.ts";
import { analysisNames, TcpSegmentInfo, TcpTracker } from "./tcp_analysis.ts";
import { buildFrame, type SegmentSpec, sequenceFrames, SEQUENCES } from "./_frames_test_util.ts";

/** Feeds hand-built segments; returns each one's `relSeq relAck win len analysis…`. */
function feed(tracker: TcpTracker, segments: readonly SegmentSpec[]): string[] {
  const p = new WirePacket();
  const info = new TcpSegmentInfo();
  return sequenceFrames(segments).map((f) => {
    decodeFrame(f.bytes, 0, f.bytes.length, f.bytes.length, f.ts, p);
    tracker.track(p, info);
    return [info.relSeq, info.relAck, info.window, info.len, ...analysisNames(info.analysis)]
      .join(" ");
  });
}

Deno.test("TcpTracker gives relative numbers and windows scaled by the handshake's shift", () => {
  deepStrictEqual(feed(new TcpTracker(), SEQUENCES.scaled), [
    "0 0 65495 0",
    "0 1 65483 0",
    "1 1 65536 0",
    "1 1 65536 10",
    "1 11 12800 0",
  ]);
});

Deno.test("TcpTracker flags a lost segment, duplicate ACKs and the fast retransmission", () => {
  deepStrictEqual(feed(new TcpTracker(), SEQUENCES.lossAndFastRetransmission).slice(3), [
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
  deepStrictEqual(feed(new TcpTracker(), SEQUENCES.retransmissions).slice(4), [
    "1 1 65536 100 out_of_order",
    "1 1 65536 100 retransmission",
    "1 201 12800 0",
    "1 1 65536 100 retransmission spurious_retransmission",
  ]);
});

Deno.test("TcpTracker flags window full, zero window, probes, window update and keep-alive", () => {
  deepStrictEqual(feed(new TcpTracker(), SEQUENCES.windows).slice(3), [
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
  // A second apart: the order of activity is kept to within a second.
  let ts = 0;
  for (const sport of [1, 2, 1, 3]) {
    const f = buildFrame({ sport, flags: 0x02 });
    decodeFrame(f, 0, f.length, f.length, ts += 1000, p);
    tracker.track(p, info);
  }
  strictEqual(tracker.size, 2);
  strictEqual(tracker.evicted, 1);
  deepStrictEqual([...tracker.connections()].map((c) => tracker.connection(c).portA), [3, 1]);
  strictEqual(tracker.sweep(ts + 1), 2);
  strictEqual(tracker.size, 0);
});

Deno.test("TcpTracker starts a new stream when a SYN with another ISN reuses the 4-tuple", () => {
  const tracker = new TcpTracker();
  // A RST without ACK shows its raw ack, as tshark does.
  deepStrictEqual(feed(tracker, SEQUENCES.reusedPorts).slice(3), [
    "1 5001 128000 0",
    "0 0 100 0 reused_ports",
  ]);
  strictEqual(tracker.stream([...tracker.connections()][0]), 1);
});

Deno.test("TcpTracker grows past its first slots and reuses dropped ones, every lookup intact", () => {
  const tracker = new TcpTracker({ maxConnections: 300 });
  const p = new WirePacket();
  const info = new TcpSegmentInfo();
  const send = (sport: number, flags: number, ts: number) => {
    const seq = 0x90000000 + sport + (flags === 0x02 ? 0 : 1);
    const f = buildFrame({ sport, seq, ack: 0xf0000001, flags });
    decodeFrame(f, 0, f.length, f.length, ts, p);
    return tracker.track(p, info);
  };
  // 500 SYNs a second apart: the first 200 go as the table fills, their slots taken again.
  const slots = new Map<number, number>();
  for (let port = 1; port <= 500; port++) {
    const slot = send(port, 0x02, port * 1000);
    slots.set(port, slot);
    tracker.setData(slot, port);
  }
  strictEqual(tracker.size, 300);
  strictEqual(tracker.evicted, 200);
  // The 300 kept are found again (the same slot, stream and data), nothing new is made.
  for (let port = 201; port <= 500; port++) {
    strictEqual(send(port, 0x10, 600_000 + port), slots.get(port));
    strictEqual(tracker.stream(slots.get(port)!), port - 1);
    strictEqual(tracker.data(slots.get(port)!), port);
    strictEqual(info.relSeq, 1);
    strictEqual(tracker.baseSeq(slots.get(port)!, true), 0x90000000 + port);
  }
  strictEqual(tracker.size, 300);
  strictEqual(new Set(slots.values()).size, 300);
  // A port dropped before comes back as a new connection whose slot starts with no data.
  const again = send(1, 0x10, 700_000);
  strictEqual(tracker.data(again), null);
  strictEqual(tracker.stream(again), 500);
  strictEqual(tracker.evicted, 201);
  deepStrictEqual(tracker.connection(again), {
    stream: 500,
    family: 4,
    hostA: "127.0.0.1",
    portA: 1,
    hostB: "127.0.0.1",
    portB: 2000,
    firstTs: 700_000,
    lastTs: 700_000,
    firstRtt: 0,
    closed: false,
    resetBy: "",
    segmentsA: 1,
    segmentsB: 0,
    bytesA: 0,
    bytesB: 0,
    finA: false,
    finB: false,
  });
});
