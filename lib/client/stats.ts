/**
 * Timing statistics for the clients: ping-style min/avg/max/mdev (exact) plus
 * percentiles from an HDR histogram, whose relative error is bounded over the
 * whole range however many timings a run records (a sample of them was not:
 * a rare slow round trip could miss the sample and so the p99).
 */
import { build, type Histogram } from "hdr-histogram-js";
import type { LatencySummary } from "./types.ts";

/** Options for {@linkcode LatencyRecorder}. */
export interface LatencyRecorderOptions {
  /**
   * Longest timing the histogram tells apart, in milliseconds; longer ones
   * count as this long in the percentiles (min, avg, max and mdev stay exact).
   *
   * @default {3600000}
   */
  highestMs?: number;
  /**
   * Significant decimal digits the percentiles keep: 3 means a relative
   * error of at most 0.1%, at a resolution of one microsecond.
   *
   * @default {3}
   */
  significantDigits?: number;
}

/** The histogram's unit: timings are recorded in whole microseconds. */
const UNITS_PER_MS = 1000;

/** Records timings in bounded memory and summarizes them. */
export class LatencyRecorder {
  #histogram: Histogram;
  #highest: number;
  #count = 0;
  #sum = 0;
  #sumSquares = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Creates an empty recorder. */
  constructor(options: LatencyRecorderOptions = {}) {
    const highestMs = options.highestMs ?? 3_600_000;
    if (!(highestMs >= 1 && highestMs <= 86_400_000)) {
      throw new RangeError(`Invalid highestMs: "${highestMs}" is not between 1 and 86400000`);
    }
    const digits = options.significantDigits ?? 3;
    if (!Number.isInteger(digits) || digits < 1 || digits > 5) {
      throw new RangeError(`Invalid significantDigits: "${digits}" is not an integer 1 to 5`);
    }
    this.#highest = Math.ceil(highestMs * UNITS_PER_MS);
    // 32-bit counts: 2^31 timings per bucket is more than any run here records.
    this.#histogram = build({
      bitBucketSize: 32,
      lowestDiscernibleValue: 1,
      highestTrackableValue: this.#highest,
      numberOfSignificantValueDigits: digits as 1 | 2 | 3 | 4 | 5,
      useWebAssembly: false,
    });
  }

  /** How many samples were recorded. */
  get count(): number {
    return this.#count;
  }

  /** Records one timing in milliseconds. */
  add(ms: number): void {
    this.#count++;
    this.#sum += ms;
    this.#sumSquares += ms * ms;
    if (ms < this.#min) this.#min = ms;
    if (ms > this.#max) this.#max = ms;
    const units = Math.round(ms * UNITS_PER_MS);
    this.#histogram.recordValue(units < 1 ? 1 : units > this.#highest ? this.#highest : units);
  }

  /** Forgets every timing: the next summary covers only what is recorded after. */
  reset(): void {
    this.#histogram.reset();
    this.#count = 0;
    this.#sum = 0;
    this.#sumSquares = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
  }

  /** The summary so far, or null when nothing was recorded. */
  summary(): LatencySummary | null {
    if (this.#count === 0) return null;
    const avg = this.#sum / this.#count;
    const variance = Math.max(0, this.#sumSquares / this.#count - avg * avg);
    return {
      count: this.#count,
      min: this.#min,
      avg,
      max: this.#max,
      mdev: Math.sqrt(variance),
      p50: this.#at(50),
      p90: this.#at(90),
      p99: this.#at(99),
      p999: this.#at(99.9),
    };
  }

  /** The percentile from the histogram, kept within the exact min and max. */
  #at(p: number): number {
    const ms = this.#histogram.getValueAtPercentile(p) / UNITS_PER_MS;
    return Math.min(this.#max, Math.max(this.#min, ms));
  }
}

/** Summarizes a list of timings in milliseconds; null when the list is empty. */
export function summarize(samples: Iterable<number>): LatencySummary | null {
  const recorder = new LatencyRecorder();
  for (const ms of samples) recorder.add(ms);
  return recorder.summary();
}

/** The nearest-rank percentile `p` (0–100) of ascending `sorted` samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a percentile: no samples");
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`Invalid percentile: "${p}" is not between 0 and 100`);
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)];
}
