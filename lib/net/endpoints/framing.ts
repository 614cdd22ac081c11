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
