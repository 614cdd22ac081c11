import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { openTcxCapture, type TcxLibc, tcxProgram } from "./tcx_capture.ts";
import { decodeFrame, WirePacket } from "./decode.ts";

const permitted = Deno.build.os === "linux" && Deno.uid() === 0;

Deno.test("tcxProgram() checks each port on both ends, and refuses more than the filter's 60", () => {
  const none = tcxProgram(3, 4, 1 << 20, [], 256).length / 8;
  const two = tcxProgram(3, 4, 1 << 20, [80, 443, 80], 256).length / 8;
  // Two ports, looked for as source and destination over IPv4 and IPv6, plus loading the ports
  // (four loads, the IPv4 header length in four, and a jump out for each family).
  strictEqual(two - none, 4 * 2 + 8);
  let threw = false;
  try {
    tcxProgram(3, 4, 1 << 20, Array.from({ length: 61 }, (_, i) => i + 1), 256);
  } catch (error) {
    threw = error instanceof RangeError;
  }
  ok(threw);
});

Deno.test("openTcxCapture() answers unavailable with the step the kernel refused", () => {
  const refusing = {
    syscall: () => -1n,
    __errno_location: () => Deno.UnsafePointer.of(new Int32Array([1])),
    close: () => 0,
  } as unknown as TcxLibc;
  deepStrictEqual(openTcxCapture({ libc: refusing }), {
    available: false,
    reason: "bpf(BPF_MAP_CREATE) of the ring buffer failed with errno 1",
  });
  deepStrictEqual(openTcxCapture({ interface: "eth0", libc: refusing }), {
    available: false,
    reason: 'only on lo (not "eth0")',
  });
});

/**
 * Runs one exchange per listener, in order, and returns "src>dst flags len" of each segment
 * captured, once the last listener's connection was seen closing from both ends (the ring
 * hands records over in order: by then every earlier one was walked).
 */
async function exchanges(
  hostname: string,
  listeners: Deno.TcpListener[],
  capture: ReturnType<typeof openTcxCapture> & { available: true },
): Promise<string[]> {
  const seen: string[] = [];
  const p = new WirePacket();
  const last = (listeners.at(-1)!.addr as Deno.NetAddr).port;
  const fins = new Set<number>();
  const ac = new AbortController();
  const running = capture.capture.run((f) => {
    if (decodeFrame(f.bytes, f.offset, f.capturedLength, f.wireLength, f.ts, p)) {
      seen.push(`${p.srcPort}>${p.dstPort} ${p.flags} ${p.payloadLength}`);
      if ((p.flags & 1) !== 0 && (p.srcPort === last || p.dstPort === last)) fins.add(p.srcPort);
    }
  }, ac.signal);
  try {
    for (const l of listeners) {
      const c = await Deno.connect({ hostname, port: (l.addr as Deno.NetAddr).port });
      const s = await l.accept();
      await c.write(new Uint8Array(100));
      await s.read(new Uint8Array(200));
      c.close();
      s.close();
    }
    const deadline = Date.now() + 10_000;
    while (fins.size < 2) {
      ok(Date.now() < deadline, `no FIN from both ends of :${last} in ${JSON.stringify(seen)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return seen;
  } finally {
    ac.abort();
    await running;
  }
}

for (const hostname of ["127.0.0.1", "::1"]) {
  Deno.test({
    name:
      `tcx capture on ${hostname}: keeps only the ports asked for, and the new ones after setPorts()`,
    ignore: !permitted,
    fn: async () => {
      using a = Deno.listen({ hostname, port: 0 });
      using b = Deno.listen({ hostname, port: 0 });
      const pa = (a.addr as Deno.NetAddr).port;
      const pb = (b.addr as Deno.NetAddr).port;
      const opened = openTcxCapture({ ports: [pa], snaplen: 128 });
      if (!opened.available) {
        // Linux before 6.6 has no tcx hook: the service falls back to the packet socket.
        ok(/tcx hook/.test(opened.reason), opened.reason);
        return;
      }
      try {
        const first = await exchanges(hostname, [b, a], opened);
        ok(first.length >= 7, JSON.stringify(first));
        const has = (port: number) => (s: string) => s.split(" ")[0].split(">").includes(`${port}`);
        ok(first.every(has(pa)), `first ${pa}: ${JSON.stringify(first)}`);
        ok(first.some((s) => s.endsWith(`>${pa} 24 100`)), JSON.stringify(first));
        opened.capture.setPorts([pb]);
        const second = await exchanges(hostname, [a, b], opened);
        ok(
          second.length >= 7 && second.every(has(pb)),
          `second ${pb}: ${JSON.stringify(second)}`,
        );
        strictEqual(opened.capture.stats().drops, 0);
      } finally {
        await opened.capture.close();
      }
    },
  });
}
