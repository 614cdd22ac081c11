/**
 * The wire view's cost: the bare echo server (bench/wire_echo.ts, pinned to core 0) with and
 * without the capture (AF_PACKET TPACKET_V3 ring, decode and TCP analysis of every frame) in
 * the same process, under bench/load.ts on core 1: 32 connections of 64 B round trips and 64
 * connections of 16 KiB bulk. Runs alternate off/on so drift hits both alike; prints the
 * medians, the on/off ratios, the kernel's PACKET_STATISTICS drops, and the decode cost per
 * packet measured in this process.
 *
 *     deno run -A bench/wire_bench.ts [--runs 3] [--seconds 3]
 *
 * Targets (issue 17): on/off >= 0.90 on round trips, >= 0.95 on bulk, 0 drops. When the
 * server is not saturated (serverCpu well under 1) the rates say little: `cpuPerUnitRatio`
 * (server CPU per message or byte, on over off) is then the cost.
 *
 * `--taps reject,ebpf,ring,full,tcx-ring,tcx-full` measures other taps in the same rotation
 * (each against the same runs without one; see bench/wire_echo.ts): where the capture's cost
 * goes, the floor of designs that keep less, and the eBPF ring buffer prototype. Default: full.
 */
import { jsonReady, killAll, median, pinPrefix, runJson, spawnServer } from "./_spawn.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";
import { TcpSegmentInfo, TcpTracker } from "../lib/wire/tcp_analysis.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  const n = i >= 0 ? Number(Deno.args[i + 1]) : fallback;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`Cannot bench: ${name} is not positive`);
  return n;
}

const runs = flag("--runs", 3);
const seconds = flag("--seconds", 3);
const tapsIndex = Deno.args.indexOf("--taps");
const taps = tapsIndex >= 0 ? Deno.args[tapsIndex + 1].split(",") : ["full"];

interface Sample {
  rate: number;
  serverCpu: number | null;
  drops: number | null;
  packets: number | null;
}

async function once(tap: string, loadArgs: string[]): Promise<Sample> {
  const statsFile = await Deno.makeTempFile({ prefix: "wire-bench-", suffix: ".json" });
  const server = await spawnServer(
    await pinPrefix(0),
    [
      Deno.execPath(),
      "run",
      "-A",
      "bench/wire_echo.ts",
      "--stats-file",
      statsFile,
      "--tap",
      tap,
    ],
    jsonReady,
  );
  try {
    if (tap !== "none" && server.info.wire !== true) {
      throw new Error(`Wire capture unavailable: ${server.info.reason}`);
    }
    const result = await runJson(await pinPrefix(1), "bench/load.ts", [
      ...loadArgs,
      "--port",
      String(server.info.port),
      "--seconds",
      String(seconds),
      "--server-pid",
      String(server.pid),
    ], (seconds + 30) * 1000);
    if (typeof result.error === "string") throw new Error(result.error);
    await server.stop();
    const stats = JSON.parse(await Deno.readTextFile(statsFile));
    const mode = loadArgs[1];
    return {
      rate: Number(mode === "rtt" ? result.msgPerSec : result.bytesPerSec),
      serverCpu: result.serverCpu as number | null,
      drops: stats?.wire?.drops ?? null,
      packets: stats?.wire?.packets ?? null,
    };
  } finally {
    await server.stop().catch(() => undefined);
    await Deno.remove(statsFile).catch(() => undefined);
  }
}

function decodeCost(): number {
  // A handshake then data both ways on 64 connections, decoded and analysed in a loop.
  const frames: Uint8Array[] = [];
  for (let c = 0; c < 64; c++) {
    for (let i = 0; i < 16; i++) {
      const f = new Uint8Array(14 + 20 + 32 + 64);
      const v = new DataView(f.buffer);
      v.setUint16(12, 0x0800);
      f[14] = 0x45;
      v.setUint16(16, 20 + 32 + 64);
      f[23] = 6;
      v.setUint32(26, 0x7f000001);
      v.setUint32(30, 0x7f000001);
      const fromClient = i % 2 === 0;
      v.setUint16(34, fromClient ? 40000 + c : 5000);
      v.setUint16(36, fromClient ? 5000 : 40000 + c);
      v.setUint32(38, 1000 + 64 * (i >> 1));
      v.setUint32(42, 9000 + 64 * (i >> 1));
      f[46] = 8 << 4;
      f[47] = 0x18;
      v.setUint16(48, 512);
      f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 54);
      frames.push(f);
    }
  }
  const p = new WirePacket();
  const tracker = new TcpTracker();
  const info = new TcpSegmentInfo();
  let ts = 0;
  const round = () => {
    for (const f of frames) {
      decodeFrame(f, 0, f.length, f.length, ts += 0.001, p);
      tracker.track(p, info);
    }
  };
  for (let i = 0; i < 200; i++) round();
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) round();
  return (performance.now() - t0) * 1e6 / (n * frames.length);
}

Deno.addSignalListener("SIGINT", () => {
  killAll();
  Deno.exit(130);
});

const cases = [
  { name: "round trips 32 x 64 B", args: ["--mode", "rtt", "--conns", "32", "--size", "64"] },
  {
    name: "bulk 64 x 16 KiB",
    args: ["--mode", "throughput", "--conns", "64", "--size", "16384"],
  },
];
const report: Record<string, unknown>[] = [];
for (const c of cases) {
  const off: Sample[] = [];
  const byTap = new Map<string, Sample[]>(taps.map((t) => [t, []]));
  for (let r = 0; r < runs; r++) {
    off.push(await once("none", c.args));
    for (const t of taps) byTap.get(t)!.push(await once(t, c.args));
  }
  const offRate = median(off.map((s) => s.rate))!;
  for (const [tap, on] of byTap) report.push(summary(c.name, tap, off, offRate, on));
}

function summary(name: string, tap: string, off: Sample[], offRate: number, on: Sample[]) {
  const onRate = median(on.map((s) => s.rate))!;
  const row = {
    case: name,
    tap,
    off: Math.round(offRate),
    on: Math.round(onRate),
    ratio: Number((onRate / offRate).toFixed(3)),
    each: on.map((s, i) => Number((s.rate / off[i].rate).toFixed(3))),
    drops: on.map((s) => s.drops),
    packetsPerSec: on.map((s) => Math.round((s.packets ?? 0) / (seconds + 0.5))),
    serverCpu: { off: median(off.map((s) => s.serverCpu)), on: median(on.map((s) => s.serverCpu)) },
    // Server CPU per unit of work, on over off: the cost when the server is not the bottleneck.
    cpuPerUnitRatio: Number(
      (median(on.map((s) => (s.serverCpu ?? NaN) / s.rate))! /
        median(off.map((s) => (s.serverCpu ?? NaN) / s.rate))!).toFixed(3),
    ),
  };
  console.log(JSON.stringify(row));
  return row;
}
console.log(JSON.stringify({ decodeAndAnalyseNsPerPacket: Number(decodeCost().toFixed(1)) }));
