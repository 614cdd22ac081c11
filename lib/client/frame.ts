/**
 * The framing lab client (seeds 001 and 002): send messages in one of the
 * four framings, one byte per write or all in one write if asked, and check
 * that each comes back whole.
 */
import {
  encodeMessage,
  FrameDecoder,
  FRAMING_KINDS,
  type FramingKind,
  type FramingOptions,
} from "../protocol/framing.ts";
import { causeOf, deadline, dialBound, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { concat } from "../bytes.ts";
import { halfClose } from "./_stream.ts";
import type { DialAddress, TcpClientOptions } from "./types.ts";
import { frameClose, frameDelimited, frameFixed, framePrefixed } from "../net/endpoints/framing.ts";

/** Default port of each framing endpoint, as lib/net/endpoints/framing.ts declares them. */
export const FRAME_PORTS: Readonly<Record<FramingKind, number>> = {
  fixed: frameFixed.defaultPort,
  delimited: frameDelimited.defaultPort,
  prefixed: framePrefixed.defaultPort,
  close: frameClose.defaultPort,
};

/** How the client cuts what it sends into writes. */
export type FrameWrites = "message" | "byte" | "together";

/** Options for {@linkcode frame}. */
export interface FrameOptions extends TcpClientOptions {
  /**
   * The framing, which also picks the default port.
   *
   * @default {"delimited"}
   */
  kind?: FramingKind;
  /** Port of the framing endpoint. @default the kind's port, 65441 to 65444 */
  port?: number;
  /**
   * One write per message, one write per byte (so messages split across the
   * server's reads), or every message in one write (so they merge).
   *
   * @default {"message"}
   */
  writes?: FrameWrites;
  /**
   * Record size, pad and delimiter, to match a server started with other ones.
   *
   * @default {{}} (seed 002's: 30-byte records padded with `#`, the delimiter `#*#`)
   */
  framing?: Pick<FramingOptions, "recordSize" | "pad" | "delimiter">;
  /**
   * Longest the whole exchange may take, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
}

/** What one framing exchange did. */
export interface FrameResult {
  /** True when every message came back whole and equal. */
  ok: boolean;
  /** Why the exchange failed, in one line. */
  error?: string;
  address: DialAddress;
  kind: FramingKind;
  sent: string[];
  echoed: string[];
  /** Writes the client made. */
  writes: number;
  /** Reads the echoes took. */
  reads: number;
  seconds: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks options and fills in defaults; throws TypeError or RangeError. */
export function resolveFrameOptions(options: FrameOptions = {}): Required<FrameOptions> {
  const kind = options.kind ?? "delimited";
  if (!FRAMING_KINDS.includes(kind)) {
    throw new TypeError(`Invalid kind: "${kind}" is not one of ${FRAMING_KINDS.join(", ")}`);
  }
  const writes = options.writes ?? "message";
  if (!["message", "byte", "together"].includes(writes)) {
    throw new TypeError(`Invalid writes: "${writes}" is not one of message, byte, together`);
  }
  const framing = { ...options.framing };
  // A decoder checks the sizes and bytes, so a bad one is a usage error before connecting.
  new FrameDecoder(kind, framing);
  return {
    ...resolveTcpOptions(options, FRAME_PORTS[kind]),
    kind,
    writes,
    framing,
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
  };
}

/** Sends `messages` framed as `kind` and reads the echoes until each came back. */
export async function frame(messages: string[], options: FrameOptions = {}): Promise<FrameResult> {
  const { hostname, port, kind, writes, framing: codec, timeoutMs, signal, dial } =
    resolveFrameOptions(options);
  if (messages.length === 0) throw new RangeError("Invalid messages: none given");
  if (kind === "close" && messages.length > 1) {
    throw new RangeError("Invalid messages: the close framing carries one message per connection");
  }
  // Encoding first reports a message the framing cannot carry before anything is sent.
  const frames = messages.map((m) => encodeMessage(kind, encoder.encode(m), codec));
  const address = { hostname, port };
  const started = performance.now();
  using limit = deadline(timeoutMs, `No echo of every message within ${timeoutMs} ms`, signal);
  using conn = await dialBound(dial, address, limit.signal);
  conn.setNoDelay?.(true);
  const echoed: string[] = [];
  let writeCount = 0;
  let reads = 0;
  let error: string | undefined;
  const send = async () => {
    const chunks = writes === "together"
      ? [concat(frames)]
      : writes === "byte"
      ? frames.flatMap((f) => Array.from(f, (_, i) => f.subarray(i, i + 1)))
      : frames;
    for (const chunk of chunks) {
      await writeAll(conn, chunk);
      writeCount++;
    }
    if (kind === "close") await halfClose(conn);
  };
  const receive = async () => {
    const framing = new FrameDecoder(kind, codec);
    const buf = new Uint8Array(64 * 1024);
    while (echoed.length < messages.length) {
      const n = await conn.read(buf);
      const result = n === null ? framing.end() : framing.push(buf.subarray(0, n));
      if (n !== null) reads++;
      for (const m of result.messages) echoed.push(decoder.decode(m.payload));
      if (result.error !== null) {
        error = `Cannot decode the echo: ${result.error.message}`;
        return;
      }
      if (n === null) break;
    }
  };
  try {
    await Promise.all([send(), receive()]);
  } catch (err) {
    throw causeOf(err, limit.signal);
  }
  if (error === undefined && echoed.length < messages.length) {
    error = `Connection closed after ${echoed.length} of ${messages.length} echoes`;
  }
  if (error === undefined) {
    const i = echoed.findIndex((e, i) => e !== messages[i]);
    if (i !== -1) error = `Echo of message ${i + 1} differs: "${echoed[i]}"`;
  }
  return {
    ok: error === undefined,
    ...(error === undefined ? {} : { error }),
    address,
    kind,
    sent: messages,
    echoed,
    writes: writeCount,
    reads,
    seconds: (performance.now() - started) / 1000,
  };
}
