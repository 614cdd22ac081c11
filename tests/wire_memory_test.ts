import { ok as assert, strictEqual } from "node:assert/strict";

const SCRIPT = new URL("../bench/wire_mem.ts", import.meta.url).pathname;

// Its own process (for --expose-gc and a heap of its own): 10,000 idle connections' handshakes
// through the wire view, past the tracker's 4,096.
Deno.test("wire view keeps an idle connection in under 1 KB of heap and external memory", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", SCRIPT, "10000"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
  const result = JSON.parse(new TextDecoder().decode(out.stdout));
  strictEqual(result.kept.connections, 10_000);
  strictEqual(result.kept.segments, 30_000);
  // Measured 253 + 493 B; before the shared head pages and the tracker's slots, 1996 + 576.
  const bytes = result.heapPerConn + result.externalPerConn;
  assert(bytes < 1000, `${bytes} bytes per idle connection (${JSON.stringify(result)})`);
});
