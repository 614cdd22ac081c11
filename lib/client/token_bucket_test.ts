import assert from "node:assert/strict";
import { TokenBucket } from "./token_bucket.ts";

Deno.test("TokenBucket.take() paces to the rate and says how long to wait", () => {
  const bucket = new TokenBucket(10, 1, 0);
  assert.equal(bucket.take(0), 0);
  assert.equal(bucket.take(0), 100);
  assert.equal(bucket.take(50), 50);
  assert.equal(bucket.take(100), 0);
});

Deno.test("TokenBucket.take() never lets more than burst through after a pause", () => {
  const bucket = new TokenBucket(100, 5, 0);
  let taken = 0;
  // Ten idle seconds, then a tight loop at the same instant: five tokens, not a thousand.
  while (bucket.take(10_000) === 0 && taken < 1000) taken++;
  assert.equal(taken, 5);
});

Deno.test("TokenBucket over a simulated second allows rate plus burst at most", () => {
  const bucket = new TokenBucket(1000, 10, 0);
  let now = 0;
  let taken = 0;
  while (now <= 1000) {
    const wait = bucket.take(now);
    if (wait === 0) taken++;
    else now += wait;
  }
  assert.ok(taken >= 1000 && taken <= 1011, `${taken}`);
});

Deno.test("TokenBucket() rejects a rate or burst it cannot pace", () => {
  assert.throws(() => new TokenBucket(0, 1, 0), { name: "RangeError", message: /"0"/ });
  assert.throws(() => new TokenBucket(1, 0.5, 0), { name: "RangeError", message: /"0.5"/ });
});
