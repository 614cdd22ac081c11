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
