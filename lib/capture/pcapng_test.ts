import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  ACK,
  enhancedPacketBlock,
  FIN,
  flowOf,
  foldChecksum,
  interfaceDescriptionBlock,
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  MAX_TCP_PAYLOAD,
  onesComplementSum,
  parseIp,
  PcapngEncoder,
  PSH,
  RST,
  sectionHeaderBlock,
  SYN,
  tcpPacket,
  udpPacket,
} from "./pcapng.ts";

const le = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** Checks a block's framing and returns its type and body. */
function checkBlock(b: Uint8Array): { type: number; length: number } {
  const v = le(b);
  const length = v.getUint32(4, true);
  strictEqual(length, b.length);
  strictEqual(length % 4, 0);
  strictEqual(v.getUint32(length - 4, true), length);
  return { type: v.getUint32(0, true), length };
}

/** Parsed fields of an IPv4/TCP packet (big-endian, as on the wire). */
function tcpFields(p: Uint8Array) {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const ip = p[0] >> 4 === 4 ? 20 : 40;
  return {
    srcPort: v.getUint16(ip),
    dstPort: v.getUint16(ip + 2),
    seq: v.getUint32(ip + 4),
    ack: v.getUint32(ip + 8),
    flags: p[ip + 13],
    payload: p.subarray(ip + (p[ip + 12] >> 4) * 4),
  };
}

/** The IP packet inside an enhanced packet block. */
function epbPacket(b: Uint8Array): Uint8Array {
  return b.subarray(28, 28 + le(b).getUint32(20, true));
}

Deno.test("sectionHeaderBlock() writes a little-endian SHB of unknown section length", () => {
  const b = sectionHeaderBlock();
  deepStrictEqual(checkBlock(b).type, 0x0a0d0d0a);
  const v = le(b);
  strictEqual(v.getUint32(8, true), 0x1a2b3c4d);
  deepStrictEqual([v.getUint16(12, true), v.getUint16(14, true)], [1, 0]);
  strictEqual(v.getBigInt64(16, true), -1n);
  // shb_userappl, then opt_endofopt.
  strictEqual(v.getUint16(24, true), 4);
  strictEqual(new TextDecoder().decode(b.subarray(28, 28 + v.getUint16(26, true))), "sockscope");
});

Deno.test("interfaceDescriptionBlock() is raw IP with microsecond timestamps", () => {
  const b = interfaceDescriptionBlock();
  strictEqual(checkBlock(b).type, 1);
  const v = le(b);
  strictEqual(v.getUint16(8, true), LINKTYPE_RAW);
  strictEqual(LINKTYPE_RAW, 101);
  // Options: if_name "sockscope" (9 bytes, padded to 12), then if_tsresol = 6.
  deepStrictEqual([v.getUint16(16, true), v.getUint16(18, true)], [2, 9]);
  deepStrictEqual([v.getUint16(32, true), v.getUint16(34, true), b[36]], [9, 1, 6]);
  deepStrictEqual([v.getUint16(40, true), v.getUint16(42, true)], [0, 0]);
});

Deno.test("enhancedPacketBlock() splits the microsecond timestamp and pads the packet", () => {
  const tsUs = 1_700_000_000_123_456;
  const b = enhancedPacketBlock(tsUs, Uint8Array.of(1, 2, 3, 4, 5));
  strictEqual(checkBlock(b).type, 6);
  const v = le(b);
  strictEqual(v.getUint32(12, true) * 2 ** 32 + v.getUint32(16, true), tsUs);
  deepStrictEqual([v.getUint32(20, true), v.getUint32(24, true)], [5, 5]);
  deepStrictEqual([...b.subarray(28, 36)], [1, 2, 3, 4, 5, 0, 0, 0]);
  strictEqual(b.length, 28 + 8 + 4);
  const commented = enhancedPacketBlock(tsUs, Uint8Array.of(9), "hi");
  checkBlock(commented);
  deepStrictEqual([le(commented).getUint16(32, true), le(commented).getUint16(34, true)], [1, 2]);
});

Deno.test("interfaceDescriptionBlock() and enhancedPacketBlock() take Ethernet and a snapped length", () => {
  strictEqual(le(interfaceDescriptionBlock("lo", 256, LINKTYPE_ETHERNET)).getUint16(8, true), 1);
  // 5 bytes captured of a 1514-byte frame: captured and original lengths differ.
  const b = enhancedPacketBlock(0, Uint8Array.of(1, 2, 3, 4, 5), undefined, 1514);
  checkBlock(b);
  deepStrictEqual([le(b).getUint32(20, true), le(b).getUint32(24, true)], [5, 1514]);
});

Deno.test("foldChecksum() matches a known IPv4 header checksum", () => {
  // The classic worked example: 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7.
  const header = Uint8Array.fromHex("450000730000400040110000c0a80001c0a800c7");
  strictEqual(foldChecksum(onesComplementSum(header)), 0xb861);
  strictEqual(foldChecksum(onesComplementSum(Uint8Array.of(0xff))), 0x00ff);
});

/** Verifies a TCP or UDP checksum the way a receiver does: the sum with the pseudo-header folds to 0. */
function transportChecksumOk(p: Uint8Array): boolean {
  const v4 = p[0] >> 4 === 4;
  const ipLen = v4 ? 20 : 40;
  const proto = v4 ? p[9] : p[6];
  const src = v4 ? p.subarray(12, 16) : p.subarray(8, 24);
  const dst = v4 ? p.subarray(16, 20) : p.subarray(24, 40);
  const seg = p.subarray(ipLen);
  const sum = onesComplementSum(src) + onesComplementSum(dst) + proto + seg.length;
  return foldChecksum(onesComplementSum(seg, sum)) === 0;
}

Deno.test("tcpPacket() and udpPacket() fill valid IPv4 and IPv6 checksums", () => {
  const payload = new TextEncoder().encode("odd-length payload!");
  for (const host of ["127.0.0.1", "::1"]) {
    const flow = flowOf({ hostname: host, port: 50000 }, { hostname: host, port: 65432 });
    const tcp = tcpPacket(flow, { seq: 0xfffffff0, ack: 7, flags: PSH | ACK }, payload, 3);
    const udp = udpPacket(flow, payload, 4);
    ok(transportChecksumOk(tcp), `TCP over ${host}`);
    ok(transportChecksumOk(udp), `UDP over ${host}`);
    if (host === "127.0.0.1") {
      strictEqual(foldChecksum(onesComplementSum(tcp.subarray(0, 20))), 0, "IPv4 header");
      strictEqual(new DataView(tcp.buffer).getUint16(2), tcp.length);
    } else {
      strictEqual(tcp[0] >> 4, 6);
      strictEqual(new DataView(tcp.buffer).getUint16(4), tcp.length - 40);
    }
    deepStrictEqual(tcpFields(tcp).payload, payload);
  }
});

Deno.test("parseIp() reads IPv4 and IPv6 literals and refuses the rest", () => {
  deepStrictEqual([...parseIp("127.0.0.1")!], [127, 0, 0, 1]);
  deepStrictEqual([...parseIp("::1")!], [...new Array(15).fill(0), 1]);
  deepStrictEqual(parseIp("::ffff:10.0.0.2")!.toHex(), "00000000000000000000ffff0a000002");
  deepStrictEqual(
    parseIp("2001:db8::8:800:200c:417a")!.toHex(),
    "20010db80000000000080800200c417a",
  );
  deepStrictEqual(parseIp("[fe80::1%eth0]")!.toHex(), "fe800000000000000000000000000001");
  for (const bad of ["localhost", "1.2.3.256", "1::2::3", "12345::", ""]) {
    strictEqual(parseIp(bad), null);
  }
  // Mixed families are written as IPv6, the IPv4 side mapped.
  strictEqual(
    flowOf({ hostname: "1.2.3.4", port: 1 }, { hostname: "::1", port: 2 }).src.length,
    16,
  );
});

const server = {
  id: "c7",
  transport: "tcp" as const,
  role: "server" as const,
  local: { hostname: "127.0.0.1", port: 65432 },
  remote: { hostname: "127.0.0.1", port: 40000 },
};

function segments(blocks: Uint8Array[]) {
  return blocks.map((b) => tcpFields(epbPacket(b)));
}

Deno.test("PcapngEncoder numbers a connection's segments by the bytes of each direction", () => {
  const enc = new PcapngEncoder();
  const out: Uint8Array[] = [];
  enc.opened(server, 1000, out);
  enc.packet(server, "in", new Uint8Array(5), 1001, 0, 0, out);
  enc.packet(server, "out", new Uint8Array(3), 1002, 5, 0, out);
  enc.packet(server, "in", new Uint8Array(MAX_TCP_PAYLOAD + 10), 1003, 5, 3, out);
  enc.closed(server, false, "remote", 1004, MAX_TCP_PAYLOAD + 15, 3, out);
  const s = segments(out);
  const [syn, synAck, ack] = s;
  // The peer connected: its SYN goes to the endpoint's port.
  deepStrictEqual([syn.srcPort, syn.dstPort, syn.flags], [40000, 65432, SYN]);
  deepStrictEqual([synAck.flags, synAck.ack], [SYN | ACK, (syn.seq + 1) >>> 0]);
  deepStrictEqual([ack.flags, ack.seq, ack.ack], [
    ACK,
    (syn.seq + 1) >>> 0,
    (synAck.seq + 1) >>> 0,
  ]);
  const c = (syn.seq + 1) >>> 0; // client's first byte
  const sv = (synAck.seq + 1) >>> 0; // server's first byte
  const data = s.slice(3, 7);
  deepStrictEqual(
    data.map((d) => [d.srcPort, d.seq, d.ack, d.payload.length, d.flags]),
    [
      [40000, c, sv, 5, PSH | ACK],
      [65432, sv, (c + 5) >>> 0, 3, PSH | ACK],
      [40000, (c + 5) >>> 0, (sv + 3) >>> 0, MAX_TCP_PAYLOAD, PSH | ACK],
      [40000, (c + 5 + MAX_TCP_PAYLOAD) >>> 0, (sv + 3) >>> 0, 10, PSH | ACK],
    ],
  );
  const cEnd = (c + 15 + MAX_TCP_PAYLOAD) >>> 0;
  const sEnd = (sv + 3) >>> 0;
  deepStrictEqual(s.slice(7).map((d) => [d.srcPort, d.flags, d.seq, d.ack]), [
    [40000, FIN | ACK, cEnd, sEnd],
    [65432, ACK, sEnd, (cEnd + 1) >>> 0],
    [65432, FIN | ACK, sEnd, (cEnd + 1) >>> 0],
    [40000, ACK, (cEnd + 1) >>> 0, (sEnd + 1) >>> 0],
  ]);
  strictEqual(s.length, 11);
});

Deno.test("PcapngEncoder starts a connection seen mid-stream with a marked handshake and no gap", () => {
  const enc = new PcapngEncoder();
  const out: Uint8Array[] = [];
  const client = { ...server, id: "c8", role: "client" as const };
  enc.packet(client, "out", new Uint8Array(4), 5000, 1_000_000, 2_000_000, out);
  enc.closed(client, true, "local", 5001, 1_000_000, 2_000_004, out);
  const s = segments(out);
  strictEqual(s.length, 5);
  // We connected: our SYN leaves the local port.
  deepStrictEqual([s[0].srcPort, s[0].flags], [65432, SYN]);
  ok(new TextDecoder().decode(out[0]).includes("handshake synthesized"));
  // The first kept byte follows the handshake directly.
  strictEqual(s[3].seq, (s[0].seq + 1) >>> 0);
  strictEqual(s[3].ack, (s[1].seq + 1) >>> 0);
  deepStrictEqual([s[4].flags, s[4].seq], [RST | ACK, (s[3].seq + 4) >>> 0]);
});

Deno.test("PcapngEncoder writes UDP datagrams in the direction of each packet", () => {
  const enc = new PcapngEncoder();
  const out: Uint8Array[] = [];
  const flow = { ...server, id: "u1", transport: "udp" as const };
  enc.opened(flow, 1, out);
  strictEqual(out.length, 0);
  enc.packet(flow, "in", Uint8Array.of(1, 2), 2, 0, 0, out);
  enc.packet(flow, "out", Uint8Array.of(3), 3, 2, 0, out);
  const ports = out.map((b) => {
    const p = epbPacket(b);
    strictEqual(p[9], 17);
    ok(transportChecksumOk(p));
    return new DataView(p.buffer, p.byteOffset).getUint16(20);
  });
  deepStrictEqual(ports, [40000, 65432]);
});
