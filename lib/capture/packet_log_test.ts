import assert from "node:assert/strict";
import { PacketLog } from "./packet_log.ts";

const enc = new TextEncoder();
const a = { id: "c1", endpoint: "echo" };
const b = { id: "c2", endpoint: "app" };

Deno.test("PacketLog.record() keeps only the preview and says the entry was truncated", () => {
  const log = new PacketLog({ entries: 4, previewBytes: 4 });
  log.record(a, "in", enc.encode("hello"), 1);
  const [e] = log.query();
  assert.equal(e.len, 5);
  assert.equal(e.truncated, true);
  assert.equal(atob(e.data), "hell");
  assert.equal(e.seq, 1);
});

Deno.test("PacketLog.record() overwrites the oldest entries and counts them as dropped", () => {
  const log = new PacketLog({ entries: 3 });
  for (let i = 0; i < 5; i++) log.record(a, "in", enc.encode(`m${i}`), i);
  assert.equal(log.dropped, 2);
  assert.deepEqual(log.query().map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(log.query().map((e) => atob(e.data)), ["m2", "m3", "m4"]);
});

Deno.test("PacketLog.query() pages by seq and filters by conn, endpoint and dir", () => {
  const log = new PacketLog({ entries: 100 });
  log.record(a, "in", enc.encode("1"), 0);
  log.record(b, "in", enc.encode("2"), 0);
  log.record(a, "out", enc.encode("3"), 0);
  log.record(b, "out", enc.encode("4"), 0);
  assert.deepEqual(log.query({ after: 2 }).map((e) => e.seq), [3, 4]);
  assert.deepEqual(log.query({ conn: "c1" }).map((e) => e.seq), [1, 3]);
  assert.deepEqual(log.query({ endpoint: "app", dir: "out" }).map((e) => e.seq), [4]);
  assert.deepEqual(log.query({ limit: 2 }).map((e) => e.seq), [3, 4], "newest N, oldest first");
  assert.deepEqual(log.query({ after: 0, limit: 1 }).map((e) => e.seq), [1]);
});

Deno.test("PacketLog.annotate() attaches notes to entries still in the ring only", () => {
  const log = new PacketLog({ entries: 2 });
  const first = log.record(a, "in", enc.encode("x"), 0);
  log.annotate(first, { kind: "app", summary: "frame" });
  assert.deepEqual(log.query()[0].decoded, [{ kind: "app", summary: "frame" }]);
  log.record(a, "in", enc.encode("y"), 0);
  log.record(a, "in", enc.encode("z"), 0);
  log.annotate(first, { kind: "app", summary: "late" });
  assert.equal(log.query().some((e) => e.decoded !== undefined), false);
});

Deno.test("PacketLog() refuses sizes that are not positive integers", () => {
  assert.throws(() => new PacketLog({ entries: 0 }), RangeError);
  assert.throws(() => new PacketLog({ previewBytes: -1 }), RangeError);
});

Deno.test("PacketLog keeps each connection's first and latest entries while a bulk one floods it", () => {
  const log = new PacketLog({ entries: 200 });
  const bulk = { id: "c9", endpoint: "discard" };
  for (let i = 0; i < 10; i++) log.record(a, i % 2 ? "out" : "in", enc.encode(`line ${i}`), i);
  log.closed(a, false, 10);
  for (let i = 0; i < 2000; i++) log.record(bulk, "in", enc.encode(`bulk ${i}`), 11 + i);
  // The small conversation whole, and nothing of it counted as evicted.
  const mine = log.query({ conn: "c1", limit: 1000 });
  assert.deepEqual(mine.map((e) => atob(e.data)), [...Array(10).keys()].map((i) => `line ${i}`));
  assert.equal(log.evicted({ conn: "c1" }), 0);
  assert.equal(log.evicted({ endpoint: "echo" }), 0);
  // The bulk connection: its first 16 entries, then only its latest.
  const theirs = log.query({ conn: "c9", limit: 1000 }).map((e) => atob(e.data));
  assert.deepEqual(theirs.slice(0, 17), [...Array(16).keys(), 2000 - 150].map((i) => `bulk ${i}`));
  assert.equal(theirs.at(-1), "bulk 1999");
  assert.equal(log.evicted({ conn: "c9" }), 2000 - theirs.length);
  assert.equal(log.evicted({ endpoint: "discard" }), log.dropped);
  // All of it in seq order, and paging with `after` goes through the kept entries first.
  const seqs = log.query({ limit: 1000 }).map((e) => e.seq);
  assert.deepEqual(seqs, seqs.slice().sort((x, y) => x - y));
  assert.equal(seqs.length, 150 + 10 + 16, "the ring, and what the two keep of their first");
  const paged: number[] = [];
  for (let after = 0;;) {
    const page = log.query({ after, limit: 7 });
    if (page.length === 0) break;
    paged.push(...page.map((e) => e.seq));
    after = page.at(-1)!.seq;
  }
  assert.deepEqual(paged, seqs);
});

Deno.test("PacketLog drops kept entries oldest first when they overflow, and counts per endpoint", () => {
  const log = new PacketLog({ entries: 100 });
  for (let c = 0; c < 100; c++) {
    const src = { id: `c${c}`, endpoint: c % 2 ? "odd" : "even" };
    for (let i = 0; i < 3; i++) log.record(src, "in", enc.encode(`${c}.${i}`), c);
    log.closed(src, false, c);
  }
  assert.equal(log.query({ conn: "c0" }).length, 0);
  assert.equal(log.query({ conn: "c99" }).length, 3);
  assert.equal(log.dropped, 300 - 100);
  assert.equal(log.evicted({ endpoint: "odd" }) + log.evicted({ endpoint: "even" }), 200);
  assert.equal(log.evicted({ endpoint: "none" }), 0);
});
