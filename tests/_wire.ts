/**
 * Test helpers for the wire view: capture loopback traffic of some ports with lib/wire, write
 * it as an Ethernet pcapng, and line up tshark's view of each TCP segment with ours.
 * Private to tests/.
 */
import {
  enhancedPacketBlock,
  interfaceDescriptionBlock,
  LINKTYPE_ETHERNET,
  sectionHeaderBlock,
} from "../lib/capture/pcapng.ts";
import { openWireCapture, type WireCaptureOptions, type WireStats } from "../lib/wire/capture.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";
import { analysisNames, TcpSegmentInfo, TcpTracker } from "../lib/wire/tcp_analysis.ts";
import { waitFor } from "./_helpers.ts";
import { tshark } from "./_tshark.ts";

/** A frame copied out of the ring. */
export interface Frame {
  bytes: Uint8Array;
  wireLength: number;
  ts: number;
}

/** A running capture that copies every frame into `frames`. */
export interface FrameRecorder extends AsyncDisposable {
  frames: Frame[];
  stats(): WireStats;
  /** Waits until `done(frames)` holds (bounded), then stops the capture. */
  stop(done: (frames: Frame[]) => boolean, what: string, timeoutMs?: number): Promise<Frame[]>;
}

/** Starts capturing `ports` on lo; throws when the capture is unavailable (tests run as root). */
export function recordFrames(
  ports: number[],
  options: WireCaptureOptions = {},
): FrameRecorder {
  const opened = openWireCapture({ ports, ...options });
  if (!opened.available) throw new Error(`Wire capture unavailable: ${opened.reason}`);
  const capture = opened.capture;
  const frames: Frame[] = [];
  const ac = new AbortController();
  const run = capture.run((f) => {
    frames.push({
      bytes: f.bytes.slice(f.offset, f.offset + f.capturedLength),
      wireLength: f.wireLength,
      ts: f.ts,
    });
  }, ac.signal);
  const stop = async (done: (frames: Frame[]) => boolean, what: string, timeoutMs = 10_000) => {
    try {
      await waitFor(what, () => done(frames), { timeoutMs });
    } finally {
      ac.abort();
      await capture.close();
      await run;
    }
    return frames;
  };
  return {
    frames,
    stats: () => capture.stats(),
    stop,
    async [Symbol.asyncDispose]() {
      ac.abort();
      await capture.close();
      await run.catch(() => undefined);
    },
  };
}

/** Writes frames as a pcapng file with the Ethernet link type; returns its path. */
export async function writePcapng(frames: readonly Frame[]): Promise<string> {
  const parts = [
    sectionHeaderBlock("sockscope test"),
    interfaceDescriptionBlock("lo", 262144, LINKTYPE_ETHERNET),
  ];
  for (const f of frames) {
    parts.push(enhancedPacketBlock(f.ts * 1000, f.bytes, undefined, f.wireLength));
  }
  const file = await Deno.makeTempFile({ prefix: "sockscope-wire-", suffix: ".pcapng" });
  const size = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  await Deno.writeFile(file, out);
  return file;
}

/** The analysis fields compared, as tshark names them after `tcp.analysis.`. */
export const ANALYSIS_FIELDS = [
  "retransmission",
  "fast_retransmission",
  "spurious_retransmission",
  "out_of_order",
  "duplicate_ack",
  "zero_window",
  "zero_window_probe",
  "zero_window_probe_ack",
  "window_full",
  "window_update",
  "keep_alive",
  "keep_alive_ack",
  "lost_segment",
  "ack_lost_segment",
];

/**
 * One line per TCP frame, `number flags seq ack window len analysis…`, as tshark reads
 * `file` (relative numbers, scaled window).
 */
export async function tsharkSegments(file: string): Promise<string[]> {
  const fields = [
    "frame.number",
    "tcp.flags",
    "tcp.seq",
    "tcp.ack",
    "tcp.window_size",
    "tcp.len",
    ...ANALYSIS_FIELDS.map((f) => `tcp.analysis.${f}`),
  ];
  const text = await tshark([
    "-r",
    file,
    "-Y",
    "tcp",
    "-T",
    "fields",
    "-E",
    "separator=/t",
    ...fields.flatMap((f) => ["-e", f]),
  ]);
  return text.trim().split("\n").filter((l) => l !== "").map((line) => {
    const cols = line.split("\t");
    const names = ANALYSIS_FIELDS.filter((_, i) => cols[6 + i] !== undefined && cols[6 + i] !== "");
    return [cols[0], Number(cols[1]).toString(16), cols[2], cols[3], cols[4], cols[5], ...names]
      .join(" ");
  });
}

/** The same lines from lib/wire's decoder and tracker, timestamps cut to the file's µs. */
export function ourSegments(frames: readonly Frame[]): string[] {
  const p = new WirePacket();
  const tracker = new TcpTracker();
  const info = new TcpSegmentInfo();
  const out: string[] = [];
  frames.forEach((f, i) => {
    const ts = Math.round(f.ts * 1000) / 1000;
    if (!decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, ts, p) || p.protocol !== 6) return;
    tracker.track(p, info);
    const names = analysisNames(info.analysis).filter((n) => ANALYSIS_FIELDS.includes(n));
    out.push(
      [i + 1, p.flags.toString(16), info.relSeq, info.relAck, info.window, info.len, ...names]
        .join(" "),
    );
  });
  return out;
}
