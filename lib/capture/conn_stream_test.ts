import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { CaptureRing } from "./capture_ring.ts";
import { connStream, type StreamRecord } from "./conn_stream.ts";
import type { PacketSource } from "./packet_log.ts";

function source(id: string): PacketSource {
  return {
    id,
    endpoint: "echo",
    transport: "tcp",
    local: { hostname: "127.0.0.1", port: 1 },
    remote: { hostname: "127.0.0.1", port: 2 },
  };
}

/** Each record as [dir, offset, bytes]. */
function rows(records: StreamRecord[]): [string, number, number[]][] {
  return records.map((r) => [r.dir, r.offset, [...Uint8Array.fromBase64(r.data)]]);
}

Deno.test("connStream() returns one connection's payloads whole and in order, echoes included", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  const b = source("c2");
  ring.opened(a, 1);
  ring.opened(b, 1);
  const read = Uint8Array.of(1, 2, 3);
  ring.packet(a, "in", read, 2);
  ring.packet(b, "in", Uint8Array.of(9), 2);
  ring.packet(a, "out", read, 3, true);
  ring.packet(a, "in", Uint8Array.of(4, 5), 4);
  ring.packet(a, "out", Uint8Array.of(6), 5);
  const s = connStream(ring, "c1");
  deepStrictEqual(rows(s.records), [
    ["in", 0, [1, 2, 3]],
    ["out", 0, [1, 2, 3]],
    ["in", 3, [4, 5]],
    ["out", 3, [6]],
  ]);
  deepStrictEqual(s.total, { records: 4, in: 5, out: 4 });
  deepStrictEqual([s.evicted, s.lost, s.truncated], [false, { in: 0, out: 0 }, false]);
  strictEqual(connStream(ring, "c3").total.records, 0);
});

Deno.test("connStream() counts bytes lost with an echo whose read was evicted", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  const b = source("c2");
  const read = new Uint8Array(200).fill(7);
  ring.packet(a, "in", read, 1);
  ring.packet(a, "out", Uint8Array.of(1, 2), 2);
  ring.packet(a, "out", read, 3, true);
  // Other traffic until the read is evicted, which takes its echo with it but not the write between.
  while (connStream(ring, "c1").total.in > 0) ring.packet(b, "in", new Uint8Array(16), 4);
  ring.packet(a, "in", Uint8Array.of(3), 5);
  ring.packet(a, "out", Uint8Array.of(4), 6);
  const s = connStream(ring, "c1");
  deepStrictEqual(rows(s.records), [
    ["out", 0, [1, 2]],
    ["in", 200, [3]],
    ["out", 202, [4]],
  ]);
  deepStrictEqual([s.evicted, s.lost], [true, { in: 200, out: 200 }]);
  // The connection's own counters give the same answer.
  const counted = connStream(ring, "c1", { counted: { bytesIn: 201, bytesOut: 203 } });
  deepStrictEqual(counted.lost, { in: 200, out: 200 });
});

Deno.test("connStream() stops at limit or maxBytes, says truncated, and reads on after a seq", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  for (let i = 0; i < 6; i++) ring.packet(a, i % 2 ? "out" : "in", new Uint8Array(10).fill(i), i);
  const first = connStream(ring, "c1", { limit: 4 });
  deepStrictEqual([first.records.length, first.truncated, first.total.records], [4, true, 6]);
  const rest = connStream(ring, "c1", { after: first.records[3].seq });
  deepStrictEqual([rest.records.length, rest.truncated], [2, false]);
  deepStrictEqual(
    [...first.records, ...rest.records].map((r) => Uint8Array.fromBase64(r.data)[0]),
    [0, 1, 2, 3, 4, 5],
  );
  const bounded = connStream(ring, "c1", { maxBytes: 25 });
  deepStrictEqual([bounded.records.length, bounded.truncated], [2, true]);
  // One record comes back even when it alone is larger than maxBytes, so a reader moves on.
  deepStrictEqual(connStream(ring, "c1", { maxBytes: 1 }).records.length, 1);
  deepStrictEqual(connStream(ring, "c1", { limit: 0 }).truncated, true);
});
