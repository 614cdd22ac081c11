/**
 * What the wire view keeps per idle connection: N synthetic handshakes (SYN, SYN-ACK, ACK with
 * Linux's options, sequence numbers past 2^31 as real ISNs are half the time, epoch-ms times)
 * fed through `WireView.ingest`, then the heap, external and RSS growth per connection after a
 * full GC. Past the tracker's 4,096 connections only the stores grow. Prints one JSON line.
 *
 *     deno run -A --v8-flags=--expose-gc bench/wire_mem.ts [connections, 10000]
 */
import { buildFrame } from "../lib/wire/_frames_test_util.ts";
import { WireView } from "../lib/wire/wire_view.ts";

const n = Number(Deno.args[0] ?? 10_000);
if (!Number.isInteger(n) || n < 1 || n > 60_000) {
  throw new RangeError(`Cannot bench: connections "${Deno.args[0]}" is not in 1-60000`);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("Cannot bench: run with --v8-flags=--expose-gc");

const view = WireView.off("bench");
const frame = {
  bytes: new Uint8Array(0) as Uint8Array,
  offset: 0,
  capturedLength: 0,
  wireLength: 0,
  ts: 0,
};
let ts = 1.7e12;
// MSS, SACK permitted, timestamps, window scale (a Linux SYN); NOP NOP timestamps (its ACK).
const SYN_OPTIONS = [2, 4, 255, 215, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const ACK_OPTIONS = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

function handshake(c: number): void {
  const client = 40_000 + (c % 20_000);
  const server = 5000 + Math.floor(c / 20_000);
  const isn = 0x9a000000 + 7919 * c;
  const peerIsn = 0xf1000000 + 104_729 * c;
  const segments = [
    { sport: client, dport: server, seq: isn, ack: 0, flags: 0x02, options: SYN_OPTIONS },
    { sport: server, dport: client, seq: peerIsn, ack: isn + 1, flags: 0x12, options: SYN_OPTIONS },
    {
      sport: client,
      dport: server,
      seq: isn + 1,
      ack: peerIsn + 1,
      flags: 0x10,
      options: ACK_OPTIONS,
    },
  ];
  for (const spec of segments) {
    const bytes = buildFrame(spec);
    frame.bytes = bytes;
    frame.capturedLength = frame.wireLength = bytes.length;
    frame.ts = ts += 0.013;
    view.ingest(frame);
  }
}

gc();
gc();
const m0 = Deno.memoryUsage();
for (let c = 0; c < n; c++) handshake(c);
gc();
gc();
const m1 = Deno.memoryUsage();
const per = (k: "heapUsed" | "external" | "rss") => Math.round((m1[k] - m0[k]) / n);
console.log(JSON.stringify({
  connections: n,
  heapPerConn: per("heapUsed"),
  externalPerConn: per("external"),
  rssPerConn: per("rss"),
  kept: view.size,
}));
