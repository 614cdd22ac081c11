/** Hand-built Ethernet frames for lib/wire's unit tests. Private to lib/wire tests. */

/** Fields of a hand-built TCP or UDP frame. */
export interface FrameSpec {
  v6?: boolean;
  udp?: boolean;
  src?: number;
  dst?: number;
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: number[];
  payload?: number;
  fragmentOffset?: number;
}

/** An Ethernet frame with an IPv4/IPv6 header and a TCP/UDP header, `payload` zero bytes. */
export function buildFrame(s: FrameSpec): Uint8Array {
  const opts = s.options ?? [];
  const thl = s.udp ? 8 : 20 + opts.length;
  const iphl = s.v6 ? 40 : 20;
  const payload = s.payload ?? 0;
  const frame = new Uint8Array(14 + iphl + thl + payload);
  const v = new DataView(frame.buffer);
  v.setUint16(12, s.v6 ? 0x86dd : 0x0800);
  const ip = 14;
  const proto = s.udp ? 17 : 6;
  if (s.v6) {
    frame[ip] = 0x60;
    v.setUint16(ip + 4, thl + payload);
    frame[ip + 6] = proto;
    frame[ip + 23] = s.src ?? 1;
    frame[ip + 39] = s.dst ?? 1;
  } else {
    frame[ip] = 0x45;
    v.setUint16(ip + 2, iphl + thl + payload);
    v.setUint16(ip + 6, s.fragmentOffset ?? 0);
    frame[ip + 9] = proto;
    v.setUint32(ip + 12, 0x7f000000 + (s.src ?? 1));
    v.setUint32(ip + 16, 0x7f000000 + (s.dst ?? 1));
  }
  const t = ip + iphl;
  v.setUint16(t, s.sport ?? 1000);
  v.setUint16(t + 2, s.dport ?? 2000);
  if (s.udp) {
    v.setUint16(t + 4, 8 + payload);
  } else {
    v.setUint32(t + 4, (s.seq ?? 0) >>> 0);
    v.setUint32(t + 8, (s.ack ?? 0) >>> 0);
    frame[t + 12] = (thl / 4) << 4;
    frame[t + 13] = s.flags ?? 0x10;
    v.setUint16(t + 14, s.window ?? 1000);
    frame.set(opts, t + 20);
  }
  return frame;
}

/** A hand-built segment: from side A (port 1000) unless `fromB`, at `t` ms. */
export type SegmentSpec = FrameSpec & { fromB?: boolean; t: number };

const ISN_A = 0xfffffff0; // wraps, as real ISNs may
const ISN_B = 5000;
const WS7 = [1, 3, 3, 7];
const HANDSHAKE: SegmentSpec[] = [
  { seq: ISN_A, flags: 0x02, window: 65495, options: WS7, t: 0 },
  { fromB: true, seq: ISN_B, ack: ISN_A + 1, flags: 0x12, window: 65483, options: WS7, t: 1 },
  { seq: ISN_A + 1, ack: ISN_B + 1, flags: 0x10, window: 512, t: 2 },
];
const s = (rel: number) => (ISN_A + 1 + rel) >>> 0;
const b = ISN_B + 1;

/** Segment sequences that exercise each analysis rule; unit tests and the tshark check share them. */
export const SEQUENCES: Record<string, SegmentSpec[]> = {
  scaled: [
    ...HANDSHAKE,
    { seq: s(0), ack: b, flags: 0x18, window: 512, payload: 10, t: 3 },
    { fromB: true, seq: b, ack: s(10), window: 100, t: 4 },
  ],
  lossAndFastRetransmission: [
    ...HANDSHAKE,
    { seq: s(0), ack: b, payload: 100, window: 512, t: 10 },
    // s(100) .. s(200) never seen.
    { seq: s(200), ack: b, payload: 100, window: 512, t: 11 },
    { fromB: true, seq: b, ack: s(100), window: 100, t: 12 },
    { fromB: true, seq: b, ack: s(100), window: 100, t: 13 },
    { fromB: true, seq: b, ack: s(100), window: 100, t: 14 },
    { seq: s(100), ack: b, payload: 100, window: 512, t: 15 },
    { fromB: true, seq: b, ack: s(300), window: 100, t: 16 },
    // An ACK for bytes A never sent (their segment was not captured).
    { fromB: true, seq: b, ack: s(400), window: 100, t: 17 },
  ],
  retransmissions: [
    ...HANDSHAKE,
    { seq: s(100), ack: b, payload: 100, window: 512, t: 10 },
    // Within the first RTT (2 ms here) of the highest segment: out of order.
    { seq: s(0), ack: b, payload: 100, window: 512, t: 10.5 },
    // Later, not acknowledged yet: a retransmission.
    { seq: s(0), ack: b, payload: 100, window: 512, t: 300 },
    { fromB: true, seq: b, ack: s(200), window: 100, t: 301 },
    // Already acknowledged: spurious.
    { seq: s(0), ack: b, payload: 100, window: 512, t: 600 },
  ],
  windows: [
    ...HANDSHAKE,
    { fromB: true, seq: b, ack: s(0), window: 1, t: 3 }, // 128 bytes open
    { seq: s(0), ack: b, payload: 128, window: 512, t: 4 },
    { fromB: true, seq: b, ack: s(128), window: 0, t: 5 },
    { seq: s(128), ack: b, payload: 1, window: 512, t: 200 },
    { fromB: true, seq: b, ack: s(128), window: 0, t: 201 },
    { fromB: true, seq: b, ack: s(128), window: 4, t: 400 },
    { seq: s(127), ack: b, window: 512, t: 7000 },
    { fromB: true, seq: b, ack: s(128), window: 4, t: 7001 },
  ],
  reusedPorts: [
    ...HANDSHAKE,
    { seq: s(0), ack: b, flags: 0x04, t: 3 },
    { seq: 77, flags: 0x02, window: 100, t: 4 },
  ],
};

/** The frames of a sequence between 127.0.0.1:1000 (A) and 127.0.0.2:2000 (B). */
export function sequenceFrames(
  segments: readonly SegmentSpec[],
  t0 = 0,
): { bytes: Uint8Array; ts: number }[] {
  return segments.map((x) => {
    const spec = x.fromB
      ? { ...x, sport: 2000, dport: 1000, src: 2, dst: 1 }
      : { ...x, sport: 1000, dport: 2000, src: 1, dst: 2 };
    return { bytes: buildFrame(spec), ts: t0 + x.t };
  });
}
