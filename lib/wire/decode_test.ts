import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { runFilter, wireFilter } from "./bpf.ts";
import { decodeFrame, formatAddress, tcpFlagNames, WirePacket } from "./decode.ts";
import { buildFrame } from "./_frames_test_util.ts";

const SYN_OPTIONS = [
  2,
  4,
  0xff,
  0xd7, // MSS 65495
  4,
  2, // SACK permitted
  8,
  10,
  0,
  0,
  0,
  1,
  0,
  0,
  0,
  0, // timestamps 1, 0
  1, // NOP
  3,
  3,
  7, // window scale 7
];

Deno.test("decodeFrame() reads an IPv4 SYN with MSS, SACK_PERM, TS and WS options", () => {
  const f = buildFrame({ seq: 0xfffffff0, flags: 0x02, window: 65495, options: SYN_OPTIONS });
  const p = new WirePacket();
  ok(decodeFrame(f, 0, f.length, f.length, 12.5, p));
  strictEqual(p.family, 4);
  strictEqual(formatAddress(4, p.src), "127.0.0.1");
  strictEqual(p.protocol, 6);
  strictEqual(p.seq, 0xfffffff0);
  deepStrictEqual(tcpFlagNames(p.flags), ["SYN"]);
  deepStrictEqual([p.mss, p.sackPerm, p.hasTimestamp, p.tsVal, p.wscale], [
    65495,
    true,
    true,
    1,
    7,
  ]);
  strictEqual(p.payloadLength, 0);
  strictEqual(p.ts, 12.5);
});

Deno.test("decodeFrame() reads SACK blocks and the payload length of a cut IPv6 frame", () => {
  const sack = [1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40];
  const f = buildFrame({ v6: true, flags: 0x18, options: sack, payload: 1000 });
  const p = new WirePacket();
  // Captured 100 bytes of it: the length still comes from the IP header.
  ok(decodeFrame(f, 0, 100, f.length, 0, p));
  strictEqual(p.family, 6);
  strictEqual(formatAddress(6, p.src), "::1");
  strictEqual(p.sackBlocks, 2);
  deepStrictEqual([...p.sack.subarray(0, 4)], [10, 20, 30, 40]);
  strictEqual(p.payloadLength, 1000);
  deepStrictEqual(tcpFlagNames(p.flags), ["PSH", "ACK"]);
});

Deno.test("decodeFrame() reads UDP and refuses short, non-IP and fragment frames", () => {
  const p = new WirePacket();
  const udp = buildFrame({ udp: true, payload: 33 });
  ok(decodeFrame(udp, 0, udp.length, udp.length, 0, p));
  deepStrictEqual([p.protocol, p.payloadLength, p.srcPort, p.dstPort], [17, 33, 1000, 2000]);
  const tcp = buildFrame({});
  for (let n = 0; n < tcp.length; n++) strictEqual(decodeFrame(tcp, 0, n, tcp.length, 0, p), false);
  const arp = tcp.slice();
  arp[12] = 0x08;
  arp[13] = 0x06;
  strictEqual(decodeFrame(arp, 0, arp.length, arp.length, 0, p), false);
  const frag = buildFrame({ fragmentOffset: 0x20 });
  strictEqual(decodeFrame(frag, 0, frag.length, frag.length, 0, p), false);
});

Deno.test("formatAddress() writes IPv6 as RFC 5952 does", () => {
  const a = new Uint8Array(16);
  a[0] = 0x20;
  a[1] = 0x01;
  a[2] = 0x0d;
  a[3] = 0xb8;
  a[15] = 1;
  strictEqual(formatAddress(6, a), "2001:db8::1");
  strictEqual(formatAddress(6, new Uint8Array(16)), "::");
});

Deno.test("wireFilter() keeps TCP/UDP of the given ports, cut to the snap length", () => {
  const program = wireFilter([2000, 53], { snaplen: 80 });
  strictEqual(runFilter(program, buildFrame({ payload: 500 })), 80);
  strictEqual(runFilter(program, buildFrame({ sport: 2000, dport: 9, payload: 10 })), 64);
  strictEqual(runFilter(program, buildFrame({ v6: true, dport: 53, udp: true, payload: 100 })), 80);
  strictEqual(runFilter(program, buildFrame({ dport: 9 })), 0);
  strictEqual(runFilter(program, buildFrame({ v6: true, dport: 9 })), 0);
  strictEqual(runFilter(program, buildFrame({ fragmentOffset: 1 })), 0);
  const arp = buildFrame({});
  arp[13] = 0x06;
  strictEqual(runFilter(program, arp), 0);
  // No ports: every TCP/UDP packet.
  strictEqual(runFilter(wireFilter([]), buildFrame({ dport: 9 })), 54);
});

Deno.test("wireFilter() refuses bad ports, too many ports and bad snap lengths", () => {
  for (const bad of [[0], [65536], [1.5]]) {
    let threw = false;
    try {
      wireFilter(bad);
    } catch (error) {
      threw = error instanceof RangeError;
    }
    ok(threw, String(bad));
  }
  let threw = false;
  try {
    wireFilter(Array.from({ length: 61 }, (_, i) => i + 1));
  } catch (error) {
    threw = error instanceof RangeError;
  }
  ok(threw);
  ok(wireFilter(Array.from({ length: 60 }, (_, i) => i + 1)).length > 0);
});
