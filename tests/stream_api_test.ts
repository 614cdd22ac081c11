/**
 * GET /api/sockets/:id/stream against real sockets: a connection's (or UDP
 * flow's) payloads come back whole from the capture, longer than the packet
 * log's previews, bounded per answer, with clear errors.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { StreamRecord } from "../lib/capture/conn_stream.ts";
import { concat } from "../lib/bytes.ts";
import {
  closeQuietly,
  connect,
  encoder,
  HOST,
  readExactly,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { pattern } from "./_tshark.ts";

/** The route's answer. */
interface StreamBody {
  id: string;
  evicted: boolean;
  lost: { in: number; out: number };
  total: { records: number; in: number; out: number };
  truncated: boolean;
  skipped: { records: number; bytes: number };
  records: StreamRecord[];
  error?: string;
}

/** One direction's bytes, joined from the records. */
function joined(records: StreamRecord[], dir: "in" | "out"): Uint8Array {
  return concat(records.filter((r) => r.dir === dir).map((r) => Uint8Array.fromBase64(r.data)));
}

/** Asserts equal bytes, naming the first difference (a diff of 300 kB would take minutes). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  ok(
    i === actual.length && i === expected.length,
    `${what}: ${actual.length} bytes where ${expected.length} were expected, first difference at ${i}`,
  );
}

/** The server's id for the echo connection whose client is `conn`. */
function idOf(svc: TestService, conn: Deno.Conn): Promise<string> {
  const port = (conn.localAddr as Deno.NetAddr).port;
  return waitFor(
    `the echo connection from port ${port}`,
    () => [...svc.service.tcp.get("echo")!.conns].find((c) => c.remote.port === port)?.id,
  );
}

/** Sends `bytes` through echo and reads them back, concurrently so no buffer fills. */
async function roundTrip(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  const [, echoed] = await Promise.all([
    writeAll(conn, bytes, 10_000),
    readExactly(conn, bytes.length, 10_000),
  ]);
  sameBytes(echoed, bytes, "echoed");
}

Deno.test("GET /api/sockets/:id/stream returns an echo connection's payloads whole both ways", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("echo"));
  // Far longer than the 64-byte previews, and large enough for reads lent to the capture.
  const hello = encoder.encode("hello, follow stream\n".repeat(20));
  const big = pattern(300_000, 3);
  let id: string;
  try {
    await roundTrip(conn, hello);
    id = await idOf(svc, conn);
    await roundTrip(conn, big);
  } finally {
    closeQuietly(conn);
  }
  ok(svc.service.pool.largeInCapture > 0, "no read buffer was lent to the capture");
  const sent = concat([hello, big]);
  const previews = await svc.api<{ packets: { len: number; data: string }[] }>(
    `/api/packets?conn=${id}&limit=10000`,
  );
  ok(
    previews.body.packets.every((p) => Uint8Array.fromBase64(p.data).length <= 64),
    "the packet log keeps previews only",
  );
  const { status, body } = await svc.api<StreamBody>(`/api/sockets/${id}/stream`);
  strictEqual(status, 200);
  strictEqual(body.id, id);
  sameBytes(joined(body.records, "in"), sent, "client→server");
  sameBytes(joined(body.records, "out"), sent, "server→client");
  deepStrictEqual(body.total, { records: body.records.length, in: sent.length, out: sent.length });
  deepStrictEqual([body.evicted, body.lost, body.truncated], [false, { in: 0, out: 0 }, false]);
  // Offsets count each direction's bytes, and seqs increase: the records are in order.
  let offIn = 0;
  for (const [i, r] of body.records.entries()) {
    if (i > 0) ok(r.seq > body.records[i - 1].seq);
    if (r.dir === "in") {
      strictEqual(r.offset, offIn);
      offIn += r.len;
    }
  }
});

Deno.test("GET /api/sockets/:id/stream returns a UDP flow's datagrams whole", async () => {
  await using svc = startService({ kernel: undefined });
  const target = { transport: "udp" as const, hostname: HOST, port: svc.port("udp") };
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  const datagram = pattern(1200, 5);
  try {
    await sock.send(datagram, target);
    // Loopback does not drop datagrams, but a lost echo must fail the test, not hang it.
    const timer = setTimeout(() => closeQuietly(sock), 3000);
    try {
      deepStrictEqual((await sock.receive())[0], datagram);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    closeQuietly(sock);
  }
  const port = (sock.addr as Deno.NetAddr).port;
  const flow = (await svc.sockets("?endpoint=udp")).find((s) =>
    s.kind === "flow" && s.remote?.port === port
  )!;
  const { status, body } = await svc.api<StreamBody>(`/api/sockets/${flow.id}/stream`);
  strictEqual(status, 200);
  deepStrictEqual(body.records.map((r) => [r.dir, r.len]), [["in", 1200], ["out", 1200]]);
  deepStrictEqual(joined(body.records, "out"), datagram);
});

Deno.test("GET /api/sockets/:id/stream stops at limit or maxBytes and reads on after a seq", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("echo"));
  const parts = [1, 2, 3, 4].map((i) => encoder.encode(`message ${i} `.repeat(20)));
  let id: string;
  try {
    for (const part of parts) await roundTrip(conn, part);
    id = await idOf(svc, conn);
  } finally {
    closeQuietly(conn);
  }
  // How reads split the messages is the kernel's business: compare with the unbounded answer.
  const whole = (await svc.api<StreamBody>(`/api/sockets/${id}/stream`)).body;
  const n = whole.records.length;
  ok(n >= 8, `at least a read and a write per message, got ${n} records`);
  deepStrictEqual(joined(whole.records, "in"), concat(parts));
  const first = await svc.api<StreamBody>(`/api/sockets/${id}/stream?limit=3`);
  strictEqual(first.status, 200);
  deepStrictEqual([first.body.records.length, first.body.truncated], [3, true]);
  deepStrictEqual(first.body.total, whole.total);
  const after = first.body.records[2].seq;
  const rest = await svc.api<StreamBody>(`/api/sockets/${id}/stream?after=${after}`);
  deepStrictEqual([rest.body.records.length, rest.body.truncated], [n - 3, false]);
  deepStrictEqual([...first.body.records, ...rest.body.records], whole.records);
  // Room for the first two records' payload only.
  const two = whole.records[0].len + whole.records[1].len;
  const bounded = await svc.api<StreamBody>(`/api/sockets/${id}/stream?maxBytes=${two}`);
  deepStrictEqual(bounded.body.records, whole.records.slice(0, 2));
  strictEqual(bounded.body.truncated, true);
  const bad = await svc.api<StreamBody>(`/api/sockets/${id}/stream?maxBytes=0`);
  strictEqual(bad.status, 400);
  strictEqual(bad.body.error, 'Cannot parse query: "maxBytes" is out of range 1..16777216: "0"');
});

/** Each direction's records follow on: offset plus length plus the next one's gap. */
function assertContiguous(records: StreamRecord[]): void {
  const next: { in?: number; out?: number } = {};
  for (const r of records) {
    const at = next[r.dir];
    if (at !== undefined) strictEqual(r.offset, at + r.gap, `record #${r.seq} (${r.dir})`);
    next[r.dir] = r.offset + r.len;
  }
}

Deno.test("GET /api/sockets/:id/stream?tail=1 returns the latest bytes whole after the capture evicted the middle", async () => {
  // A 256 KiB capture: a 1 MB echo fills it about eight times over (both ways).
  await using svc = startService({ kernel: undefined, captureBytes: 256 * 1024 });
  const conn = await connect(svc.port("echo"));
  const sent = pattern(1_000_000, 11);
  let id: string;
  try {
    await roundTrip(conn, sent.subarray(0, 1000));
    id = await idOf(svc, conn);
    await roundTrip(conn, sent.subarray(1000));
  } finally {
    closeQuietly(conn);
  }
  // Room for the largest read the capture stores (65,504 bytes) and its echo: both directions.
  const maxBytes = 128 * 1024;
  const { status, body } = await svc.api<StreamBody>(
    `/api/sockets/${id}/stream?tail=1&maxBytes=${maxBytes}`,
  );
  strictEqual(status, 200);
  const { total, lost, skipped, records } = body;
  deepStrictEqual([body.evicted, body.truncated], [true, false]);
  deepStrictEqual(lost, { in: sent.length - total.in, out: sent.length - total.out });
  ok(lost.in > 500_000, `most of the stream was evicted, lost ${lost.in}`);
  // The latest bytes, whole, up to the very end of each direction.
  const returned = records.reduce((n, r) => n + r.len, 0);
  ok(returned <= maxBytes, `${returned} bytes returned`);
  for (const dir of ["in", "out"] as const) {
    const got = joined(records, dir);
    ok(got.length > 0, `some ${dir} records`);
    sameBytes(got, sent.subarray(sent.length - got.length), `the latest ${dir} bytes`);
  }
  // What tail left out before them is what the capture still holds besides.
  deepStrictEqual(skipped, {
    records: total.records - records.length,
    bytes: total.in + total.out - returned,
  });
  ok(skipped.records > 0);
  assertContiguous(records);
  deepStrictEqual(records.map((r) => r.gap), records.map(() => 0));
  // Everything the capture holds: the gaps add up to what it lost, and say where.
  const all = (await svc.api<StreamBody>(`/api/sockets/${id}/stream?tail=1&maxBytes=${1 << 24}`))
    .body;
  deepStrictEqual([all.records.length, all.skipped], [total.records, { records: 0, bytes: 0 }]);
  assertContiguous(all.records);
  for (const dir of ["in", "out"] as const) {
    const own = all.records.filter((r) => r.dir === dir);
    // The capture keeps the connection's first bytes: what it evicted is one middle stretch.
    deepStrictEqual([own[0].offset, own[0].gap], [0, 0], `the first ${dir} bytes are kept`);
    strictEqual(own.filter((r) => r.gap > 0).length, 1, `one ${dir} gap`);
    strictEqual(own.reduce((n, r) => n + r.gap, 0), lost[dir], `${dir} gaps add up to lost`);
    for (const r of own) {
      const at = `${dir} bytes at ${r.offset}`;
      sameBytes(Uint8Array.fromBase64(r.data), sent.subarray(r.offset, r.offset + r.len), at);
    }
    const end = own[own.length - 1];
    strictEqual(end.offset + end.len, sent.length, `the latest ${dir} bytes are kept`);
  }
  // Without tail, the same connection's answer begins at the oldest record held.
  const head = (await svc.api<StreamBody>(`/api/sockets/${id}/stream?maxBytes=${maxBytes}`)).body;
  deepStrictEqual([head.records[0], head.truncated, head.skipped], [all.records[0], true, {
    records: 0,
    bytes: 0,
  }]);
});

Deno.test("GET /api/sockets/:id/stream?tail=1&after=SEQ returns the newest records after that seq", async () => {
  await using svc = startService({ kernel: undefined });
  const conn = await connect(svc.port("echo"));
  let id: string;
  try {
    for (const i of [1, 2, 3, 4]) await roundTrip(conn, encoder.encode(`message ${i} `.repeat(20)));
    id = await idOf(svc, conn);
  } finally {
    closeQuietly(conn);
  }
  const whole = (await svc.api<StreamBody>(`/api/sockets/${id}/stream`)).body.records;
  const after = whole[1].seq;
  const { status, body } = await svc.api<StreamBody>(
    `/api/sockets/${id}/stream?tail=1&after=${after}&limit=2`,
  );
  strictEqual(status, 200);
  deepStrictEqual(body.records, whole.slice(-2));
  // Only the records after the seq that tail left out: not the two before it.
  deepStrictEqual(body.skipped, {
    records: whole.length - 4,
    bytes: whole.slice(2, -2).reduce((n, r) => n + r.len, 0),
  });
  const last = whole.at(-1)!.seq;
  const nothing = await svc.api<StreamBody>(`/api/sockets/${id}/stream?tail=1&after=${last}`);
  deepStrictEqual([nothing.body.records, nothing.body.skipped], [[], { records: 0, bytes: 0 }]);
  const bad = await svc.api<StreamBody>(`/api/sockets/${id}/stream?tail=yes`);
  strictEqual(bad.status, 400);
  strictEqual(bad.body.error, 'Cannot parse query: "tail" must be one of 0, 1: "yes"');
});

Deno.test("GET /api/sockets/:id/stream answers 404 for an unknown id", async () => {
  await using svc = startService({ kernel: undefined });
  const { status, headers, body } = await svc.api<StreamBody>("/api/sockets/c999999/stream");
  strictEqual(status, 404);
  strictEqual(headers.get("content-type"), "application/json; charset=utf-8");
  strictEqual(body.error, 'No socket "c999999" in the capture');
});

Deno.test("GET /api/sockets/:id/stream says the capture is off when started with captureBytes 0", async () => {
  await using svc = startService({ kernel: undefined, captureBytes: 0 });
  const conn = await connect(svc.port("echo"));
  try {
    await roundTrip(conn, encoder.encode("no capture"));
    const id = await idOf(svc, conn);
    const { status, body } = await svc.api<StreamBody>(`/api/sockets/${id}/stream`);
    strictEqual(status, 404);
    strictEqual(body.error, "Capture is off: started with --capture-bytes 0");
  } finally {
    closeQuietly(conn);
  }
});
