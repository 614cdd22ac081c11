import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import {
  buildFrame,
  decodeEthernet,
  formatEtherType,
  parseEtherType,
  parseMac,
  SEED_PAYLOAD,
} from "./ethernet.ts";
import { etherTypeFilter, runFilter } from "./bpf.ts";

Deno.test("buildFrame() with no options is seed 004's frame, byte for byte", () => {
  // dst_addr+src_addr+ethertype+payload+checksum, as the seed's s.send() concatenates them.
  const expected = "010203040506" + "010203040506" + "0801" +
    "5b".repeat(30) + "5041594c4f4144" + "5d".repeat(30) + "1a2b3c4d";
  strictEqual(buildFrame().toHex(), expected);
  strictEqual(buildFrame().length, 85);
});

Deno.test("buildFrame() changes each part; decodeEthernet() reads them back", () => {
  const frame = buildFrame({
    dst: "02:00:00:00:00:bb",
    src: "02-00-00-00-00-AA",
    etherType: 0x88b5,
    payload: "hi\\",
    trailer: [],
  });
  deepStrictEqual(decodeEthernet(frame), {
    kind: "ethernet",
    summary: "02:00:00:00:00:aa → 02:00:00:00:00:bb type 0x88b5, 3 payload bytes",
    dst: "02:00:00:00:00:bb",
    src: "02:00:00:00:00:aa",
    ethertype: "0x88b5",
    payload: "hi\\x5c",
    payloadLength: 3,
  });
  strictEqual(decodeEthernet(buildFrame())!.payload, SEED_PAYLOAD + "\\x1a+<M");
  strictEqual(decodeEthernet(new Uint8Array(13)), null);
});

Deno.test("parsers refuse what is not an address, an EtherType or a frame", () => {
  throws(() => parseMac("01:02:03:04:05"), RangeError);
  throws(() => parseMac("01:02:03:04:05:zz"), RangeError);
  strictEqual(parseEtherType("0x0801"), 0x0801);
  strictEqual(parseEtherType("88b5"), 0x88b5);
  strictEqual(parseEtherType("#2049"), 0x0801);
  throws(() => parseEtherType("0x05dc"), RangeError); // an 802.3 length
  throws(() => parseEtherType("0x10000"), RangeError);
  throws(() => buildFrame({ payload: "x".repeat(1500) }), RangeError);
  strictEqual(formatEtherType(0x800), "0x0800");
});

Deno.test("etherTypeFilter() keeps frames of its EtherType only, cut to the snap length", () => {
  const program = etherTypeFilter(0x0801, { snaplen: 64 });
  strictEqual(runFilter(program, buildFrame()), 64);
  strictEqual(runFilter(program, buildFrame({ etherType: 0x0800 })), 0);
  strictEqual(runFilter(program, new Uint8Array(10)), 0);
  throws(() => etherTypeFilter(0x10000), RangeError);
});
