/**
 * The hot-path cost of the full-payload capture: one packet-log record per
 * read or write, without a tap and with the capture ring (64 MiB, the
 * default) as the tap, at 64 B and 16 KiB.
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
