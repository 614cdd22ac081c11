/**
 * The framing lab (seeds 001 and 002): one endpoint per way of delimiting
 * messages, each echoing whole messages in the same framing. Every read is
 * annotated with where message boundaries fell in it, so the packet log
 * shows messages split across reads and merged into one.
 */
import type { PacketNote } from "../../capture/packet_log.ts";
import {
  describeRead,
  encodeMessage,
  FrameDecoder,
  type FramingKind,
  type FramingOptions,
  type FramingResult,
} from "../../protocol/framing.ts";
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler, ObservedConn } from "../observed_conn.ts";
import { concat } from "../../bytes.ts";

/** Options of a framing endpoint: the codec's sizes and the close after an error. */
export interface FramingEndpointOptions extends FramingOptions {
  /** How long the server drains after an error line before it closes. @default 1000 */
  lingerMs?: number;
}

const encoder = new TextEncoder();

/** Builds the echo handler of one framing. */
export function framingHandler(
  kind: FramingKind,
  options: FramingEndpointOptions = {},
): ConnHandler {
  const { lingerMs = 1000, ...codec } = options;
  const decoderOf = (conn: ObservedConn): FrameDecoder =>
    (conn.data ??= new FrameDecoder(kind, codec)) as FrameDecoder;

  const answer = (
    conn: ObservedConn,
    result: FramingResult,
    atEnd: boolean,
  ): void | Promise<unknown> => {
    const { messages, error } = result;
    if (messages.length === 0 && error === null) return;
    const parts: Uint8Array[] = [];
    const notes: PacketNote[] = [];
    if (messages.length > 0) {
      for (const m of messages) parts.push(encodeMessage(kind, m.payload, codec));
      const first = messages[0].index;
      const last = messages[messages.length - 1].index;
      notes.push({
        kind: "framing",
        summary: first === last ? `echo of message ${first}` : `echo of messages ${first}–${last}`,
      });
    }
    if (error !== null) {
      if (error.kind === "too-large") conn.countLimit("frame-message-bytes");
      else conn.countError("protocol");
      parts.push(encoder.encode(`Error: ${error.message}\n`));
      notes.push({ kind: "framing-error", summary: error.message, error: true });
    }
    const written = conn.write(concat(parts), notes);
    if (error === null || atEnd) return written;
    return written.then(() => conn.closeGracefully(`framing error: ${error.kind}`, lingerMs));
  };

  return {
    data(conn, chunk) {
      const decoder = decoderOf(conn);
      if (decoder.error !== null) return;
      const result = decoder.push(chunk);
      conn.rxBuffered = decoder.buffered;
      // With "close" framing the message ends only at the half-close: the idle timeout covers it.
      if (kind !== "close") conn.trackMessage(decoder.pending, result.messages.length > 0);
      conn.annotate({
        kind: "framing",
        summary: describeRead(result),
        error: result.error !== null,
      });
      return answer(conn, result, false);
    },
    end(conn) {
      const decoder = decoderOf(conn);
      if (decoder.error !== null) return;
      const result = decoder.end();
      conn.rxBuffered = 0;
      if (result.messages.length > 0 || result.error !== null) {
        const m = result.messages[0];
        conn.annotate({
          kind: "framing",
          summary: result.error?.message ??
            `the peer half-closed: message ${m.index} complete (${m.wireLength} B)`,
          error: result.error !== null,
        });
      }
      // Echoing an empty close-delimited message is writing nothing, then closing.
      if (kind === "close" && result.messages[0]?.payload.length === 0) return;
      return answer(conn, result, true);
    },
  };
}

/** What a framing endpoint takes from the service's options. */
export interface FramingSetup {
  options: {
    /** Largest message of the delimited, prefixed and close framings. */
    frameMaxMessage?: number;
    /** Record size and pad of frame-fixed, delimiter of frame-delimited. */
    framing?: Pick<FramingOptions, "recordSize" | "pad" | "delimiter">;
  };
}

/** The handler of one framing, with what the options do not give left at the codec's default. */
function framingBehaviour(kind: FramingKind): (setup: FramingSetup) => { handler: ConnHandler } {
  return ({ options }) => ({
    handler: framingHandler(kind, { ...options.framing, maxMessage: options.frameMaxMessage }),
  });
}

/** The fixed-length framing endpoint. */
export const frameFixed = defineTcpEndpoint({
  name: "frame-fixed",
  transport: "tcp",
  defaultPort: 65441,
  description: "Framing lab: fixed 30-byte records padded with #, as seed 002; echoed whole",
  tryIt: [
    "printf 'Hello, world!#################' | nc {host} {port}",
    'deno task client frame --kind fixed --port {port} --bytewise "hello" "world"',
  ],
  lab: {
    group: "framing",
    seed: "seeds 001, 002 · fixed-length messages",
    lesson: "Every message is exactly 30 bytes, padded with # as in the seed: the reader always " +
      "knows how much to wait for, at the cost of padding, a hard size limit, and losing any # " +
      "that really ended the message.",
  },
  behaviour: framingBehaviour("fixed"),
});

/** The delimited framing endpoint. */
export const frameDelimited = defineTcpEndpoint({
  name: "frame-delimited",
  transport: "tcp",
  defaultPort: 65442,
  description: "Framing lab: messages ended by #*#, as seed 002; echoed whole",
  tryIt: [
    "printf 'Hello, world!#*#one#*#two#*#' | nc {host} {port}",
    'deno task client frame --kind delimited --port {port} "a" "b"',
  ],
  lab: {
    group: "framing",
    seed: "seeds 001, 002 · delimited messages",
    lesson: "#*# ends each message, as in the seed. The reader scans for it, even when it is " +
      "split across two reads, and must keep whatever follows: the next message may already sit " +
      "in the same read. A message may never contain the delimiter.",
  },
  behaviour: framingBehaviour("delimited"),
});

/** The length-prefixed framing endpoint. */
export const framePrefixed = defineTcpEndpoint({
  name: "frame-prefixed",
  transport: "tcp",
  defaultPort: 65443,
  description: "Framing lab: a 5-digit ASCII length prefix, then the message, echoed whole",
  tryIt: [
    "printf '00005hello00005world' | nc {host} {port}",
    'deno task client frame --kind prefixed --port {port} "hello" "world"',
  ],
  lab: {
    group: "framing",
    seed: "seeds 001, 002 · length-prefixed messages",
    lesson: "Five ASCII digits give the length, then the message follows; the reader waits for " +
      "the prefix, then for exactly that many bytes.",
  },
  behaviour: framingBehaviour("prefixed"),
});

/** The framing endpoint whose message ends at the client's half-close. */
export const frameClose = defineTcpEndpoint({
  name: "frame-close",
  transport: "tcp",
  defaultPort: 65444,
  description: "Framing lab: the message ends when the client half-closes; echoed, then closed",
  tryIt: [
    "printf 'hello' | nc -N {host} {port}",
    'deno task client frame --kind close --port {port} "hello"',
  ],
  lab: {
    group: "framing",
    seed: "seeds 001, 002 · the message ends at the close",
    lesson: "The sender half-closes to say the message is complete: one message per " +
      "connection, and the only framing that needs no parsing at all.",
  },
  behaviour: framingBehaviour("close"),
});
