import { ok, strictEqual } from "node:assert/strict";
import { openKernelTap } from "./_kernel_taps.ts";

const permitted = Deno.build.os === "linux" && Deno.build.arch === "x86_64" && Deno.uid() === 0;

async function exchange(count: number): Promise<void> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using client = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  using server = await listener.accept();
  client.setNoDelay(true);
  server.setNoDelay(true);
  const buf = new Uint8Array(64);
  for (let i = 0; i < count; i++) {
    await client.write(buf);
    // Each side waits for the other's segment: every message is a segment of its own.
    let got = 0;
    while (got < 64) got += (await server.read(buf)) ?? 64;
    await server.write(buf);
    got = 0;
    while (got < 64) got += (await client.read(buf)) ?? 64;
  }
}

Deno.test({
  name: "kernel taps: the eBPF tap counts every IPv4 segment on lo in its map, reject counts none",
  ignore: !permitted,
  fn: async () => {
    const ebpf = openKernelTap("ebpf");
    try {
      const before = ebpf.count()!;
      await exchange(20);
      // 40 data segments at least, with the handshake; other tests' traffic only adds.
      ok(ebpf.count()! - before >= 40, `${before} then ${ebpf.count()}`);
    } finally {
      ebpf.close();
    }
    const reject = openKernelTap("reject");
    try {
      await exchange(2);
      strictEqual(reject.count(), null);
    } finally {
      reject.close();
    }
  },
});
