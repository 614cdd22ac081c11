/**
 * Fair retention against real sockets: a bulk transfer many times the
 * capture's and the packet log's size must not evict a small conversation,
 * and keeps its own first bytes and latest with a gap between; pages tell
 * "evicted" from "none yet".
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { concat } from "../lib/bytes.ts";
import {
  connect,
  encoder,
  readExactly,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { download, followTcp, hex, pattern, tshark } from "./_tshark.ts";

/** The server side of connection `conn` to `endpoint`, once it is closed there. */
async function closedServerId(svc: TestService, endpoint: string, conn: Deno.Conn) {
  const port = (conn.localAddr as Deno.NetAddr).port;
  const c = await waitFor(
    `the ${endpoint} connection from port ${port}`,
    () => [...svc.service.tcp.get(endpoint)!.conns].find((c) => c.remote.port === port),
  );
  return c.id;
}

/** A pattern of 1 MiB and 7 bytes, repeated: bytes `from` to `to` of the bulk stream. */
const PERIOD = pattern((1 << 20) + 7, 9);
function slice(from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  for (let i = 0; i < out.length; i++) out[i] = PERIOD[(from + i) % PERIOD.length];
  return out;
}

interface StreamJson {
  evicted: boolean;
  lost: { in: number; out: number };
  total: { in: number; out: number; records: number };
  records: { dir: "in" | "out"; offset: number; gap: number; len: number; data: string }[];
}

interface PacketsJson {
  evicted: number;
  packets: { conn: string; dir: string; len: number; data: string }[];
}

Deno.test("a small echo conversation survives a bulk transfer ten times the capture and the log", async () => {
  await using svc = startService({ kernel: undefined, captureBytes: 256 * 1024, logEntries: 200 });
  // 420 bytes each way, one line at a time, as in the issue.
  const echo = await connect(svc.port("echo"));
  const lines: Uint8Array[] = [];
  let echoId: string;
  try {
    echoId = await closedServerId(svc, "echo", echo);
    for (let i = 0; i < 6; i++) {
      const line = encoder.encode(`line ${i} `.padEnd(69, String(i)) + "\n");
      lines.push(line);
      await writeAll(echo, line);
      deepStrictEqual(await readExactly(echo, line.length), line);
    }
  } finally {
    echo.close();
  }
  await waitFor(`${echoId} closed`, () => svc.service.registry.live(echoId) === undefined);
  // Through discard, until it carried ten times the capture and ten times the log's entries.
  const bulk = await connect(svc.port("discard"));
  let bulkId: string;
  let total = 0;
  try {
    bulkId = await closedServerId(svc, "discard", bulk);
    const deadline = Date.now() + 20_000;
    while (total < 2600 * 1024 || svc.service.log.lastSeq < 2000) {
      ok(Date.now() < deadline && total < 1 << 28, `${total} bytes and still not enough reads`);
      await writeAll(bulk, slice(total, total + 16384));
      total += 16384;
    }
  } finally {
    bulk.close();
  }
  await waitFor(
    `${bulkId} read everything and closed`,
    () => svc.service.registry.live(bulkId) === undefined,
    { timeoutMs: 20_000 },
  );
  strictEqual(svc.service.registry.get(bulkId)?.bytesIn, total);
  ok(
    svc.service.capture!.stats().droppedBytes > 2_000_000,
    "the bulk did not overflow the capture",
  );
  ok(svc.service.log.dropped > 0, "the bulk did not overflow the packet log");

  // The echo conversation comes back whole from the capture, and from the packet log.
  const s = await svc.api<StreamJson>(`/api/sockets/${echoId}/stream`);
  strictEqual(s.status, 200);
  strictEqual(s.body.evicted, false);
  deepStrictEqual([s.body.total.in, s.body.total.out], [420, 420]);
  const sent = concat(lines);
  const got = (dir: "in" | "out") =>
    concat(s.body.records.filter((r) => r.dir === dir).map((r) => Uint8Array.fromBase64(r.data)));
  deepStrictEqual([got("in"), got("out")], [sent, sent]);
  const p = await svc.api<PacketsJson>(`/api/packets?conn=${echoId}&limit=1000`);
  strictEqual(p.body.evicted, 0);
  const bytes = (dir: string) =>
    p.body.packets.filter((e) => e.dir === dir).reduce((n, e) => n + e.len, 0);
  deepStrictEqual([bytes("in"), bytes("out")], [420, 420]);

  // The bulk connection keeps its first bytes and its latest, with a gap between.
  const b = await svc.api<StreamJson>(
    `/api/sockets/${bulkId}/stream?limit=100000&maxBytes=16777216`,
  );
  strictEqual(b.body.evicted, true);
  const recs = b.body.records;
  strictEqual(recs[0].offset, 0);
  const head = concat(
    recs.slice(0, recs.findIndex((r) => r.gap > 0)).map((r) => Uint8Array.fromBase64(r.data)),
  );
  // A 256 KiB capture keeps 32 KiB for first and latest bytes: 512 of each per connection.
  ok(head.length >= 512, `only ${head.length} first bytes`);
  deepStrictEqual(head, slice(0, head.length));
  const gaps = recs.filter((r) => r.gap > 0);
  strictEqual(gaps.length, 1, "one gap: the middle");
  const last = recs[recs.length - 1];
  strictEqual(last.offset + last.len, total);
  strictEqual(recs.reduce((n, r) => n + r.len + r.gap, 0), total);
  strictEqual(b.body.lost.in, gaps[0].gap);
  const tail = concat(recs.slice(recs.indexOf(gaps[0])).map((r) => Uint8Array.fromBase64(r.data)));
  deepStrictEqual(tail, slice(total - tail.length, total));
  const first = await svc.api<PacketsJson>(`/api/packets?conn=${bulkId}&after=0&limit=1`);
  strictEqual(first.body.packets[0].data, slice(0, 64).toBase64(), "its first read");
  ok(first.body.evicted > 0);

  // The whole capture is valid pcapng in order; tshark follows the bulk stream across its gap.
  const all = await download(svc.app, "/api/capture.pcapng");
  const one = await download(svc.app, `/api/capture.pcapng?conn=${bulkId}`);
  try {
    const frames = await tshark(["-r", all.file, "-T", "fields", "-e", "frame.time_epoch"]);
    const times = frames.trim().split("\n").map(Number);
    ok(times.length > 10);
    deepStrictEqual(times, times.slice().sort((x, y) => x - y));
    const f = await followTcp(one.file, 0);
    ok(f.from0.startsWith(hex(head)), "the first bytes are not where the stream starts");
    ok(f.from0.endsWith(hex(tail)), "the latest bytes are not where the stream ends");
    match(await tshark(["-r", one.file, "-Y", "tcp.analysis.lost_segment"]), /\S/);
  } finally {
    await Deno.remove(all.file);
    await Deno.remove(one.file);
  }
});

Deno.test("/labs says a framing lab's reads were evicted, not that there were none", async () => {
  await using svc = startService({ kernel: undefined, logEntries: 200 });
  const framed = await connect(svc.port("frame-delimited"));
  let id: string;
  try {
    id = await closedServerId(svc, "frame-delimited", framed);
    await writeAll(framed, encoder.encode("one#*#two#*#"));
    await waitFor("its read logged", () => svc.service.log.query({ conn: id }).length > 0);
  } finally {
    framed.close();
  }
  await waitFor(`${id} closed`, () => svc.service.registry.live(id) === undefined);
  // Many short conversations: their first entries overflow what the log keeps of each.
  for (let i = 0; i < 150; i++) {
    const c = await connect(svc.port("echo"));
    try {
      await writeAll(c, encoder.encode(`hello ${i}\n`));
      await readExactly(c, `hello ${i}\n`.length);
    } finally {
      c.close();
    }
  }
  await waitFor(
    "the framing lab's entries dropped",
    () => svc.service.log.query({ endpoint: "frame-delimited" }).length === 0,
  );
  const api = await svc.api<PacketsJson>("/api/packets?endpoint=frame-delimited");
  deepStrictEqual([api.body.packets.length, api.body.evicted > 0], [0, true]);
  strictEqual((await svc.api<PacketsJson>("/api/packets?endpoint=frame-fixed")).body.evicted, 0);
  const html = await (await svc.app.fetch(new Request("http://x/labs"))).text();
  const card = (name: string) => {
    const at = html.indexOf(`data-lab="${name}"`);
    ok(at >= 0, `no ${name} card`);
    return html.slice(at, html.indexOf("</section>", at));
  };
  match(card("frame-delimited"), /reads-evicted/);
  match(card("frame-delimited"), /were evicted from the packet log/);
  ok(!/No reads yet/.test(card("frame-delimited")));
  match(card("frame-fixed"), /No reads yet/);
});
