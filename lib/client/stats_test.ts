import assert from "node:assert/strict";
import { LatencyRecorder, percentile, summarize } from "./stats.ts";

Deno.test("summarize() gives ping's min/avg/max/mdev and nearest-rank percentiles", () => {
  const summary = summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])!;
  assert.equal(summary.count, 10);
  assert.equal(summary.min, 1);
  assert.equal(summary.max, 10);
  assert.equal(summary.avg, 5.5);
  assert.ok(Math.abs(summary.mdev - Math.sqrt(8.25)) < 1e-9);
  assert.equal(summary.p50, 5);
  assert.equal(summary.p90, 9);
  assert.equal(summary.p99, 10);
});

Deno.test("summarize() returns null for no samples", () => {
  assert.equal(summarize([]), null);
});

Deno.test("percentile() picks the nearest rank and rejects bad input", () => {
  assert.equal(percentile([7], 50), 7);
  assert.equal(percentile([1, 2, 3, 4], 0), 1);
  assert.equal(percentile([1, 2, 3, 4], 100), 4);
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), { name: "RangeError", message: /"101"/ });
});

Deno.test("LatencyRecorder keeps exact min/avg/max past its capacity", () => {
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const recorder = new LatencyRecorder({ capacity: 100, random });
  for (let i = 1; i <= 10_000; i++) recorder.add(i);
  const summary = recorder.summary()!;
  assert.equal(summary.count, 10_000);
  assert.equal(summary.min, 1);
  assert.equal(summary.max, 10_000);
  assert.equal(summary.avg, 5000.5);
  // The reservoir samples the whole run, not only its first hundred timings.
  assert.ok(summary.p50 > 2000 && summary.p50 < 8000, `p50 ${summary.p50}`);
  assert.ok(summary.p99 > 9000, `p99 ${summary.p99}`);
});

Deno.test("LatencyRecorder() rejects a capacity below 1", () => {
  assert.throws(() => new LatencyRecorder({ capacity: 0 }), { name: "RangeError", message: /"0"/ });
});
