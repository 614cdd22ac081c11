/** Timing statistics for the clients: ping-style min/avg/max/mdev plus percentiles. Pure. */
import type { LatencySummary } from "./types.ts";

/** Options for {@linkcode LatencyRecorder}. */
export interface LatencyRecorderOptions {
  /**
   * Samples kept for percentiles; past this, a uniform random sample of them
   * is kept (min, avg, max and mdev stay exact).
   *
   * @default {100000}
   */
  capacity?: number;
  /**
   * Source of randomness in [0, 1) for the reservoir.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/** Records timings in bounded memory and summarizes them. */
export class LatencyRecorder {
  #samples: Float64Array;
  #capacity: number;
  #random: () => number;
  #count = 0;
  #sum = 0;
  #sumSquares = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Creates an empty recorder. */
  constructor(options: LatencyRecorderOptions = {}) {
    const capacity = options.capacity ?? 100_000;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Invalid capacity: "${capacity}" is not a positive integer`);
    }
    // Grows on demand so a short run does not pay for the whole capacity.
    this.#samples = new Float64Array(Math.min(capacity, 1024));
    this.#capacity = capacity;
    this.#random = options.random ?? Math.random;
  }

  /** How many samples were recorded. */
  get count(): number {
    return this.#count;
  }

  /** Records one timing in milliseconds. */
  add(ms: number): void {
    const index = this.#count++;
    this.#sum += ms;
    this.#sumSquares += ms * ms;
    if (ms < this.#min) this.#min = ms;
    if (ms > this.#max) this.#max = ms;
    if (index < this.#capacity) {
      if (index === this.#samples.length) this.#grow();
      this.#samples[index] = ms;
      return;
    }
    // Algorithm R: every sample so far stays in the reservoir with equal chance.
    const slot = Math.floor(this.#random() * (index + 1));
    if (slot < this.#capacity) this.#samples[slot] = ms;
  }

  /** The summary so far, or null when nothing was recorded. */
  summary(): LatencySummary | null {
    if (this.#count === 0) return null;
    const kept = this.#samples.slice(0, Math.min(this.#count, this.#capacity)).sort();
    const avg = this.#sum / this.#count;
    const variance = Math.max(0, this.#sumSquares / this.#count - avg * avg);
    return {
      count: this.#count,
      min: this.#min,
      avg,
      max: this.#max,
      mdev: Math.sqrt(variance),
      p50: percentile(kept, 50),
      p90: percentile(kept, 90),
      p99: percentile(kept, 99),
    };
  }

  #grow(): void {
    const bigger = new Float64Array(Math.min(this.#capacity, this.#samples.length * 2));
    bigger.set(this.#samples);
    this.#samples = bigger;
  }
}

/** Summarizes a list of timings in milliseconds; null when the list is empty. */
export function summarize(samples: Iterable<number>): LatencySummary | null {
  const recorder = new LatencyRecorder({ capacity: Number.MAX_SAFE_INTEGER });
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
