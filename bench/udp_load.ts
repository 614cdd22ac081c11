/**
 * The UDP load generator, run as its own process on its own core. It sends
 * through the batched FFI socket (lib/net/udp_mmsg.ts), so it is several
 * times faster than any server it measures. Prints one JSON line.
 *
 * - `flight`: keeps `--inflight` datagrams of `--size` bytes outstanding,
 *   sending one more per echo received; echoes per second over `--seconds`
 *   after `--warmup`. A window with no echo for 20 ms counts as lost and is
 *   refilled.
 * - `paced`: sends `--rate` datagrams per second, spread evenly (a batch
 *   every millisecond), for `--seconds`; counts echoes until 300 ms after the
 *   last send; loss = 1 − received / sent.
 *
 *     deno run -A bench/udp_load.ts --mode flight --port 4000 --inflight 64 --size 64
 */
import { openMmsgSocket } from "../lib/net/udp_mmsg.ts";
import { cpuTicksOf } from "./_spawn.ts";

/** Flags of the UDP load generator. */
export interface UdpLoadArgs {
  mode: "flight" | "paced";
  port: number;
  /** @default 64 */
  size: number;
  /** @default 64 */
  inflight: number;
  /** Datagrams per second in paced mode. @default 50000 */
  rate: number;
  /** @default 3 */
  seconds: number;
  /** @default 0.5 */
  warmup: number;
  serverPid: number | null;
  /** @default 100 */
  clkTck: number;
}

/** Parses the flags; throws TypeError or RangeError naming the bad one. */
export function parseUdpLoadArgs(args: readonly string[]): UdpLoadArgs {
  const out: UdpLoadArgs = {
    mode: "flight",
    port: 0,
    size: 64,
    inflight: 64,
    rate: 50_000,
    seconds: 3,
    warmup: 0.5,
    serverPid: null,
    clkTck: 100,
  };
  const num = (i: number, min: number, max: number) => {
    const n = Number(args[i + 1]);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new RangeError(
        `Cannot run UDP load: ${args[i]} "${args[i + 1]}" is not in ${min}..${max}`,
      );
    }
    return n;
  };
  for (let i = 0; i < args.length; i += 2) {
    switch (args[i]) {
      case "--mode":
        if (args[i + 1] !== "flight" && args[i + 1] !== "paced") {
          throw new TypeError(
            `Cannot run UDP load: --mode "${args[i + 1]}" is not flight or paced`,
          );
        }
        out.mode = args[i + 1] as "flight" | "paced";
        break;
      case "--port":
        out.port = num(i, 1, 65535);
        break;
      case "--size":
        out.size = num(i, 8, 2048);
        break;
      case "--inflight":
        out.inflight = num(i, 1, 64);
        break;
      case "--rate":
        out.rate = num(i, 1000, 2_000_000);
        break;
      case "--seconds":
        out.seconds = num(i, 0.1, 120);
        break;
      case "--warmup":
        out.warmup = num(i, 0, 30);
        break;
      case "--server-pid":
        out.serverPid = num(i, 1, 2 ** 31);
        break;
      case "--clk-tck":
        out.clkTck = num(i, 1, 100_000);
        break;
      default:
        throw new TypeError(`Cannot run UDP load: unknown flag "${args[i]}"`);
    }
  }
  if (out.port === 0) throw new TypeError("Cannot run UDP load: --port is required");
  return out;
}

/** One run's result. */
export interface UdpLoadResult {
  mode: "flight" | "paced";
  seconds: number;
  sent: number;
  received: number;
  /** Echoes per second over the measured window. */
  perSec: number;
  /** Paced: share of datagrams never echoed, in percent. */
  lossPct: number | null;
  /** Flight: windows refilled after 20 ms without an echo. */
  stalls: number;
  serverCpu: number | null;
}

const BATCH = 64;

function runFlight(args: UdpLoadArgs): UdpLoadResult {
  const sock = openMmsgSocket("127.0.0.1", 0, { batch: BATCH, maxDatagram: 2048 });
  const lengths = new Uint32Array(BATCH).fill(args.size);
  for (let i = 0; i < BATCH; i++) {
    sock.sendTo(i, "127.0.0.1", args.port);
    sock.txData[i].fill(0x75, 0, args.size);
  }
  let outstanding = 0;
  let sent = 0;
  let received = 0;
  let stalls = 0;
  const refill = () => {
    const want = args.inflight - outstanding;
    if (want <= 0) return;
    const n = sock.send(want, lengths);
    outstanding += n;
    sent += n;
  };
  const start = performance.now();
  const measureFrom = start + args.warmup * 1000;
  const end = measureFrom + args.seconds * 1000;
  let measuredRx = 0;
  let cpu0: number | null = null;
  let t0 = 0;
  let lastEcho = start;
  refill();
  while (true) {
    const now = performance.now();
    if (t0 === 0 && now >= measureFrom) {
      t0 = now;
      measuredRx = 0;
      cpu0 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
    }
    if (now >= end) break;
    const n = sock.recv();
    if (n > 0) {
      received += n;
      if (t0 !== 0) measuredRx += n;
      outstanding -= n;
      lastEcho = now;
      refill();
    } else if (now - lastEcho > 20) {
      // The window was lost (a full socket buffer somewhere): count it and start again.
      stalls++;
      outstanding = 0;
      lastEcho = now;
      refill();
    }
  }
  const t1 = performance.now();
  const cpu1 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
  sock.close();
  const seconds = (t1 - t0) / 1000;
  return {
    mode: "flight",
    seconds,
    sent,
    received,
    perSec: measuredRx / seconds,
    lossPct: null,
    stalls,
    serverCpu: cpu0 === null || cpu1 === null ? null : (cpu1 - cpu0) / args.clkTck / seconds,
  };
}

function runPaced(args: UdpLoadArgs): UdpLoadResult {
  const sock = openMmsgSocket("127.0.0.1", 0, { batch: BATCH, maxDatagram: 2048 });
  const lengths = new Uint32Array(BATCH).fill(args.size);
  for (let i = 0; i < BATCH; i++) {
    sock.sendTo(i, "127.0.0.1", args.port);
    sock.txData[i].fill(0x70, 0, args.size);
  }
  // Warm-up: a short paced burst at the same rate, not counted.
  const total = Math.round(args.rate * args.seconds);
  let sent = 0;
  let received = 0;
  const cpu0 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
  const start = performance.now();
  const warmEnd = start + args.warmup * 1000;
  let warmSent = 0;
  while (performance.now() < warmEnd) {
    const due = Math.floor((performance.now() - start) * args.rate / 1000) - warmSent;
    if (due > 0) warmSent += sock.send(Math.min(due, BATCH), lengths);
    while (sock.recv() > 0);
  }
  const deadline = performance.now() + 300;
  while (performance.now() < deadline) sock.recv();
  const t0 = performance.now();
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - t0) * args.rate / 1000)) - sent;
    if (due > 0) sent += sock.send(Math.min(due, BATCH), lengths);
    received += sock.recv();
  }
  const t1 = performance.now();
  const drainUntil = t1 + 300;
  while (performance.now() < drainUntil) received += sock.recv();
  const cpu1 = args.serverPid === null ? null : cpuTicksOf(args.serverPid);
  sock.close();
  const seconds = (t1 - t0) / 1000;
  return {
    mode: "paced",
    seconds,
    sent,
    received,
    perSec: received / seconds,
    lossPct: sent === 0 ? null : Math.max(0, (1 - received / sent) * 100),
    stalls: 0,
    serverCpu: cpu0 === null || cpu1 === null
      ? null
      : (cpu1 - cpu0) / args.clkTck / ((drainUntil - start) / 1000),
  };
}

if (import.meta.main) {
  try {
    const args = parseUdpLoadArgs(Deno.args);
    const result = args.mode === "flight" ? runFlight(args) : runPaced(args);
    console.log(JSON.stringify(result));
  } catch (err) {
    console.log(JSON.stringify({ error: String(err) }));
    Deno.exitCode = 1;
  }
}
