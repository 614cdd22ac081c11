import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { CaptureRing } from "./capture_ring.ts";
import { type ConnStream, connStream, type StreamRecord } from "./conn_stream.ts";
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
  deepStrictEqual([s.records.map((r) => r.gap), s.skipped], [[0, 0, 0, 0], {
    records: 0,
    bytes: 0,
  }]);
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
  // The write it still holds has no gap before it; the echo evicted with its read leaves one.
  deepStrictEqual(s.records.map((r) => r.gap), [0, 200, 200]);
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

Deno.test("connStream() gives each record the bytes of its direction evicted just before it", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  // 40 reads of 100 bytes, each the next byte value: far more than the ring holds.
  for (let i = 0; i < 40; i++) ring.packet(a, "in", new Uint8Array(100).fill(i), i);
  const s = connStream(ring, "c1");
  ok(s.evicted && s.records.length < 40, `the oldest reads were evicted: ${s.records.length}`);
  const first = s.records[0];
  const kept = s.records.map((r) => Uint8Array.fromBase64(r.data)[0]);
  deepStrictEqual(kept, Array.from({ length: kept.length }, (_, i) => 40 - kept.length + i));
  // The first held read starts where the evicted ones end, and nothing is missing after it.
  deepStrictEqual([first.offset, first.gap], [(40 - kept.length) * 100, s.lost.in]);
  deepStrictEqual(s.records.slice(1).map((r) => r.gap), s.records.slice(1).map(() => 0));
  // The tail of the same stream: gaps say what was evicted, `skipped` what tail left out.
  const t = connStream(ring, "c1", { tail: true, limit: 2 });
  deepStrictEqual(t.records.map((r) => [r.offset, r.gap]), [[3800, 0], [3900, 0]]);
  deepStrictEqual(t.skipped, { records: kept.length - 2, bytes: (kept.length - 2) * 100 });
  deepStrictEqual(connStream(ring, "c1", { tail: true }).records, s.records);
});

Deno.test("connStream() with tail returns the latest records that fit, oldest first", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  for (let i = 0; i < 6; i++) ring.packet(a, i % 2 ? "out" : "in", new Uint8Array(10).fill(i), i);
  const firstBytes = (s: ConnStream) => s.records.map((r) => Uint8Array.fromBase64(r.data)[0]);
  const limited = connStream(ring, "c1", { tail: true, limit: 4 });
  deepStrictEqual(firstBytes(limited), [2, 3, 4, 5]);
  deepStrictEqual([limited.skipped, limited.truncated], [{ records: 2, bytes: 20 }, false]);
  deepStrictEqual(limited.total, { records: 6, in: 30, out: 30 });
  const bounded = connStream(ring, "c1", { tail: true, maxBytes: 25 });
  deepStrictEqual([firstBytes(bounded), bounded.skipped], [[4, 5], { records: 4, bytes: 40 }]);
  // Everything fits: nothing skipped, the same records as without tail.
  const all = connStream(ring, "c1", { tail: true });
  deepStrictEqual([all.records, all.skipped], [connStream(ring, "c1").records, {
    records: 0,
    bytes: 0,
  }]);
  // After a seq: the newest of the records after it, `skipped` counting only those after it.
  const since = connStream(ring, "c1", { tail: true, after: all.records[2].seq, limit: 2 });
  deepStrictEqual([firstBytes(since), since.skipped], [[4, 5], { records: 1, bytes: 10 }]);
  // The newest record comes back even when it alone is larger than maxBytes.
  ring.packet(a, "in", new Uint8Array(100).fill(6), 6);
  const big = connStream(ring, "c1", { tail: true, maxBytes: 50 });
  deepStrictEqual([firstBytes(big), big.skipped], [[6], { records: 6, bytes: 60 }]);
  const none = connStream(ring, "c1", { tail: true, limit: 0 });
  deepStrictEqual([none.records, none.skipped, none.truncated], [[], {
    records: 7,
    bytes: 160,
  }, false]);
});

Deno.test("connStream() with tail keeps its bounds over a long stream", () => {
  const ring = new CaptureRing({ bytes: 1 << 20 });
  const a = source("c1");
  // More records than the first pass keeps before it drops the ones that no longer fit.
  for (let i = 0; i < 5000; i++) ring.packet(a, "in", Uint8Array.of(i & 255, i >> 8), i);
  const t = connStream(ring, "c1", { tail: true, limit: 1000 });
  deepStrictEqual([t.records.length, t.skipped], [1000, { records: 4000, bytes: 8000 }]);
  deepStrictEqual([t.records[0].offset, t.records.at(-1)!.offset], [8000, 9998]);
  deepStrictEqual(t.records, connStream(ring, "c1", { after: t.records[0].seq - 1 }).records);
});
