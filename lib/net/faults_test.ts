import assert from "node:assert/strict";
import { FaultSwitch } from "./faults.ts";

Deno.test("FaultSwitch reports the fault in force and counts pauses of accept", async () => {
  const target = { fault: null, faults: {} as Record<string, number> };
  const faults = new FaultSwitch(target);
  assert.deepEqual(target.fault, { mode: "none" });
  assert.equal(faults.active, null);
  assert.equal(faults.acceptGate(), null);
  faults.set({ mode: "pause-accept" }, []);
  const gate = faults.acceptGate();
  assert.ok(gate !== null);
  assert.deepEqual(target.fault, { mode: "pause-accept" });
  faults.set({ mode: "none" }, []);
  await gate;
  assert.equal(faults.acceptGate(), null);
  assert.deepEqual(target.faults, { "pause-accept": 1 });
  assert.equal(faults.active, null);
});
