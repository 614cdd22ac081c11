import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { rssDrift, type Sample, soakArgs } from "./soak.ts";

function samples(rssKiB: number[]): Sample[] {
  return rssKiB.map((rss, i) => ({ t: i * 10, rssKiB: rss, conns: 0, ops: 0 }));
}

Deno.test("rssDrift() compares the floors and peaks of the first and last thirds after warm-up", () => {
  const sawtooth = [100, 400, 200, 260, 220, 270, 210, 250, 230, 280];
  const drift = rssDrift(samples(sawtooth), 20)!;
  deepStrictEqual(
    [drift.samples, drift.firstFloorKiB, drift.lastFloorKiB, drift.firstPeakKiB, drift.lastPeakKiB],
    [8, 200, 230, 260, 280],
  );
  // Floor 200 → 230 (+15%), peak 260 → 280 (+7.7%): the larger counts.
  ok(Math.abs(drift.growth - 0.15) < 1e-9, `${drift.growth}`);
  strictEqual(drift.spread, 80 / 200);
  strictEqual(rssDrift(samples([100, 200, 300, 400, 500, 600]), 20), null);
});

Deno.test("soakArgs() defaults to 10 minutes with at most half of the run as warm-up", () => {
  deepStrictEqual(soakArgs([]), {
    minutes: 10,
    sampleSeconds: 10,
    warmupMinutes: 2,
    maxGrowth: 0.1,
    json: null,
  });
  strictEqual(soakArgs(["--minutes", "1"]).warmupMinutes, 0.5);
  throws(() => soakArgs(["--minutes", "none"]), RangeError);
  throws(() => soakArgs(["--fast"]), TypeError);
});
