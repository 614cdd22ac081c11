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
