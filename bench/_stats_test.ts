import assert from "node:assert/strict";
import {
  busyTicks,
  cpuTicks,
  fmt,
  LatencyHistogram,
  markdownTable,
  median,
  ratio,
} from "./_stats.ts";

Deno.test("LatencyHistogram.percentileUs() gives nearest-rank percentiles in microseconds", () => {
  const h = new LatencyHistogram(1000);
  for (let us = 1; us <= 100; us++) h.add(us / 1000);
  assert.equal(h.count, 100);
  assert.equal(h.percentileUs(50), 50);
  assert.equal(h.percentileUs(99), 99);
  assert.equal(h.percentileUs(100), 100);
});

Deno.test("LatencyHistogram.percentileUs() counts samples above the exact range", () => {
  const h = new LatencyHistogram(100);
  for (let i = 0; i < 98; i++) h.add(0.01);
  h.add(5);
  h.add(2);
  assert.equal(h.percentileUs(50), 10);
  assert.equal(h.percentileUs(99), 2000);
  assert.equal(h.percentileUs(100), 5000);
});

Deno.test("LatencyHistogram.merge() adds another histogram's samples", () => {
  const a = new LatencyHistogram(1000);
  const b = new LatencyHistogram(1000);
  a.add(0.1);
  b.add(0.3);
  b.add(0.3);
  a.merge(b);
  assert.equal(a.count, 3);
  assert.equal(a.percentileUs(50), 300);
});

Deno.test("LatencyHistogram.percentileUs() is null when empty", () => {
  assert.equal(new LatencyHistogram().percentileUs(50), null);
});

Deno.test("median() ignores missing values and averages the middle pair", () => {
  assert.equal(median([3, null, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([null, undefined, NaN]), null);
});

Deno.test("ratio() is null when a side is missing or the divisor is zero", () => {
  assert.equal(ratio(1, 4), 0.25);
  assert.equal(ratio(null, 4), null);
  assert.equal(ratio(1, 0), null);
});

Deno.test("cpuTicks() adds utime and stime even when the command name has spaces", () => {
  const stat = "1234 (deno (x) y) S 1 2 3 4 5 6 7 8 9 10 250 40 0 0 20 0 8 0 100 0 0";
  assert.equal(cpuTicks(stat), 290);
  assert.throws(() => cpuTicks("garbage"), { name: "SyntaxError", message: /no "\)"/ });
});

Deno.test("busyTicks() counts everything in /proc/stat's cpu line but idle and iowait", () => {
  const stat = "cpu  100 5 50 9000 30 1 4 2 0 0\ncpu0 50 2 25 4500 15 0 2 1 0 0\n";
  assert.equal(busyTicks(stat), 100 + 5 + 50 + 1 + 4 + 2);
  assert.throws(() => busyTicks("intr 1 2\n"), { name: "SyntaxError", message: /is not "cpu"/ });
});

Deno.test("fmt() keeps three significant digits and groups large numbers", () => {
  assert.equal(fmt(0.123456), "0.123");
  assert.equal(fmt(12.345), "12.3");
  assert.equal(fmt(119_234.4), "119,234");
  assert.equal(fmt(null), "–");
});

Deno.test("markdownTable() pads cells so columns line up", () => {
  assert.equal(
    markdownTable(["a", "bb"], [["xyz", "1"]]),
    "| a   | bb |\n| --- | -- |\n| xyz | 1  |",
  );
});
