/**
 * The raw-frame client: seed 004's hand-built Ethernet frame sent through an `AF_PACKET`
 * socket (lib/wire/capture.ts's `sendFrame`), each part changeable. Needs root or CAP_NET_RAW,
 * Linux and `--allow-ffi`; without them it fails with the reason.
 */
import { checkInteger } from "./_check.ts";
import { sendFrame, type WireLibc } from "../wire/capture.ts";
import {
  buildFrame,
  formatEtherType,
  type FrameParts,
  SEED_ETHERTYPE,
  SEED_MAC,
  SEED_PAYLOAD,
  SEED_TRAILER,
} from "../wire/ethernet.ts";

/** Options for {@linkcode rawFrame}: the frame's parts and where and how often it goes. */
export interface RawFrameOptions extends FrameParts {
  /** Interface the frame leaves by. @default "lo" */
  iface?: string;
  /** Frames to send. @default 1 */
  count?: number;
  /** Injected libc, for tests. */
  libc?: WireLibc;
}

/** What a run sent. */
export interface RawFrameResult {
  ok: boolean;
  iface: string;
  sent: number;
  /** Bytes of each frame as handed to the kernel (no FCS: the NIC adds it, `lo` has none). */
  frameBytes: number;
  dst: string;
  src: string;
  ethertype: string;
  /** The whole frame, hex, as the seed's `s.send()` hands it over. */
  hex: string;
  error?: string;
}

/** Every option resolved, checked; throws RangeError or TypeError on a bad one. */
export function resolveRawFrameOptions(
  options: RawFrameOptions = {},
): Required<Omit<RawFrameOptions, "libc">> & Pick<RawFrameOptions, "libc"> {
  const resolved = {
    iface: options.iface ?? "lo",
    count: checkInteger(options.count ?? 1, "count", 1, 100_000),
    dst: options.dst ?? SEED_MAC,
    src: options.src ?? SEED_MAC,
    etherType: options.etherType ?? SEED_ETHERTYPE,
    payload: options.payload ?? SEED_PAYLOAD,
    trailer: options.trailer ?? SEED_TRAILER,
    libc: options.libc,
  };
  if (resolved.iface === "") throw new RangeError('Invalid iface: "" is empty');
  // Builds once to check every part before anything is sent.
  buildFrame(resolved);
  return resolved;
}

/**
 * Sends the frame `count` times out of `iface`. Resolves with what was sent; a failure to
 * open the socket or send (no permission, no such interface) ends the run with `ok: false`
 * and the reason.
 */
export function rawFrame(options: RawFrameOptions = {}): Promise<RawFrameResult> {
  const o = resolveRawFrameOptions(options);
  const frame = buildFrame(o);
  const result: RawFrameResult = {
    ok: true,
    iface: o.iface,
    sent: 0,
    frameBytes: frame.length,
    dst: o.dst,
    src: o.src,
    ethertype: formatEtherType(o.etherType),
    hex: frame.toHex(),
  };
  try {
    for (let i = 0; i < o.count; i++) {
      sendFrame(o.iface, frame, o.libc);
      result.sent++;
    }
  } catch (error) {
    result.ok = false;
    result.error = (error as Error).message;
  }
  return Promise.resolve(result);
}
