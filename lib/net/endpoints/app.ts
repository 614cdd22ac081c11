/**
 * The app endpoint: the tutorial's application protocol (seed 003), with an
 * incremental decoder that finishes every complete frame on each read and
 * answers requests on one connection in order.
 */
import type { PacketNote } from "../../capture/packet_log.ts";
import {
  answerRequest,
  type AppAnswer,
  AppFrameDecoder,
  errorAnswer,
  summarizeAnswer,
  summarizeFrame,
} from "../../protocol/app_codec.ts";
import type { ConnHandler, ObservedConn } from "../observed_conn.ts";

/** Limits of the app endpoint. */
export interface AppEndpointOptions {
  /** Largest `content-length` a request may declare. @default 1048576 */
  maxContentLength?: number;
  /** How long the server keeps reading after an error frame before it closes. @default 1000 */
  lingerMs?: number;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Builds the app endpoint's connection handler. */
export function appHandler(options: AppEndpointOptions = {}): ConnHandler {
  const decoderOptions = { maxContentLength: options.maxContentLength ?? 1_048_576 };
  const lingerMs = options.lingerMs ?? 1000;
  return {
    data(conn: ObservedConn, chunk: Uint8Array) {
      let decoder = conn.data as AppFrameDecoder | undefined;
      if (decoder === undefined) {
        decoder = new AppFrameDecoder(decoderOptions);
        conn.data = decoder;
      }
      const { frames, error } = decoder.push(chunk);
      conn.rxBuffered = decoder.buffered;
      if (frames.length === 0 && error === null) return;
      const parts: Uint8Array[] = [];
      const notes: PacketNote[] = [];
      let failed: AppAnswer | null = null;
      for (const frame of frames) {
        conn.annotate({ kind: "app", summary: summarizeFrame(frame) });
        const answer = answerRequest(frame);
        parts.push(answer.bytes);
        notes.push({
          kind: "app",
          summary: summarizeAnswer(answer),
          error: answer.type === "error",
        });
        if (answer.type === "error") {
          failed = answer;
          break;
        }
      }
      if (error?.kind === "content-too-large") conn.countLimit("app-content-length");
      if (failed === null && error !== null) {
        failed = errorAnswer(error);
        conn.annotate({ kind: "app-error", summary: error.message, error: true });
        parts.push(failed.bytes);
        notes.push({ kind: "app", summary: summarizeAnswer(failed), error: true });
      }
      const written = conn.write(concat(parts), notes);
      if (failed === null) return written;
      conn.countError("protocol");
      return written.then(() =>
        conn.closeGracefully(
          `protocol error: ${failed.type === "error" ? failed.error.kind : ""}`,
          lingerMs,
        )
      );
    },
  };
}
