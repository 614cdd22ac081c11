/**
 * A token bucket for pacing messages, as tcpkali's `--message-rate`: tokens
 * accrue at `rate` per second up to `burst`, each message takes one. Pure:
 * the caller passes the time and sleeps for the wait it is told.
 */

/** Paces events to `rate` per second, never more than `burst` at once. */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  #tokens: number;
  #at: number;

  /** A full bucket at time `now` (milliseconds); throws RangeError on a bad rate or burst. */
  constructor(rate: number, burst: number, now: number) {
    if (!(rate > 0 && rate <= 1e9)) {
      throw new RangeError(`Invalid rate: "${rate}" is not above 0 and at most 1e9`);
    }
    if (!(burst >= 1 && burst <= 1e9)) {
      throw new RangeError(`Invalid burst: "${burst}" is not between 1 and 1e9`);
    }
    this.rate = rate;
    this.burst = burst;
    // Starts with one token, not a full bucket: the first second must not go `burst` over.
    this.#tokens = 1;
    this.#at = now;
  }

  /**
   * Takes a token if there is one (returns 0), else returns the milliseconds
   * until one accrues; call again after waiting them.
   */
  take(now: number): number {
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000);
      this.#at = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return ((1 - this.#tokens) * 1000) / this.rate;
  }
}
