import assert, { strictEqual } from "node:assert/strict";
import { BufferPool } from "./buffer_pool.ts";

Deno.test("BufferPool.small() cuts distinct slots from one slab and reuses returned ones", () => {
  const pool = new BufferPool({ smallSize: 8, slotsPerSlab: 4 });
  const slots = [pool.small(), pool.small(), pool.small(), pool.small()];
  assert.equal(new Set(slots.map((s) => s.buffer)).size, 1, "one slab");
  slots[0].fill(1);
  assert.ok(slots.slice(1).every((s) => s.every((b) => b === 0)), "slots do not overlap");
  pool.releaseSmall(slots[2]);
  assert.equal(pool.small(), slots[2]);
  assert.notEqual(pool.small().buffer, slots[0].buffer, "a fifth slot opens a new slab");
});

Deno.test("BufferPool.large() lends and keeps at most keepLarge buffers", () => {
  const pool = new BufferPool({ largeSize: 16, keepLarge: 1 });
  const a = pool.large();
  const b = pool.large();
  assert.equal(pool.largeInUse, 2);
  pool.releaseLarge(a);
  pool.releaseLarge(b);
  assert.equal(pool.largeInUse, 0);
  assert.equal(pool.large(), a, "the kept one is reused");
  assert.notEqual(pool.large(), b, "the second was left to the collector");
});

Deno.test("BufferPool.shouldRelease() keeps a large buffer while the peer streams", () => {
  const pool = new BufferPool({ largeSize: 1024, streamBytes: 256, maxLent: 2 });
  const bufs = [pool.large()];
  strictEqual(pool.shouldRelease(1024), false, "a full read keeps it");
  strictEqual(pool.shouldRelease(300), false, "a large read keeps it");
  strictEqual(pool.shouldRelease(100), true, "a small read returns it");
  bufs.push(pool.large(), pool.large());
  strictEqual(pool.shouldRelease(300), true, "too many lent: any partial read returns it");
  strictEqual(pool.shouldRelease(1024), false);
});

Deno.test("BufferPool reuses a buffer the capture kept only once both are done with it", () => {
  const pool = new BufferPool({ largeSize: 1024 });
  // Evicted while the connection still writes from it: reused only after doneWith().
  const a = pool.large();
  pool.captured(a);
  pool.fromCapture(a);
  strictEqual(pool.largeInUse, 1);
  const b = pool.large();
  assert.notEqual(b, a, "not handed out while its connection uses it");
  pool.doneWith(a);
  strictEqual(pool.largeInCapture, 0);
  strictEqual(pool.large(), a);
  // The connection done first: the capture holds it until eviction.
  const c = pool.large();
  pool.captured(c);
  pool.doneWith(c);
  strictEqual(pool.largeInCapture, 1);
  pool.fromCapture(c);
  strictEqual(pool.largeInCapture, 0);
  strictEqual(pool.large(), c);
});
