import { match, strictEqual } from "node:assert/strict";

Deno.test("without FFI the loss scenarios are unavailable and say why", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { Scenarios } from ${JSON.stringify(import.meta.resolve("./scenarios.ts"))};\n` +
        "const host = { address: () => undefined, fault: () => ({ mode: 'none' }),\n" +
        "  setFault() {}, sockets: async () => [], timeWaitLimit: () => 500 };\n" +
        "console.log(JSON.stringify(new Scenarios(host as never).list()));\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-net", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    const runs: { kind: string; state: string; note: string | null }[] = JSON.parse(
      new TextDecoder().decode(out.stdout),
    );
    for (const kind of ["peer-vanished", "retransmissions"]) {
      const run = runs.find((r) => r.kind === kind)!;
      strictEqual(run.state, "unavailable", kind);
      match(run.note ?? "", /socket filter .*: FFI needs --allow-ffi$/);
    }
    strictEqual(runs.find((r) => r.kind === "nagle-delayed-ack")?.state, "idle");
  } finally {
    await Deno.remove(script);
  }
});
