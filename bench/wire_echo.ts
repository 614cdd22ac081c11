/**
 * The bare echo server with a packet tap optionally running in the same process (`--tap`):
 *
 * - `full` (or `--wire`): an `AF_PACKET` capture of its own port on lo that decodes and
 *   analyses every frame (lib/wire's decoder and TCP tracker, per-connection counters), as the
 *   service would;
 * - `ring`: the same capture, its blocks walked but the frames not looked at (the kernel's
 *   delivery into the ring, the wakeups and the walk);
 * - `reject`, `ebpf`: taps that keep nothing (bench/_kernel_taps.ts): a filter `ret #0`, and an
 *   eBPF program keeping a counter per 4-tuple in the kernel;
 * - `tcx-ring`, `tcx-full`: the eBPF capture (lib/wire/tcx_capture.ts: a program on lo's
 *   egress copying each frame's start into a BPF ring buffer) instead of the `AF_PACKET` ring,
 *   the records walked only, or decoded and analysed as `full` does;
 * - `none` (the default): no tap.
 *
 * Prints `{"port":N,"wire":…}` once listening; on SIGTERM `{"stats":{…}}` with the capture's
 * counters (packets, bytes, PACKET_STATISTICS drops; for `ebpf` the packets its map counted).
 *
 * `--stats-file F` also writes them to F (the orchestrator's pipe may be closed by then).
 *
 *     deno run -A bench/wire_echo.ts [--tap NAME] [--max-seconds 600]
 *       [--stats-file F]
 */
import { onStop } from "./_server.ts";
import { type KernelTap, openKernelTap } from "./_kernel_taps.ts";
import { type CapturedFrame, openWireCapture, type WireCapture } from "../lib/wire/capture.ts";
import { openTcxCapture, type TcxCapture } from "../lib/wire/tcx_capture.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";
import { TcpSegmentInfo, TcpTracker } from "../lib/wire/tcp_analysis.ts";

const TAPS = ["none", "reject", "ebpf", "ring", "full", "tcx-ring", "tcx-full"] as const;
const tapIndex = Deno.args.indexOf("--tap");
const tap = Deno.args.includes("--wire")
  ? "full"
  : tapIndex >= 0
  ? Deno.args[tapIndex + 1]
  : "none";
if (!(TAPS as readonly string[]).includes(tap)) {
  throw new TypeError(`Cannot start: --tap "${tap}" is not one of ${TAPS.join(", ")}`);
}
const maxIndex = Deno.args.indexOf("--max-seconds");
const maxSeconds = maxIndex >= 0 ? Number(Deno.args[maxIndex + 1]) : 600;
const statsIndex = Deno.args.indexOf("--stats-file");
const statsFile = statsIndex >= 0 ? Deno.args[statsIndex + 1] : null;
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
const stats = { accepted: 0, bytesIn: 0, errors: 0 };

async function serve(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      stats.bytesIn += n;
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
    }
  } catch {
    stats.errors++;
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

let capture: WireCapture | TcxCapture | null = null;
let reason = "";
const counts = { tcp: 0, payloadBytes: 0, analysed: 0 };
const ac = new AbortController();
let running: Promise<void> = Promise.resolve();
const p = new WirePacket();
const tracker = new TcpTracker();
const info = new TcpSegmentInfo();
// What the `full` taps do with each frame: the decoder and the tracker, per-connection counters.
const analyse = (f: CapturedFrame) => {
  if (!decodeFrame(f.bytes, f.offset, f.capturedLength, f.wireLength, f.ts, p)) return;
  if (p.protocol !== 6) return;
  tracker.track(p, info);
  counts.tcp++;
  counts.payloadBytes += info.len;
  if (info.analysis !== 0) counts.analysed++;
};
const ignore = () => {};
if (tap === "ring" || tap === "full") {
  const opened = openWireCapture({ ports: [port] });
  if (opened.available) {
    capture = opened.capture;
    running = capture.run(tap === "ring" ? ignore : analyse, ac.signal);
  } else {
    reason = opened.reason;
  }
} else if (tap === "tcx-ring" || tap === "tcx-full") {
  const opened = openTcxCapture({ ports: [port] });
  if (opened.available) {
    capture = opened.capture;
    running = capture.run(tap === "tcx-ring" ? ignore : analyse, ac.signal);
  } else {
    reason = opened.reason;
  }
}

let kernelTap: KernelTap | null = null;
if (tap === "reject" || tap === "ebpf") {
  try {
    kernelTap = openKernelTap(tap);
  } catch (error) {
    reason = (error as Error).message;
  }
}

onStop(maxSeconds, async () => {
  listener.close();
  const counted = kernelTap?.count() ?? null;
  kernelTap?.close();
  const wireStats = capture?.stats() ??
    (counted === null ? null : { packets: counted, bytes: 0, drops: 0 });
  ac.abort();
  await capture?.close();
  await running.catch(() => undefined);
  const result = { ...stats, wire: wireStats, counts };
  if (statsFile !== null) await Deno.writeTextFile(statsFile, JSON.stringify(result));
  return result;
});
console.log(JSON.stringify({ port, wire: capture !== null || kernelTap !== null, reason }));
try {
  for await (const conn of listener) {
    stats.accepted++;
    void serve(conn);
  }
} catch {
  // Closed on stop.
}
