import { ok, strictEqual } from "node:assert/strict";
import { openTcxCapture } from "./_tcx_capture.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";

const permitted = Deno.build.os === "linux" && Deno.build.arch === "x86_64" && Deno.uid() === 0;

Deno.test({
  name: "tcx prototype: lo's egress hands over each of our segments once, as the ring's frames",
  ignore: !permitted,
  fn: async () => {
    let capture;
    try {
      capture = openTcxCapture({ snaplen: 128, ringBytes: 1 << 20 });
    } catch (error) {
      // tcx came with Linux 6.6: an older kernel refuses the link, and the prototype is moot.
      if (/BPF_LINK_CREATE.*errno 22/.test((error as Error).message)) return;
      throw error;
    }
    const ac = new AbortController();
    const p = new WirePacket();
    const seen: string[] = [];
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const running = capture.run((f) => {
      if (!decodeFrame(f.bytes, f.offset, f.capturedLength, f.wireLength, f.ts, p)) return;
      if (p.protocol !== 6 || (p.srcPort !== port && p.dstPort !== port)) return;
      ok(Math.abs(f.ts - Date.now()) < 60_000, `timestamp ${f.ts}`);
      seen.push(`${p.srcPort === port ? "s" : "c"} ${p.flags} ${p.payloadLength}`);
    }, ac.signal);
    try {
      const client = await Deno.connect({ hostname: "127.0.0.1", port });
      const server = await listener.accept();
      await client.write(new Uint8Array(300)); // longer than the snap length
      let got = 0;
      const buf = new Uint8Array(1024);
      while (got < 300) got += (await server.read(buf)) ?? 300;
      client.close();
      await server.read(buf);
      server.close();
      const deadline = Date.now() + 10_000;
      while (!seen.some((s) => s.startsWith("s") && (Number(s.split(" ")[1]) & 1) !== 0)) {
        ok(Date.now() < deadline, `no FIN from the server in ${JSON.stringify(seen)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      strictEqual(capture.stats().drops, 0);
    } finally {
      ac.abort();
      await running;
      await capture.close();
    }
    // SYN, SYN-ACK, ACK, the 300 bytes (cut to 128 but counted whole), each once.
    strictEqual(seen.filter((s) => s === "c 2 0").length, 1, JSON.stringify(seen));
    strictEqual(seen.filter((s) => s === "s 18 0").length, 1, JSON.stringify(seen));
    strictEqual(seen.filter((s) => s.startsWith("c") && s.endsWith(" 300")).length, 1);
  },
});
