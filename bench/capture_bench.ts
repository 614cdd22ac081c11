/**
 * The hot-path cost of the full-payload capture: one packet-log record per
 * read or write, without a tap and with the capture ring (64 MiB, the
 * default) as the tap, at 64 B and 16 KiB; and in steady state, both rings full
 * (a 1 MiB capture, 10,000 log entries), so every record evicts: an echo's read
 * and write across 64 connections, and one bulk connection among idle ones.
 *
 *     deno bench bench/capture_bench.ts
 */
import { CaptureRing } from "../lib/capture/capture_ring.ts";
import { PacketLog, type PacketSource } from "../lib/capture/packet_log.ts";

const src: PacketSource = {
  id: "c1",
  endpoint: "echo",
  transport: "tcp",
  local: { hostname: "127.0.0.1", port: 65432 },
  remote: { hostname: "127.0.0.1", port: 50000 },
};
// Several connections interleaved, as on a busy endpoint (defeats the last-source cache).
const many: PacketSource[] = Array.from({ length: 64 }, (_, i) => ({ ...src, id: `c${i + 2}` }));

for (const size of [64, 16384]) {
  const bytes = new Uint8Array(size).fill(7);
  const plain = new PacketLog();
  const captured = new PacketLog();
  captured.tap = new CaptureRing();
  const capturedMany = new PacketLog();
  capturedMany.tap = new CaptureRing();
  const group = `record ${size} B`;
  let ts = 0;
  Deno.bench({ name: `packet log only, ${size} B`, group, baseline: true }, () => {
    plain.record(src, "in", bytes, ts++);
  });
  Deno.bench({ name: `packet log + capture ring, ${size} B`, group }, () => {
    captured.record(src, "in", bytes, ts++);
  });
  let i = 0;
  Deno.bench({ name: `packet log + capture ring, 64 conns, ${size} B`, group }, () => {
    capturedMany.record(many[i++ & 63], "in", bytes, ts++);
  });
}

{
  // Both rings full from the start: what the per-connection retention adds to each eviction.
  const bytes = new Uint8Array(64).fill(7);
  const log = new PacketLog();
  log.tap = new CaptureRing({ bytes: 1 << 20 });
  const big = new Uint8Array(16384).fill(9);
  const bulk = new PacketLog();
  bulk.tap = new CaptureRing({ bytes: 1 << 20 });
  let ts = 0;
  for (let n = 0; n < 40_000; n++) {
    const c = many[n & 63];
    log.record(c, "in", bytes, ts++);
    log.record(c, "out", bytes, ts++, true);
    bulk.record(c, "in", bytes, ts++);
  }
  let i = 0;
  const group = "steady state, rings full";
  Deno.bench({ name: "echo 64 B read + write, 64 conns", group, baseline: true }, () => {
    const c = many[i++ & 63];
    log.record(c, "in", bytes, ts++);
    log.record(c, "out", bytes, ts++, true);
  });
  Deno.bench({ name: "bulk 16 KiB read, one conn among 64", group }, () => {
    bulk.record(src, "in", big, ts++);
  });
}
