/**
 * The TCP fault modes Toxiproxy users ask for, observed from the client's
 * side over real sockets: bandwidth, delay with jitter, probability,
 * direction, slice and a real reset (RST without FIN, checked on the wire).
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { TCP_FIN, TCP_RST, WirePacket } from "../lib/wire/decode.ts";
import { decodeFrame } from "../lib/wire/decode.ts";
import { metric, readPieces, setFault } from "./_faults.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  readExactly,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { type Frame, recordFrames } from "./_wire.ts";

/** Writes one byte and times its echo. */
async function roundTrip(conn: Deno.Conn): Promise<number> {
  const started = performance.now();
  await writeAll(conn, encoder.encode("x"));
  await readExactly(conn, 1, 5000);
  return performance.now() - started;
}

/** The error a read fails with, or null when it gives bytes or end of stream. */
async function readError(conn: Deno.Conn, timeoutMs = 5000): Promise<unknown> {
  const timer = setTimeout(() => closeQuietly(conn), timeoutMs);
  try {
    await conn.read(new Uint8Array(1024));
    return null;
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("bandwidth fault caps the echo's rate near bytesPerSecond", async () => {
  await using svc = startService();
  const limit = 40_000;
  const set = await setFault(svc, "echo", { mode: "bandwidth", bytesPerSecond: limit });
  strictEqual(set.description, "bandwidth 40000 B/s");
  const conn = await connect(svc.port("echo"));
  try {
    // 1.5 s at the limit; the whole test is bounded by readExactly's 10 s.
    const size = 60_000;
    const started = performance.now();
    const [echoed] = await Promise.all([
      readExactly(conn, size, 10_000),
      writeAll(conn, new Uint8Array(size).fill(0x62)),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const rate = size / seconds;
    ok(echoed.every((b) => b === 0x62));
    // The bucket holds 40 ms of bytes, so the rate cannot be much above the limit.
    ok(rate <= limit * 1.1, `${rate.toFixed(0)} B/s through a ${limit} B/s limit`);
    ok(rate >= limit * 0.25, `${rate.toFixed(0)} B/s: far below the limit`);
  } finally {
    conn.close();
  }
  ok((await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="bandwidth"}'))! >= 1);
});

Deno.test("delay with jitter spreads replies uniformly over ms ± jitter", async () => {
  await using svc = startService();
  const set = await setFault(svc, "echo", { mode: "delay", ms: 100, jitter: 80 });
  strictEqual(set.description, "delay 100 ± 80 ms before each write");
  const conn = await connect(svc.port("echo"));
  const times: number[] = [];
  try {
    for (let i = 0; i < 20; i++) times.push(await roundTrip(conn));
  } finally {
    conn.close();
  }
  const min = Math.min(...times);
  const max = Math.max(...times);
  const shown = times.map((t) => t.toFixed(0)).join(", ");
  ok(min >= 19, `none shorter than 100 - 80 ms: ${shown}`);
  // 20 uniform draws in 20..180 all above 80 (or all below 120): 0.625^20 ≈ 1e-4.
  ok(min < 80, `some replies early: ${shown}`);
  ok(max > 120, `some replies late: ${shown}`);
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="delay"}'), 20);
});

Deno.test("probability 0 spares every connection, 1 takes every one", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "delay", ms: 300, probability: 0 });
  const spared = await connect(svc.port("echo"));
  try {
    ok((await roundTrip(spared)) < 250, "probability 0: no delay");
  } finally {
    spared.close();
  }
  await setFault(svc, "echo", { mode: "delay", ms: 300, probability: 1 });
  const taken = await connect(svc.port("echo"));
  try {
    ok((await roundTrip(taken)) >= 299, "probability 1: delayed");
  } finally {
    taken.close();
  }
});

Deno.test("probability 0.5 delays about half of many connections, each for its whole life", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "delay", ms: 300, probability: 0.5 });
  const conns = await Promise.all(Array.from({ length: 40 }, () => connect(svc.port("echo"))));
  try {
    const first = await Promise.all(conns.map(roundTrip));
    const second = await Promise.all(conns.map(roundTrip));
    const delayed = first.map((t) => t >= 250);
    const n = delayed.filter(Boolean).length;
    // Binomial(40, 0.5): 20 ± 3.2; 8..32 is outside ±3.7 sd.
    ok(n >= 8 && n <= 32, `${n} of 40 delayed`);
    // Drawn once per connection: the same connections are delayed the second time.
    deepStrictEqual(second.map((t) => t >= 250), delayed);
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("direction in acts on the endpoint's reads, out on its writes", async () => {
  await using svc = startService();
  // discard reads and never writes: a reset on reads fires, a reset on writes never does.
  await setFault(svc, "discard", { mode: "reset", direction: "out" });
  const spared = await connect(svc.port("discard"));
  try {
    await writeAll(spared, encoder.encode("kept"));
    await waitFor("discard read it", async () => {
      const row = (await svc.sockets("?endpoint=discard")).find((s) => s.kind === "conn");
      return row?.bytesIn === 4;
    });
    await writeAll(spared, encoder.encode("still open"));
    await waitFor("discard read more", async () => {
      const row = (await svc.sockets("?endpoint=discard")).find((s) => s.kind === "conn");
      return row?.bytesIn === 14 && row.state === "ESTABLISHED";
    });
  } finally {
    spared.close();
  }
  const set = await setFault(svc, "discard", { mode: "reset", direction: "in" });
  strictEqual(set.description, "reset (RST without FIN) at the next read");
  const reset = await connect(svc.port("discard"));
  try {
    await writeAll(reset, encoder.encode("boom"));
    const err = await readError(reset);
    ok(err instanceof Deno.errors.ConnectionReset, `the read fails with a reset: ${err}`);
  } finally {
    closeQuietly(reset);
  }
  // chargen writes and never needs to read: a reset on reads never fires there.
  await setFault(svc, "chargen", { mode: "reset", direction: "in" });
  const streaming = await connect(svc.port("chargen"));
  try {
    strictEqual((await readExactly(streaming, 1000)).length, 1000);
  } finally {
    streaming.close();
  }
  await setFault(svc, "chargen", { mode: "reset", direction: "both" });
  const both = await connect(svc.port("chargen"));
  try {
    const err = await readError(both);
    ok(err instanceof Deno.errors.ConnectionReset, `reset at chargen's first write: ${err}`);
  } finally {
    closeQuietly(both);
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="discard",mode="reset"}'), 1);
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="chargen",mode="reset"}'), 1);
});

Deno.test("slice fault cuts each write into pieces of minBytes..maxBytes", async () => {
  await using svc = startService();
  await setFault(svc, "echo", { mode: "slice", minBytes: 1, maxBytes: 8, interval: 10 });
  const conn = await connect(svc.port("echo"));
  try {
    const text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
    await writeAll(conn, encoder.encode(text));
    const pieces = await readPieces(conn, 64, 5000);
    // Each piece is its own write: the connection's row counts at least 64 / 8 of them.
    const row = await waitFor(
      "the row",
      async () => (await svc.sockets("?endpoint=echo")).find((s) => s.kind === "conn"),
    );
    ok(row.messagesOut >= 8 && row.messagesOut <= 64, `${row.messagesOut} writes`);
    // 10 ms apart, the client reads them one by one (two may merge on a busy machine).
    ok(pieces.length >= 4, `reads of ${pieces.join(", ")}`);
    const sorted = [...pieces].sort((a, b) => a - b);
    ok(sorted[Math.floor(sorted.length / 2)] <= 8, `median read ≤ 8 B: ${pieces.join(", ")}`);
  } finally {
    conn.close();
  }
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="slice"}'), 1);
});

Deno.test("reset fault: the client's read fails with ECONNRESET and no FIN goes out", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  const set = await setFault(svc, "echo", { mode: "reset" });
  strictEqual(set.note, undefined, set.description);
  const rec = recordFrames([port]);
  const conn = await connect(port);
  let local = 0;
  try {
    local = (conn.localAddr as Deno.NetAddr).port;
    await writeAll(conn, encoder.encode("hello"));
    const err = await readError(conn);
    ok(err instanceof Deno.errors.ConnectionReset, `the read fails with a reset: ${err}`);
  } finally {
    closeQuietly(conn);
  }
  const fromServer = (frames: Frame[]) =>
    frames.map((f) => {
      const p = new WirePacket();
      decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p);
      return p;
    }).filter((p) => p.srcPort === port && p.dstPort === local);
  const frames = await rec.stop(
    (fs) => fromServer(fs).some((p) => p.flags & TCP_RST),
    "the server's RST",
  );
  const server = fromServer(frames);
  deepStrictEqual(server.filter((p) => p.flags & TCP_FIN).length, 0, "no FIN from the server");
  const closed = svc.service.registry.closed().find((s) => s.endpoint === "echo")!;
  strictEqual(closed.closeReason, "fault: reset (RST without FIN)");
  strictEqual(closed.bytesOut, 0, "the write that met the fault never went out");
  strictEqual(await metric(svc, 'sockscope_faults_total{endpoint="echo",mode="reset"}'), 1);
  // Cleared, echo works again.
  await setFault(svc, "echo", { mode: "none" });
  const next = await connect(port);
  try {
    await writeAll(next, encoder.encode("ok"));
    strictEqual(decoder.decode(await readExactly(next, 2)), "ok");
  } finally {
    next.close();
  }
});
