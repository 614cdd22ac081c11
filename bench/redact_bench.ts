/**
 * What masking the dashboard's token costs a read when `--token` is set: the
 * search of one 64 KiB read (random bytes, HTTP-like text, and a run of one
 * byte the token holds near its end, the search's slow case) and of a 64 B
 * one, next to a packet-log record with the capture ring, without a token.
 * Without a token the packet log never calls the redactor.
 *
 *     deno bench bench/redact_bench.ts
 */
import { CaptureRing } from "../lib/capture/capture_ring.ts";
import { PacketLog, type PacketSource } from "../lib/capture/packet_log.ts";
import { Redactor } from "../lib/capture/redact.ts";

const src: PacketSource = {
  id: "c1",
  endpoint: "echo",
  transport: "tcp",
  local: { hostname: "127.0.0.1", port: 65432 },
  remote: { hostname: "127.0.0.1", port: 50000 },
};
const token = "3f2b8e4a-9c1d-4e7f-8a6b-2d5c9e1f0a7b";
const redactor = new Redactor(token);
const text = new TextEncoder().encode(
  "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: text/html\r\n".repeat(1000),
).subarray(0, 65536);
const inputs: [string, Uint8Array][] = [
  ["random", crypto.getRandomValues(new Uint8Array(65536))],
  ["http text", text],
  ["all 'e'", new Uint8Array(65536).fill(0x65)],
  ["64 B", text.subarray(0, 64)],
];
for (const [name, bytes] of inputs) {
  const group = `${name}`;
  const log = new PacketLog();
  log.tap = new CaptureRing();
  let ts = 0;
  Deno.bench({ name: `record with capture, ${name}`, group, baseline: true }, () => {
    log.record(src, "in", bytes, ts++);
  });
  Deno.bench({ name: `token search, ${name}`, group }, () => {
    redactor.bytes(src, "in", bytes);
  });
}
