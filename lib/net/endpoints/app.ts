/**
 * The app endpoint: the tutorial's application protocol (seed 003), with an
 * incremental decoder that finishes every complete frame on each read and
 * answers requests on one connection in order.
 */
import type { Histogram } from "../../telemetry/histogram.ts";
import type { PacketNote } from "../../capture/packet_log.ts";
import { ConnTracing, type SpanLike } from "../../telemetry/tracing.ts";
import {
  answerRequest,
  APP_MAX_CONTENT_LENGTH,
  type AppAnswer,
  AppFrameDecoder,
  decodeJsonContent,
  errorAnswer,
  summarizeAnswer,
  summarizeFrame,
} from "../../protocol/app_codec.ts";
import { concat } from "../../bytes.ts";
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import { type ConnHandler, nowMs, type ObservedConn } from "../observed_conn.ts";

/** Limits of the app endpoint. */
export interface AppEndpointOptions {
  /** Largest `content-length` a request may declare. @default 1048576 */
  maxContentLength?: number;
  /** How long the server keeps reading after an error frame before it closes. @default 1000 */
  lingerMs?: number;
  /** Request latency in seconds, from the read that completed a frame to its answer written. */
  latency?: Histogram;
  /** Spans per request, when OpenTelemetry is on. */
  tracing?: ConnTracing | null;
}

/** Builds the app endpoint's connection handler. */
export function appHandler(options: AppEndpointOptions = {}): ConnHandler {
  // Every frame of a read is answered before the next read: its content may stay in the chunk.
  const decoderOptions = {
    maxContentLength: options.maxContentLength ?? APP_MAX_CONTENT_LENGTH,
    borrowContent: true,
  };
  const lingerMs = options.lingerMs ?? 1000;
  const latency = options.latency;
  const tracing = options.tracing ?? null;
  return {
    data(conn: ObservedConn, chunk: Uint8Array) {
      // The read's time, taken when it completed (a clock read costs as much as the rest of
      // a small request's bookkeeping, so the connection's is reused).
      const started = conn.lastActivity;
      let decoder = conn.data as AppFrameDecoder | undefined;
      if (decoder === undefined) {
        decoder = new AppFrameDecoder(decoderOptions);
        conn.data = decoder;
      }
      const { frames, error } = decoder.push(chunk);
      conn.rxBuffered = decoder.buffered;
      conn.trackMessage(decoder.pending, frames.length > 0);
      if (frames.length === 0 && error === null) return;
      const parts: Uint8Array[] = [];
      const notes: PacketNote[] = [];
      const spans: SpanLike[] | null = tracing === null ? null : [];
      let failed: AppAnswer | null = null;
      let answered = 0;
      for (const frame of frames) {
        answered++;
        // The content is decoded once, for the packet log's summary and for the answer.
        const json = frame.header["content-type"] === "text/json"
          ? decodeJsonContent(frame)
          : undefined;
        const summary = summarizeFrame(frame, { json });
        conn.annotate({ kind: "app", summary });
        const answer = answerRequest(frame, { json });
        if (spans !== null) {
          const span = tracing!.request(conn, { "sockscope.app.request": summary });
          if (answer.type === "error") ConnTracing.fail(span, summarizeAnswer(answer));
          spans.push(span);
        }
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
      if (failed === null && error !== null) {
        // Only the error the client is told about counts: an earlier bad request in the same
        // read ends the connection before the oversized header would have been looked at.
        if (error.kind === "content-too-large") conn.countLimit("app-content-length");
        failed = errorAnswer(error);
        conn.annotate({ kind: "app-error", summary: error.message, error: true });
        parts.push(failed.bytes);
        notes.push({ kind: "app", summary: summarizeAnswer(failed), error: true });
      }
      let written = conn.write(concat(parts), notes);
      if (answered > 0 && (latency !== undefined || spans !== null)) {
        written = written.then((n) => {
          const seconds = (nowMs() - started) / 1000;
          for (let i = 0; i < answered; i++) latency?.observe(seconds);
          if (spans !== null) { for (const span of spans) span.end(); }
          return n;
        }, (err) => {
          if (spans !== null) {
            for (const span of spans) {
              ConnTracing.fail(span, String(err));
              span.end();
            }
          }
          throw err;
        });
      }
      if (failed === null) return written;
      conn.countError("protocol");
      return written.then(() =>
        conn.closeGracefully(
          `protocol error: ${failed.type === "error" ? failed.error.kind : ""}`,
          lingerMs,
        )
      );
    },
    end(conn: ObservedConn) {
      // A FIN inside a frame is malformed input like any other: the client hears why.
      const decoder = conn.data as AppFrameDecoder | undefined;
      if (decoder === undefined || decoder.error !== null) return;
      const { error } = decoder.end();
      conn.rxBuffered = 0;
      if (error === null) return;
      conn.countError("protocol");
      conn.annotate({ kind: "app-error", summary: error.message, error: true });
      const failed = errorAnswer(error);
      return conn.write(failed.bytes, [
        { kind: "app", summary: summarizeAnswer(failed), error: true },
      ]);
    },
  };
}

/** What the app endpoint takes from the service: its limit and the service's instruments. */
export interface AppSetup {
  options: { appMaxContent?: number };
  appLatency: Histogram;
  tracing: ConnTracing | null;
}

/** The app endpoint. */
export const app = defineTcpEndpoint({
  name: "app",
  transport: "tcp",
  defaultPort: 65434,
  description: "The tutorial's application protocol: 2-byte length, JSON header, content",
  tryIt: [
    "deno task client app --port {port} search morpheus",
    "deno task client app --port {port} binary 😃",
  ],
  behaviour: ({ options, appLatency, tracing }: AppSetup) => ({
    handler: appHandler({ maxContentLength: options.appMaxContent, latency: appLatency, tracing }),
    // The tutorial's requests are about 150 bytes: read whole, one read each.
    readSlot: 256,
  }),
});
