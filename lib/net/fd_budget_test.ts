import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { FdBudget, fdExhaustion, planFdBudget } from "./fd_budget.ts";

Deno.test("planFdBudget() keeps the fixed parts and the whole dashboard cap out of a large limit", () => {
  const plan = planFdBudget(
    { limit: 20_000, open: 79, listeners: 56, httpMaxConns: 256, captureFiles: true },
    "/proc/self/limits",
  );
  // 79 open + 56 accepts + 4 kernel + 4 capture + 32 slack = 175, then the dashboard's 256.
  deepStrictEqual(plan, {
    limit: 20_000,
    limitSource: "/proc/self/limits",
    reserve: 431,
    reserved: { open: 79, accepts: 56, dashboard: 256, kernel: 4, capture: 4, slack: 32 },
    budget: 19_569,
  });
});

Deno.test("planFdBudget() gives the dashboard a quarter of what is left when the limit is small", () => {
  // prlimit --nofile=300: fixed 79 + 56 + 0 + 0 + 32 = 167, 133 left, a quarter is 33.
  const plan = planFdBudget({ limit: 300, open: 79, listeners: 56, kernel: false });
  deepStrictEqual([plan.reserved?.dashboard, plan.reserve, plan.budget], [33, 200, 100]);
  // Nothing left: the dashboard still gets its minimum, the budget is 0, never negative.
  const tiny = planFdBudget({ limit: 100, open: 79, listeners: 56 });
  deepStrictEqual([tiny.reserved?.dashboard, tiny.budget], [8, 0]);
  // A small cap is kept whole.
  strictEqual(
    planFdBudget({ limit: 1024, open: 30, listeners: 4, httpMaxConns: 16 }).reserved?.dashboard,
    16,
  );
});

Deno.test("planFdBudget() takes a whole reserve as given and refuses what is not a count", () => {
  deepStrictEqual(planFdBudget({ limit: 50, open: 10, listeners: 4, reserve: 45 }), {
    limit: 50,
    limitSource: "option",
    reserve: 45,
    reserved: null,
    budget: 5,
  });
  strictEqual(planFdBudget({ limit: 50, open: 0, listeners: 0, reserve: 80 }).budget, 0);
  throws(() => planFdBudget({ limit: -1, open: 0, listeners: 0 }), {
    name: "RangeError",
    message: 'Cannot plan the descriptor budget: limit "-1" is not a count',
  });
  throws(() => planFdBudget({ limit: 10, open: 0, listeners: 0, reserve: 1.5 }), RangeError);
});

Deno.test("FdBudget counts what it grants, refuses past the budget, and frees on release", () => {
  const fds = new FdBudget();
  // No plan yet: no limit.
  strictEqual(fds.budget, Infinity);
  strictEqual(fds.toJSON(), null);
  fds.set(planFdBudget({ limit: 10, open: 0, listeners: 0, reserve: 8 }));
  deepStrictEqual([fds.acquire(), fds.acquire(), fds.acquire()], [true, true, false]);
  deepStrictEqual([fds.used, fds.refused], [2, 1]);
  fds.release();
  strictEqual(fds.acquire(), true);
  fds.release();
  fds.release();
  fds.release();
  // More releases than grants never go below zero.
  strictEqual(fds.used, 0);
  deepStrictEqual(fds.toJSON(), {
    limit: 10,
    limitSource: "option",
    reserve: 8,
    reserved: null,
    budget: 2,
    used: 0,
    refused: 1,
    exhausted: 0,
  });
});

Deno.test("fdExhaustion() tells EMFILE and ENFILE from other errors", () => {
  const emfile = Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" });
  strictEqual(fdExhaustion(emfile), "emfile");
  strictEqual(fdExhaustion(new Error("Too many open files in system (os error 23)")), "enfile");
  strictEqual(fdExhaustion(new Deno.errors.ConnectionReset("reset")), null);
  strictEqual(fdExhaustion("EMFILE"), null);
});
