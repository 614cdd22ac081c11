import assert from "node:assert/strict";
import { LatencyRecorder, percentile, summarize } from "./stats.ts";

Deno.test("summarize() gives ping's min/avg/max/mdev and nearest-rank percentiles", () => {
  const summary = summarize([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])!;
  assert.equal(summary.count, 10);
  assert.equal(summary.min, 1);
  assert.equal(summary.max, 10);
  assert.equal(summary.avg, 5.5);
  assert.ok(Math.abs(summary.mdev - Math.sqrt(8.25)) < 1e-9);
  // The histogram keeps three significant digits: 0.1% at most off the exact rank.
  assert.ok(Math.abs(summary.p50 - 5) <= 5e-3, `p50 ${summary.p50}`);
  assert.ok(Math.abs(summary.p90 - 9) <= 9e-3, `p90 ${summary.p90}`);
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

Deno.test("LatencyRecorder percentiles agree with a brute-force nearest rank within 0.1%", () => {
  // A long-tailed distribution over five decades (10 µs to 1 s), as round trips are, with a
  // few rare slow ones that a bounded sample would miss: 200,000 timings.
  let seed = 7;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const samples = new Float64Array(200_000);
  for (let i = 0; i < samples.length; i++) {
    samples[i] = i % 10_000 === 0 ? 500 + 500 * random() : 0.01 * Math.pow(1e4, random());
  }
  const recorder = new LatencyRecorder();
  for (const ms of samples) recorder.add(ms);
  const summary = recorder.summary()!;
  const sorted = samples.slice().sort();
  for (const [p, got] of [[50, summary.p50], [90, summary.p90], [99, summary.p99]] as const) {
    const exact = percentile(sorted, p);
    // Relative error of the histogram, plus the microsecond the timings are rounded to.
    assert.ok(Math.abs(got - exact) <= exact * 1e-3 + 1e-3, `p${p}: ${got} vs ${exact}`);
  }
  const exact999 = percentile(sorted, 99.9);
  assert.ok(Math.abs(summary.p999 - exact999) <= exact999 * 1e-3 + 1e-3, `p99.9 ${summary.p999}`);
  assert.equal(summary.count, 200_000);
  assert.equal(summary.min, sorted[0]);
  assert.equal(summary.max, sorted.at(-1));
});

Deno.test("LatencyRecorder.reset() forgets what it recorded", () => {
  const recorder = new LatencyRecorder();
  recorder.add(5);
  recorder.reset();
  assert.equal(recorder.summary(), null);
  recorder.add(2);
  assert.equal(recorder.summary()!.max, 2);
});

Deno.test("LatencyRecorder() rejects a range it cannot hold", () => {
  assert.throws(() => new LatencyRecorder({ highestMs: 0 }), {
    name: "RangeError",
    message: /"0"/,
  });
  assert.throws(() => new LatencyRecorder({ significantDigits: 6 }), {
    name: "RangeError",
    message: /"6"/,
  });
});
