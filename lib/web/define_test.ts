import { strictEqual } from "node:assert/strict";
import { jsonRows } from "./define.ts";

Deno.test("jsonRows() streams exactly the text JSON.stringify gives for the whole", async () => {
  for (const n of [0, 1, 999, 1000, 1001, 2500]) {
    const rows = Array.from({ length: n }, (_, i) => ({ id: `c${i}`, n: i, q: null, s: '"é\n' }));
    const head = { kernel: { available: true, tookMs: 1.5 }, count: n };
    const res = jsonRows(head, "sockets", rows);
    strictEqual(res.headers.get("content-type"), "application/json; charset=utf-8");
    strictEqual(await res.text(), JSON.stringify({ ...head, sockets: rows }), `${n} rows`);
  }
  strictEqual(await jsonRows({}, "rows", [1, 2]).text(), '{"rows":[1,2]}');
});
