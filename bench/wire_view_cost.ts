/**
 * The wire view's own cost per frame, in process CPU time (steady under a shared machine where
 * wall time is not): decode + TCP analysis alone, against the whole `WireView.ingest` (that plus
 * the per-connection store: analysis counters, the record, the frame copied in). Synthetic
 * 64-byte segments, both directions, on N connections (64: the store's working set leaves the
 * caches; 4: it stays in them).
 *
 *     deno run -A bench/wire_view_cost.ts [--conns 64]
 */
import { buildFrame } from "../lib/wire/_frames_test_util.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";
import { TcpSegmentInfo, TcpTracker } from "../lib/wire/tcp_analysis.ts";
import { WireView } from "../lib/wire/wire_view.ts";

const i = Deno.args.indexOf("--conns");
const conns = i >= 0 ? Number(Deno.args[i + 1]) : 64;
if (!Number.isInteger(conns) || conns < 1 || conns > 10_000) {
  throw new RangeError(`Cannot bench: --conns "${Deno.args[i + 1]}" is not in 1-10000`);
}

// utime + stime of this process in ms (clock ticks of 10 ms).
function cpuMs(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const frames: Uint8Array[] = [];
for (let c = 0; c < conns; c++) {
  for (let k = 0; k < 16; k++) {
    const fromClient = k % 2 === 0;
    frames.push(buildFrame({
      sport: fromClient ? 40000 + c : 5000,
      dport: fromClient ? 5000 : 40000 + c,
      seq: 1000 + 64 * (k >> 1),
      ack: 9000 + 64 * (k >> 1),
      flags: 0x18,
      payload: 64,
      options: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
    }));
  }
}
let ts = 1.7e12;
const view = WireView.off("bench");
const frame = { bytes: frames[0], offset: 0, capturedLength: 0, wireLength: 0, ts: 0 };
const p = new WirePacket();
const tracker = new TcpTracker();
const info = new TcpSegmentInfo();
const viewRound = () => {
  for (const b of frames) {
    frame.bytes = b;
    frame.capturedLength = frame.wireLength = b.length;
    frame.ts = ts += 0.001;
    view.ingest(frame);
  }
};
const baseRound = () => {
  for (const b of frames) {
    decodeFrame(b, 0, b.length, b.length, ts += 0.001, p);
    tracker.track(p, info);
  }
};
const measure = (round: () => void) => {
  const n = Math.ceil(3_000_000 / frames.length);
  const c0 = cpuMs();
  for (let r = 0; r < n; r++) round();
  return Math.round((cpuMs() - c0) * 1e6 / (n * frames.length));
};
measure(viewRound);
measure(baseRound);
const out = { decodeAndTrack: [] as number[], wireView: [] as number[] };
for (let r = 0; r < 3; r++) {
  out.wireView.push(measure(viewRound));
  out.decodeAndTrack.push(measure(baseRound));
}
const h0 = Deno.memoryUsage().heapUsed;
measure(viewRound);
console.log(JSON.stringify({
  conns,
  cpuNsPerPacket: out,
  keptSegments: view.size.segments,
  heapGrowthMBPer3MFrames: Number(((Deno.memoryUsage().heapUsed - h0) / 1e6).toFixed(1)),
}));
