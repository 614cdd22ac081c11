import { ok, rejects, strictEqual, throws } from "node:assert/strict";
import { readSockDiag } from "../kernel/netlink.ts";
import { waitFor } from "../../tests/_helpers.ts";
import {
  attachSocketFilter,
  dropAllFilter,
  dropFractionFilter,
  KEEP_ALL,
  LOAD_RANDOM_K,
  runSocketFilter,
  socketFilterUnavailable,
} from "./socket_filter.ts";

Deno.test("dropAllFilter() rejects every segment", () => {
  const program = dropAllFilter();
  strictEqual(program.length, 8);
  for (const r of [0, 1, 0x7fffffff, 0xffffffff]) strictEqual(runSocketFilter(program, r), 0);
});

Deno.test("dropFractionFilter() loads a random number and drops below the threshold", () => {
  const program = dropFractionFilter(0.25);
  const view = new DataView(program.buffer);
  strictEqual(program.length, 32);
  // ld [SKF_AD_OFF + SKF_AD_RANDOM]: k = 0xfffff038.
  strictEqual(view.getUint16(0, true), 0x20);
  strictEqual(view.getUint32(4, true), 0xfffff038);
  strictEqual(LOAD_RANDOM_K, 0xfffff038);
  strictEqual(view.getUint32(12, true), 0x40000000, "the threshold, 0.25 × 2^32");
  strictEqual(runSocketFilter(program, 0), 0);
  strictEqual(runSocketFilter(program, 0x3fffffff), 0);
  strictEqual(runSocketFilter(program, 0x40000000), KEEP_ALL);
  strictEqual(runSocketFilter(program, 0xffffffff), KEEP_ALL);
  // Over evenly spread random numbers, the share dropped is the fraction.
  let dropped = 0;
  for (let i = 0; i < 1000; i++) {
    if (runSocketFilter(program, Math.floor((i + 0.5) * 2 ** 32 / 1000)) === 0) dropped++;
  }
  strictEqual(dropped, 250);
});

Deno.test("dropFractionFilter() refuses a fraction outside (0, 1)", () => {
  for (const f of [0, 1, -0.1, 1.5, NaN]) {
    throws(() => dropFractionFilter(f), {
      name: "RangeError",
      message: `Cannot build drop filter: fraction "${f}" is not in (0, 1)`,
    });
  }
});

async function pair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn; close(): void }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    listener.accept(),
  ]);
  return {
    client,
    server,
    close() {
      for (const c of [client, server]) {
        try {
          c.close();
        } catch {
          // Closed already.
        }
      }
    },
  };
}

/** The server socket's retransmissions, from the kernel's tcp_info. */
async function serverRetrans(server: Deno.TcpConn): Promise<number> {
  const local = server.localAddr;
  const remote = server.remoteAddr;
  const rows = await readSockDiag({ ports: [local.port], families: [4] });
  const row = rows.find((r) => r.local.port === local.port && r.remote?.port === remote.port);
  return row?.info?.totalRetrans ?? -1;
}

Deno.test("a drop-all filter on the client's socket: the server retransmits, nothing arrives until it is detached", async () => {
  strictEqual(socketFilterUnavailable(), null, "tests run on Linux with FFI");
  const p = await pair();
  try {
    const filter = await attachSocketFilter(p.client, dropAllFilter());
    ok(filter.fd > 2);
    await p.server.write(new Uint8Array(1000).fill(0x61));
    let received = 0;
    const reading = (async () => {
      const buf = new Uint8Array(4096);
      while (received < 1000) {
        const n = await p.client.read(buf);
        if (n === null) break;
        received += n;
      }
    })();
    // Retransmissions (tail loss probe, then the timer) while the client receives nothing.
    await waitFor("the server to retransmit", async () => await serverRetrans(p.server) >= 2, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    strictEqual(received, 0, "nothing reached the client");
    filter.detach();
    // The next retransmission gets through (backoff: within a few seconds).
    await reading;
    strictEqual(received, 1000);
  } finally {
    p.close();
  }
});

Deno.test("a drop-fraction filter loses segments but TCP still delivers every byte", async () => {
  const p = await pair();
  try {
    const filter = await attachSocketFilter(p.client, dropFractionFilter(0.2));
    const total = 4 * 1024 * 1024;
    const block = new Uint8Array(65536);
    for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
    const writing = (async () => {
      for (let at = 0; at < total; at += block.length) {
        let w = 0;
        while (w < block.length) w += await p.server.write(block.subarray(w));
      }
    })();
    const buf = new Uint8Array(65536);
    let got = 0;
    let bad = 0;
    while (got < total) {
      const n = await p.client.read(buf);
      if (n === null) break;
      for (let i = 0; i < n; i++) if (buf[i] !== ((got + i) & 0xff)) bad++;
      got += n;
    }
    await writing;
    strictEqual(got, total);
    strictEqual(bad, 0);
    ok(await serverRetrans(p.server) > 0, "the server retransmitted");
    filter.detach();
  } finally {
    p.close();
  }
});

Deno.test("attachSocketFilter() says why when the socket is not in the kernel's table", async () => {
  const addr = { transport: "tcp" as const, hostname: "127.0.0.1", port: 9 };
  await rejects(
    attachSocketFilter({ localAddr: addr, remoteAddr: { ...addr, port: 1 } }, dropAllFilter()),
    { message: "Cannot attach socket filter: the socket is not in the kernel's table" },
  );
});
