import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { decodeSockaddr, encodeSockaddr, openMmsgSocket } from "../lib/net/udp_mmsg.ts";
import { parseServerFlags, usage } from "../lib/startup/server_flags.ts";
import { decoder, encoder, HOST, startService } from "./_helpers.ts";
import { startMain } from "./_main_process.ts";

async function echo(port: number, messages: string[]): Promise<string[]> {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const buf = new Uint8Array(65_536);
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

Deno.test("udp endpoint runs the batched path by default and echoes a 60,000-byte datagram whole", async () => {
  await using svc = startService();
  const udp = svc.service.udp.get("udp")!;
  strictEqual(udp.fast, true, udp.fastUnavailable ?? "");
  strictEqual(udp.fastUnavailable, null);
  const big = "x".repeat(60_000);
  const got = await echo(svc.port("udp"), ["ping", "pong", big]);
  deepStrictEqual(got.map((m) => m.length), [4, 4, 60_000]);
  ok(got[2] === big, "the big datagram came back unchanged");
  const flows = (await svc.sockets("?endpoint=udp")).filter((r) => r.kind === "flow");
  strictEqual(flows.length, 1);
  deepStrictEqual(
    [flows[0].messagesIn, flows[0].messagesOut, flows[0].bytesIn],
    [3, 3, 60_008],
  );
});

Deno.test("udp endpoint with udpPlain runs Deno's socket and echoes the same", async () => {
  await using svc = startService({ udpPlain: true });
  const udp = svc.service.udp.get("udp")!;
  strictEqual(udp.fast, false);
  ok(/plain loop/.test(udp.fastUnavailable ?? ""), udp.fastUnavailable ?? "");
  const big = "y".repeat(60_000);
  const got = await echo(svc.port("udp"), ["ping", big]);
  deepStrictEqual(got.map((m) => m.length), [4, 60_000]);
  ok(got[1] === big, "the big datagram came back unchanged");
});

Deno.test("udp endpoint bound to a host name falls back to Deno's socket, which resolves it", async () => {
  await using svc = startService({ host: "localhost" });
  const udp = svc.service.udp.get("udp")!;
  strictEqual(udp.fast, false);
  ok(/not an IP literal/.test(udp.fastUnavailable ?? ""), udp.fastUnavailable ?? "");
  deepStrictEqual(await echo(svc.port("udp"), ["named"]), ["named"]);
});

/** The banner's UDP line of a main.ts started with `args` and `permissions`. */
async function bannerUdpLine(args: string[], permissions?: string[]): Promise<string> {
  await using main = startMain(args, {}, { permissions });
  for (let i = 0; i < 200; i++) {
    const line = await main.line(20_000);
    if (line === null) break;
    if (line.startsWith("  udp:")) return line;
  }
  throw new Error(`No udp line in the banner: ${await main.stderr()}`);
}

Deno.test("main.ts names the UDP loop in its banner: batched by default, --udp-plain the fallback", async () => {
  const batched = await bannerUdpLine([]);
  ok(/^ {2}udp: batched, recvmmsg\/sendmmsg/.test(batched), batched);
  const plain = await bannerUdpLine(["--udp-plain"]);
  ok(/Deno's socket, a datagram per call \(--udp-plain\)$/.test(plain), plain);
});

Deno.test("--udp-fast is still accepted and changes nothing", () => {
  const flags = parseServerFlags(["--udp-fast"]);
  strictEqual(flags.udpFast, true);
  strictEqual(flags.service.udpPlain, false);
  ok(/--udp-fast\s+accepted and ignored/.test(usage()), "the help says so");
});

Deno.test("main.ts without --allow-ffi falls back to Deno's socket and says why in the banner", async () => {
  const line = await bannerUdpLine([], [
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "--allow-sys",
    "--allow-write",
  ]);
  ok(/Deno's socket, a datagram per call \(fallback: .*FFI needs --allow-ffi/.test(line), line);
});

Deno.test("udp endpoint falls back to Deno's socket when FFI is not allowed, and echoes", async () => {
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
