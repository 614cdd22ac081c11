import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { decodeSockaddr, encodeSockaddr, openMmsgSocket } from "../lib/net/udp_mmsg.ts";
import { decoder, encoder, HOST, startService } from "./_helpers.ts";

async function echo(port: number, messages: string[]): Promise<string[]> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const buf = new Uint8Array(2048);
  const got: string[] = [];
  try {
    for (const m of messages) {
      await sock.send(encoder.encode(m), { transport: "udp", hostname: HOST, port });
      const [data] = await Promise.race([
        sock.receive(buf),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`No echo of "${m}" within 2 s`)), 2000)
        ),
      ]);
      got.push(decoder.decode(data));
    }
  } finally {
    sock.close();
  }
  return got;
}

Deno.test("encodeSockaddr() and decodeSockaddr() round-trip IPv4 and IPv6 literals", () => {
  const buf = new Uint8Array(32);
  strictEqual(encodeSockaddr("127.0.0.1", 4000, buf), 16);
  deepStrictEqual(decodeSockaddr(buf), { hostname: "127.0.0.1", port: 4000 });
  strictEqual(encodeSockaddr("::1", 53, buf), 28);
  deepStrictEqual(decodeSockaddr(buf), { hostname: "::1", port: 53 });
});

Deno.test("openMmsgSocket() receives a batch and echoes it back without a copy", async () => {
  const server = openMmsgSocket(HOST, 0, { batch: 8 });
  try {
    const client = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
    const to = { transport: "udp" as const, hostname: HOST, port: server.port };
    for (const m of ["one", "two", "three"]) await client.send(encoder.encode(m), to);
    ok(await server.readable(2000), "readable");
    let n = 0;
    const deadline = performance.now() + 2000;
    while (n < 3 && performance.now() < deadline) n += server.recv();
    strictEqual(n, 3);
    strictEqual(server.echo(n), 3);
    const buf = new Uint8Array(64);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(decoder.decode((await client.receive(buf))[0]));
    deepStrictEqual(got, ["one", "two", "three"]);
    client.close();
  } finally {
    server.close();
  }
});

Deno.test("udp endpoint with udpFast echoes, counts flows and closes like Deno's socket", async () => {
  await using svc = startService({ udpFast: true });
  const udp = svc.service.udp.get("udp")!;
  strictEqual(udp.fast, true, udp.fastUnavailable ?? "");
  deepStrictEqual(await echo(svc.port("udp"), ["ping", "pong", "x".repeat(1000)]), [
    "ping",
    "pong",
    "x".repeat(1000),
  ]);
  const flows = (await svc.sockets("?endpoint=udp")).filter((r) => r.kind === "flow");
  strictEqual(flows.length, 1);
  deepStrictEqual([flows[0].messagesIn, flows[0].messagesOut, flows[0].bytesIn], [3, 3, 1008]);
});

Deno.test("udp endpoint falls back to Deno's socket when FFI is not allowed", async () => {
  const script = new URL("./fixtures/udp_fast_fallback.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", "--allow-sys", script.href],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = decoder.decode(out.stdout).trim();
  ok(out.success, decoder.decode(out.stderr));
  const result = JSON.parse(text);
  strictEqual(result.fast, false);
  ok(/FFI needs --allow-ffi/.test(result.reason), result.reason);
  strictEqual(result.echoed, "hello");
});
