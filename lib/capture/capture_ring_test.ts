import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import fc from "fast-check";
import { type CaptureRecord, CaptureRing } from "./capture_ring.ts";
import { connStream } from "./conn_stream.ts";
import type { PacketSource } from "./packet_log.ts";

function source(id: string, extra: Partial<PacketSource> = {}): PacketSource {
  return {
    id,
    endpoint: "echo",
    transport: "tcp",
    local: { hostname: "127.0.0.1", port: 1 },
    remote: { hostname: "127.0.0.1", port: 2 },
    ...extra,
  };
}

/** Every record held, oldest first, copied out of the ring. */
function held(ring: CaptureRing) {
  const out: {
    kind: string;
    conn: string;
    ts: number;
    offIn: number;
    offOut: number;
    payload: number[];
  }[] = [];
  ring.read(ring.cursor(), ring.endSeq, (r: CaptureRecord) => {
    out.push({
      kind: r.kind,
      conn: r.conn.id,
      ts: r.ts,
      offIn: r.offIn,
      offOut: r.offOut,
      payload: [...r.payload],
    });
  });
  return out;
}

Deno.test("CaptureRing keeps whole payloads with each direction's offsets", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  ring.opened(a, 1);
  ring.packet(a, "in", Uint8Array.of(1, 2, 3), 2);
  ring.packet(a, "out", Uint8Array.of(4), 3);
  ring.packet(a, "in", Uint8Array.of(5, 6), 4);
  (a as { closeReason: string }).closeReason = "closed by peer";
  ring.closed(a, false, 5);
  deepStrictEqual(held(ring).map((r) => [r.kind, r.offIn, r.offOut, r.payload]), [
    ["open", 0, 0, []],
    ["in", 0, 0, [1, 2, 3]],
    ["out", 3, 0, [4]],
    ["in", 3, 1, [5, 6]],
    ["close", 5, 1, []],
  ]);
  const s = ring.stats();
  deepStrictEqual([s.packets, s.bytes, s.droppedPackets, s.records], [3, 6, 0, 5]);
});

Deno.test("CaptureRing evicts the oldest records, counts them, and never holds more than its size", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          conn: fc.integer({ min: 0, max: 3 }),
          size: fc.integer({ min: 0, max: 3000 }),
        }),
        {
          maxLength: 200,
        },
      ),
      (writes) => {
        const ring = new CaptureRing({ bytes: 8192 });
        const srcs = [0, 1, 2, 3].map((i) =>
          source(`c${i}`, { transport: "udp", endpoint: "udp" })
        );
        let seq = 0;
        for (const w of writes) {
          const bytes = new Uint8Array(w.size).fill(seq & 0xff);
          ring.packet(srcs[w.conn], "in", bytes, seq++);
          ok(ring.stats().usedBytes <= 8192);
        }
        const records = held(ring);
        // What is held is the newest writes, in order, whole (large ones cut into pieces).
        const ts = records.map((r) => r.ts);
        deepStrictEqual(ts, ts.slice().sort((x, y) => x - y));
        for (const r of records) ok(r.payload.every((b) => b === (r.ts & 0xff)));
        const s = ring.stats();
        strictEqual(s.packets - s.droppedPackets, records.length);
        const total = writes.reduce((n, w) => n + w.size, 0);
        strictEqual(s.bytes, total);
        strictEqual(
          s.bytes - s.droppedBytes,
          records.reduce((n, r) => n + r.payload.length, 0),
        );
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("CaptureRing.read() skips what was evicted under a slow reader and says how much", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("u1", { transport: "udp" });
  ring.packet(a, "in", new Uint8Array(100), 0);
  const cursor = ring.cursor();
  for (let i = 1; i < 200; i++) ring.packet(a, "in", new Uint8Array(100), i);
  const seen: number[] = [];
  ring.read(cursor, ring.endSeq, (r) => seen.push(r.ts));
  ok(cursor.skipped > 0);
  strictEqual(seen[seen.length - 1], 199);
  strictEqual(cursor.skipped + seen.length, 200);
});

Deno.test("CaptureRing forgets a closed connection once its records are gone", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  ring.opened(a, 0);
  ring.closed(a, false, 1);
  ok(ring.has({ conn: "c1" }));
  const b = source("u9", { transport: "udp" });
  for (let i = 0; i < 100; i++) ring.packet(b, "out", new Uint8Array(200), i);
  ok(!ring.has({ conn: "c1" }));
  ok(ring.has({ conn: "u9" }));
  ok(ring.has({ endpoint: "echo" }));
});

Deno.test("CaptureRing keeps a large write whole across records", () => {
  const ring = new CaptureRing({ bytes: 1 << 20 });
  const a = source("c1");
  const big = new Uint8Array(200_000).map((_, i) => i % 253);
  ring.packet(a, "out", big, 1);
  const records = held(ring);
  ok(records.length > 1);
  deepStrictEqual(records.flatMap((r) => r.payload), [...big]);
  deepStrictEqual(
    records.map((r) => r.offOut),
    [0, 65536, 131072, 196608].slice(0, records.length),
  );
});

Deno.test("CaptureRing refuses a size it cannot hold", () => {
  throws(() => new CaptureRing({ bytes: 100 }), RangeError);
  throws(() => new CaptureRing({ bytes: 1.5 }), RangeError);
});

Deno.test("CaptureRing.export() streams pcapng in chunks for a filter", async () => {
  const ring = new CaptureRing({ bytes: 1 << 22 });
  const a = source("c1");
  const b = source("c2", { endpoint: "app" });
  ring.opened(a, 1);
  ring.opened(b, 1);
  for (let i = 0; i < 40; i++) ring.packet(a, "in", new Uint8Array(60_000), 2 + i);
  ring.packet(b, "in", Uint8Array.of(1), 50);
  const chunks: Uint8Array[] = [];
  for await (const chunk of ring.export({ endpoint: "echo" })) chunks.push(chunk);
  ok(chunks.length > 1, "one giant chunk");
  ok(chunks.every((c) => c.length < 1 << 20));
  const total = chunks.reduce((n, c) => n + c.length, 0);
  ok(total > 40 * 60_000 && total < 40 * 60_100 + 4096);
  const small: Uint8Array[] = [];
  for await (const chunk of ring.export({ conn: "c2" })) small.push(chunk);
  ok(small.reduce((n, c) => n + c.length, 0) < 2048);
});

Deno.test("CaptureRing stores an echo once and reads it back as the bytes written", () => {
  const copy = new CaptureRing({ bytes: 1 << 16 });
  const once = new CaptureRing({ bytes: 1 << 16 });
  const a = source("c1");
  for (const ring of [copy, once]) {
    for (let i = 0; i < 10; i++) {
      const chunk = new Uint8Array(1000).fill(i + 1);
      ring.packet(a, "in", chunk, 2 * i);
      ring.packet(a, "out", chunk, 2 * i + 1, ring === once);
    }
  }
  deepStrictEqual(held(once), held(copy));
  deepStrictEqual(
    [once.stats().packets, once.stats().bytes],
    [copy.stats().packets, copy.stats().bytes],
  );
  ok(once.stats().usedBytes < copy.stats().usedBytes * 0.6, "the payload is stored once");
});

Deno.test("CaptureRing copies an echo whose bytes are not the previous read's view", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("c1");
  ring.packet(a, "in", Uint8Array.of(1, 2, 3), 1);
  // Same contents, another view: only the very view read is taken as unchanged.
  ring.packet(a, "out", Uint8Array.of(1, 2, 3), 2, true);
  const chunk = Uint8Array.of(4, 5);
  ring.packet(a, "in", chunk, 3);
  ring.packet(a, "out", chunk, 4, true);
  ring.packet(a, "out", chunk, 5, true);
  deepStrictEqual(held(ring).map((r) => [r.kind, r.payload]), [
    ["in", [1, 2, 3]],
    ["out", [1, 2, 3]],
    ["in", [4, 5]],
    ["out", [4, 5]],
    ["out", [4, 5]],
  ]);
});

Deno.test("CaptureRing drops an echo with the read it refers to and counts both", () => {
  const ring = new CaptureRing({ bytes: 4096 });
  const a = source("u1", { transport: "udp" });
  const chunk = new Uint8Array(500).fill(7);
  ring.packet(a, "in", chunk, 0);
  const cursor = ring.cursor();
  ring.packet(a, "out", chunk, 1, true);
  // Enough traffic to evict the read but not necessarily its echo record.
  for (let i = 2; i < 9; i++) ring.packet(a, "in", new Uint8Array(500), i);
  const seen: number[] = [];
  ring.read(cursor, ring.endSeq, (r) => seen.push(r.ts));
  ok(!seen.includes(0) && !seen.includes(1), "neither the read nor its echo is visited");
  strictEqual(cursor.skipped + seen.length, 9);
  const s = ring.stats();
  strictEqual(s.packets - s.droppedPackets, seen.length);
  strictEqual(s.bytes - s.droppedBytes, seen.length * 500);
});

Deno.test("CaptureRing with echoes holds the newest packets whole and counts what it dropped", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          conn: fc.integer({ min: 0, max: 3 }),
          size: fc.integer({ min: 0, max: 3000 }),
          echo: fc.boolean(),
        }),
        { maxLength: 200 },
      ),
      (writes) => {
        const ring = new CaptureRing({ bytes: 8192 });
        const srcs = [0, 1, 2, 3].map((i) => source(`c${i}`));
        let seq = 0;
        let total = 0;
        for (const w of writes) {
          const bytes = new Uint8Array(w.size).fill(seq & 0xff);
          ring.packet(srcs[w.conn], "in", bytes, seq);
          total += w.size;
          if (w.echo) {
            ring.packet(srcs[w.conn], "out", bytes, seq + 0.5, true);
            total += w.size;
          }
          seq++;
          ok(ring.stats().usedBytes <= 8192);
        }
        const records = held(ring);
        const ts = records.map((r) => r.ts);
        deepStrictEqual(ts, ts.slice().sort((x, y) => x - y));
        for (const r of records) ok(r.payload.every((b) => b === (Math.floor(r.ts) & 0xff)));
        const s = ring.stats();
        strictEqual(s.packets - s.droppedPackets, records.length);
        strictEqual(s.bytes, total);
        strictEqual(
          s.bytes - s.droppedBytes,
          records.reduce((n, r) => n + r.payload.length, 0),
        );
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("CaptureRing keeps a lent read buffer instead of a copy and gives it back on eviction", () => {
  const released: Uint8Array[] = [];
  // Without per-connection retention: the first read would be kept as a copy.
  const ring = new CaptureRing({
    bytes: 1 << 20,
    lendMin: 1024,
    release: (b) => released.push(b),
    keepBytes: 0,
  });
  const src = source("c1");
  const buffer = new Uint8Array(65536).fill(7);
  const read = buffer.subarray(0, 4000);
  strictEqual(ring.packet(src, "in", read, 1, false, buffer), true, "kept");
  // Its echo refers to it; a small read and a view not starting the buffer are copied.
  strictEqual(ring.packet(src, "out", read, 2, true), false);
  strictEqual(ring.packet(src, "in", buffer.subarray(0, 10), 3, false, buffer), false);
  const other = new Uint8Array(65536);
  strictEqual(ring.packet(src, "in", other.subarray(8, 4008), 4, false, other), false);
  const seen: [string, number, number][] = [];
  ring.read(ring.cursor(), ring.endSeq, (r) => {
    if (r.kind === "in" || r.kind === "out") seen.push([r.kind, r.payload.length, r.payload[0]]);
  });
  deepStrictEqual(seen, [["in", 4000, 7], ["out", 4000, 7], ["in", 10, 7], ["in", 4000, 0]]);
  deepStrictEqual(released, []);
  // A quarter of 1 MiB holds four 64 KiB buffers: the fifth evicts the oldest records.
  for (let i = 0; i < 4; i++) {
    const b = new Uint8Array(65536);
    ring.packet(src, "in", b.subarray(0, 2000), 10 + i, false, b);
  }
  strictEqual(released.length, 1);
  strictEqual(released[0], buffer);
  ok(ring.stats().usedBytes <= ring.capacity);
  strictEqual(ring.stats().droppedPackets, 2, "the read and its echo");
});

Deno.test("CaptureRing keeps a small conversation whole and a bulk one's first and latest bytes", () => {
  const ring = new CaptureRing({ bytes: 256 * 1024, keepHead: 4096, keepTail: 4096 });
  const small = source("c1");
  const bulk = source("c2", { endpoint: "discard" });
  ring.opened(small, 0);
  // 420 bytes each way, echoed: the conversation the issue saw disappear.
  for (let i = 0; i < 6; i++) {
    const line = new Uint8Array(70).fill(i + 1);
    ring.packet(small, "in", line, 1 + i);
    ring.packet(small, "out", line, 1.5 + i, true);
  }
  (small as { closeReason: string }).closeReason = "closed by peer";
  ring.closed(small, false, 8);
  ring.opened(bulk, 9);
  // Ten times the capture through one connection.
  const chunk = new Uint8Array(1000);
  for (let i = 0; i < 2600; i++) ring.packet(bulk, "in", chunk.fill(i & 0xff), 10 + i);
  const s = connStream(ring, "c1");
  strictEqual(s.evicted, false);
  deepStrictEqual([s.total.in, s.total.out, s.records.length], [420, 420, 12]);
  for (const [i, r] of s.records.entries()) {
    deepStrictEqual([...Uint8Array.fromBase64(r.data)], new Array(70).fill((i >> 1) + 1));
  }
  // The bulk connection: its first 4 KiB whole, a gap, then its latest.
  const b = connStream(ring, "c2", { limit: 100_000, maxBytes: 1 << 24 });
  const first = b.records.findIndex((r) => r.gap > 0);
  ok(first > 0, "no gap");
  deepStrictEqual(b.records.slice(0, first).map((r) => [r.offset, r.len]), [
    [0, 1000],
    [1000, 1000],
    [2000, 1000],
    [3000, 1000],
    [4000, 96],
  ]);
  const last = b.records[b.records.length - 1];
  strictEqual(last.offset + last.len, 2_600_000);
  strictEqual(Uint8Array.fromBase64(last.data)[0], 2599 & 0xff);
  strictEqual(b.lost.in, b.records.reduce((n, r) => n + r.gap, 0));
  strictEqual(b.total.in + b.lost.in, 2_600_000);
  // Everything is read back in seq order, the kept records first.
  const ts = held(ring).map((r) => r.ts);
  deepStrictEqual(ts, ts.slice().sort((x, y) => x - y));
  ok(ring.stats().usedBytes <= ring.capacity);
});

Deno.test("CaptureRing drops kept records oldest first when they overflow, and forgets", () => {
  const ring = new CaptureRing({ bytes: 65536, keepHead: 100, keepTail: 100 });
  // Closed connections, each 300 bytes: their heads and tails fill the kept records in turn.
  for (let c = 0; c < 200; c++) {
    const src = source(`c${c}`);
    ring.opened(src, c);
    for (let i = 0; i < 3; i++) ring.packet(src, "in", new Uint8Array(100).fill(c), c);
    ring.closed(src, false, c);
  }
  ok(!ring.has({ conn: "c0" }), "the oldest connection is forgotten");
  ok(ring.has({ conn: "c199" }));
  const s = ring.stats();
  ok(s.usedBytes <= ring.capacity);
  const records = held(ring);
  strictEqual(s.packets - s.droppedPackets, records.filter((r) => r.kind === "in").length);
  strictEqual(s.bytes - s.droppedBytes, records.reduce((n, r) => n + r.payload.length, 0));
  const ts = records.map((r) => r.ts);
  deepStrictEqual(ts, ts.slice().sort((x, y) => x - y));
});

Deno.test("CaptureRing with retention keeps order, offsets and counts under any traffic", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          conn: fc.integer({ min: 0, max: 3 }),
          size: fc.integer({ min: 1, max: 6000 }),
          echo: fc.boolean(),
          read: fc.integer({ min: 0, max: 5 }),
        }),
        // fast-check keeps arrays short unless told: these must overflow the ring many times.
        { minLength: 20, maxLength: 300, size: "max" },
      ),
      (writes) => {
        const ring = new CaptureRing({
          bytes: 196608,
          keepBytes: 65536,
          keepHead: 700,
          keepTail: 1000,
        });
        const srcs = [0, 1, 2, 3].map((i) => source(`c${i}`));
        const cursor = ring.cursor();
        const seen: number[] = [];
        const read = (max: number) => ring.read(cursor, ring.endSeq, (r) => seen.push(r.ts), max);
        let seq = 0;
        let total = 0;
        for (const w of writes) {
          const bytes = new Uint8Array(w.size).fill(seq & 0xff);
          ring.packet(srcs[w.conn], "in", bytes, seq);
          total += w.size;
          if (w.echo) {
            ring.packet(srcs[w.conn], "out", bytes, seq + 0.5, true);
            total += w.size;
          }
          seq++;
          ok(ring.stats().usedBytes <= 196608);
          read(w.read);
        }
        // The connections close, and other traffic pushes all they left out of the ring.
        for (const [k, src] of srcs.entries()) ring.closed(src, false, seq + 0.1 + k / 100);
        const other = source("u9", { transport: "udp" });
        for (let i = 0; i < 300; i++) {
          ring.packet(other, "in", new Uint8Array(1000).fill((seq + 1) & 0xff), seq + 1 + i / 1000);
        }
        read(Infinity);
        // A slow reader sees each record once (a record kept in two pieces: both), in order,
        // and counts the rest as skipped.
        deepStrictEqual(seen, seen.slice().sort((x, y) => x - y));
        strictEqual(new Set(seen).size + cursor.skipped, ring.endSeq);
        const records = held(ring);
        const ts = records.map((r) => r.ts);
        deepStrictEqual(ts, ts.slice().sort((x, y) => x - y));
        for (const r of records) ok(r.payload.every((b) => b === (Math.floor(r.ts) & 0xff)));
        const s = ring.stats();
        const packets = records.filter((r) => r.kind === "in" || r.kind === "out");
        strictEqual(s.packets - s.droppedPackets, new Set(packets.map((r) => r.ts)).size);
        strictEqual(s.bytes, total + 300_000);
        strictEqual(
          s.bytes - s.droppedBytes,
          records.reduce((n, r) => n + r.payload.length, 0),
        );
        // Each connection keeps its first read and its latest bytes; gaps say what is missing.
        for (const src of srcs) {
          const sent = writes.filter((w) => srcs[w.conn] === src).reduce((n, w) => n + w.size, 0);
          const ins = connStream(ring, src.id).records.filter((r) => r.dir === "in");
          if (sent === 0) continue;
          strictEqual(ins[0].offset, 0, `${src.id}: its first read`);
          const last = ins[ins.length - 1];
          strictEqual(last.offset + last.len, sent, `${src.id}: its latest bytes`);
          strictEqual(ins.reduce((n, r) => n + r.len + r.gap, 0), sent);
        }
      },
    ),
    { numRuns: 300 },
  );
});
