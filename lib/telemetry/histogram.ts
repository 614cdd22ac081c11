/**
 * A fixed-bucket histogram, as Prometheus exposes one: cumulative counts per
 * upper bound, a sum and a count. Observing is a short scan of the bounds and
 * two additions, cheap enough for every request.
 */

/** Request latency bounds in seconds: 0.05 ms to 100 ms. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00005,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
];

/** Counts of observations per bucket, plus their sum and count. */
export class Histogram {
  /** Upper bounds, ascending; +Inf is implied. */
  readonly bounds: readonly number[];
  #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) {
        throw new RangeError(`Cannot make histogram: bounds are not ascending at "${bounds[i]}"`);
      }
    }
    this.bounds = bounds.slice();
    this.#counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value (in the bounds' unit). */
  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.#counts[i]++;
    this.#sum += value;
    this.#count++;
  }

  /** Observations so far. */
  get count(): number {
    return this.#count;
  }

  /** Sum of the observed values. */
  get sum(): number {
    return this.#sum;
  }

  /** Cumulative counts per bound, the last for +Inf (equal to `count`). */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const n of this.#counts) out.push(acc += n);
    return out;
  }
}
