/**
 * Faults of the UDP endpoint seen from a client's socket: loss, duplicate,
 * reorder and delay act on the echoed replies, on both receive paths (Deno's
 * socket and the batched FFI one), counted in /metrics.
 */
import { deepStrictEqual, notDeepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { faultsShown, metric, setFault } from "./_faults.ts";
import { decoder, encoder, HOST, startService, type TestService } from "./_helpers.ts";

/** A client socket that collects every reply into `got`. */
function client(svc: TestService) {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const target: Deno.NetAddr = { transport: "udp", hostname: HOST, port: svc.port("udp") };
  const got: string[] = [];
  const loop = (async () => {
    try {
      for (let i = 0; i < 10_000; i++) {
        const [data] = await sock.receive();
        got.push(decoder.decode(data));
      }
    } catch {
      // Closed.
    }
  })();
  return {
    got,
    send: (text: string) => sock.send(encoder.encode(text), target),
    /** Waits (bounded) until `n` replies came. */
    async until(n: number, timeoutMs = 3000) {
      const deadline = performance.now() + timeoutMs;
      while (got.length < n && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
      ok(got.length >= n, `${got.length} of ${n} replies in ${timeoutMs} ms`);
    },
    async [Symbol.asyncDispose]() {
      sock.close();
      await loop;
    },
  };
}

for (const udpFast of [false, true]) {
  const path = udpFast ? "batched path" : "Deno's socket";

  Deno.test(`UDP loss 100% drops every reply, 0% none (${path})`, async () => {
    await using svc = startService({ udpPlain: !udpFast });
    strictEqual(svc.service.udp.get("udp")!.fast, udpFast);
    await using c = client(svc);
    await setFault(svc, "udp", { mode: "loss", percent: 100 });
    deepStrictEqual((await faultsShown(svc)).udp, { mode: "loss", percent: 100 });
    for (let i = 0; i < 5; i++) await c.send(`lost${i}`);
    await new Promise((r) => setTimeout(r, 0));
    const wait = c.until(1, 300).then(() => true, () => false);
    strictEqual(await wait, false, `no reply: ${c.got.join(",")}`);
    strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="udp",mode="loss"}'), 5);
    await setFault(svc, "udp", { mode: "loss", percent: 0 });
    for (let i = 0; i < 5; i++) await c.send(`kept${i}`);
    await c.until(5);
    deepStrictEqual(c.got, ["kept0", "kept1", "kept2", "kept3", "kept4"]);
  });

  Deno.test(`UDP duplicate 100% sends two copies of each reply (${path})`, async () => {
    await using svc = startService({ udpPlain: !udpFast });
    await using c = client(svc);
    await setFault(svc, "udp", { mode: "duplicate", percent: 100 });
    await c.send("twice");
    await c.until(2);
    const third = await c.until(3, 200).then(() => true, () => false);
    strictEqual(third, false, "no third copy");
    deepStrictEqual(c.got, ["twice", "twice"]);
    strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="udp",mode="duplicate"}'), 1);
    const flow = (await svc.sockets("?endpoint=udp")).find((s) => s.kind === "flow")!;
    deepStrictEqual([flow.messagesIn, flow.messagesOut], [1, 2]);
  });

  Deno.test(`UDP reorder sends a window of replies shuffled (${path})`, async () => {
    await using svc = startService({ udpPlain: !udpFast });
    await using c = client(svc);
    await setFault(svc, "udp", { mode: "reorder", window: 6 });
    const sent = ["a", "b", "c", "d", "e", "f"];
    for (const s of sent) await c.send(s);
    await c.until(6);
    notDeepStrictEqual(c.got, sent, "not in the order sent");
    deepStrictEqual([...c.got].sort(), sent, "every reply, once");
    // Fewer than a window are released after 100 ms.
    await c.send("g");
    await c.until(7, 2000);
    strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="udp",mode="reorder"}'), 7);
  });

  Deno.test(`UDP delay shifts each reply by ms (${path})`, async () => {
    await using svc = startService({ udpPlain: !udpFast });
    await using c = client(svc);
    await setFault(svc, "udp", { mode: "delay", ms: 200, jitter: 20 });
    const started = performance.now();
    await c.send("later");
    await c.until(1);
    const took = performance.now() - started;
    ok(took >= 179, `reply after ${took.toFixed(1)} ms`);
    await setFault(svc, "udp", { mode: "none" });
    const again = performance.now();
    await c.send("now");
    await c.until(2);
    ok(performance.now() - again < 150, "no delay once cleared");
    strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="udp",mode="delay"}'), 1);
  });
}
