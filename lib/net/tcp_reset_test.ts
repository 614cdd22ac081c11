import { deepStrictEqual, match, strictEqual } from "node:assert/strict";
import { findSocketFd, resetSocket, resetUnavailable } from "./tcp_reset.ts";

Deno.test("resetSocket() closes normally and says why when the socket is not in the kernel's table", async () => {
  strictEqual(resetUnavailable(), null, "tests run on Linux with FFI");
  const reasons: string[] = [];
  const why = await resetSocket({
    local: { hostname: "127.0.0.1", port: 9 },
    remote: { hostname: "127.0.0.1", port: 1 },
    closed: false,
    close: (reason) => reasons.push(reason),
  }, "fault: reset");
  strictEqual(why, "the socket is not in the kernel's table (sock_diag)");
  deepStrictEqual(reasons, [
    "fault: reset (reset unavailable: the socket is not in the kernel's table (sock_diag); " +
    "closed normally)",
  ]);
});

Deno.test("findSocketFd() finds no descriptor for an inode this process does not hold", () => {
  strictEqual(findSocketFd(0), -1);
});

Deno.test("resetUnavailable() names the missing FFI permission", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { resetUnavailable } from ${
        JSON.stringify(import.meta.resolve("./tcp_reset.ts"))
      };\n` +
        "console.log(resetUnavailable());\n",
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--allow-read", "--allow-net", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    strictEqual(out.code, 0, new TextDecoder().decode(out.stderr));
    match(new TextDecoder().decode(out.stdout), /^FFI needs --allow-ffi\n$/);
  } finally {
    await Deno.remove(script);
  }
});
