/**
 * OpenTelemetry spans for connection lifetimes and app-protocol requests.
 *
 * Deno exports traces, metrics and logs over OTLP when `OTEL_DENO=true` is
 * set, and registers its tracer with `@opentelemetry/api`. sockscope checks
 * that variable once at startup: without it no tracer exists and the hooks
 * below are never installed, so tracing costs nothing when it is off.
 */
import { context, trace } from "@opentelemetry/api";
import type { PacketSource, PacketTap } from "../capture/packet_log.ts";

/** Attribute values spans carry. */
export type SpanAttributes = Record<string, string | number | boolean>;

/** The part of an OpenTelemetry span sockscope uses. */
export interface SpanLike {
  setAttributes(attributes: SpanAttributes): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(endTime?: number): void;
}

/** The part of an OpenTelemetry tracer sockscope uses; tests pass a fake. */
export interface TracerLike {
  startSpan(
    name: string,
    options?: { kind?: number; startTime?: number; attributes?: SpanAttributes },
    parent?: unknown,
  ): SpanLike;
}

/** OpenTelemetry's SpanKind and SpanStatusCode values, without importing the enums' objects. */
const SERVER = 1, CLIENT = 2, STATUS_ERROR = 2;

/** True when `OTEL_DENO` asks Deno to export telemetry (read only if env access is granted). */
export function otelRequested(): boolean {
  try {
    const { state } = Deno.permissions.querySync({ name: "env", variable: "OTEL_DENO" });
    if (state !== "granted") return false;
    const value = Deno.env.get("OTEL_DENO")?.toLowerCase();
    return value === "true" || value === "1";
  } catch {
    return false;
  }
}

/** The tracer Deno registered with `@opentelemetry/api`. */
export function otelTracer(): TracerLike {
  return trace.getTracer("sockscope");
}

/** Makes a span the parent of later spans (the API's context), for the real tracer. */
function otelParent(span: SpanLike): unknown {
  // deno-lint-ignore no-explicit-any
  return trace.setSpan(context.active(), span as any);
}

/**
 * One span per TCP connection, from open to close (a packet tap), and one
 * per app request, a child of its connection's span.
 */
export class ConnTracing implements PacketTap {
  #tracer: TracerLike;
  #parent: (span: SpanLike) => unknown;
  #spans = new Map<PacketSource, SpanLike>();
  /**
   * Masks a secret in the text request spans carry (their attributes and
   * status messages come from what clients sent); null to keep them as they are.
   */
  redact: ((text: string) => string) | null = null;

  constructor(tracer: TracerLike, parent: (span: SpanLike) => unknown = otelParent) {
    this.#tracer = tracer;
    this.#parent = parent;
  }

  /** Connections with a span still open. */
  get open(): number {
    return this.#spans.size;
  }

  packet(): void {}

  opened(src: PacketSource, ts: number): void {
    const attributes: SpanAttributes = {
      "sockscope.endpoint": src.endpoint,
      "sockscope.conn": src.id,
      "network.transport": src.transport ?? "tcp",
    };
    if (src.local) {
      attributes["network.local.address"] = src.local.hostname;
      attributes["network.local.port"] = src.local.port;
    }
    if (src.remote) {
      attributes["network.peer.address"] = src.remote.hostname;
      attributes["network.peer.port"] = src.remote.port;
    }
    const what = src.transport === "udp" ? "flow" : "connection";
    const span = this.#tracer.startSpan(`${src.endpoint} ${what}`, {
      kind: src.role === "client" ? CLIENT : SERVER,
      startTime: ts,
      attributes,
    });
    this.#spans.set(src, span);
  }

  closed(src: PacketSource, reset: boolean, ts: number): void {
    const span = this.#spans.get(src);
    if (span === undefined) return;
    this.#spans.delete(src);
    const reason = src.closeReason ?? "closed";
    span.setAttributes({
      "sockscope.bytes_in": src.bytesIn ?? 0,
      "sockscope.bytes_out": src.bytesOut ?? 0,
      "sockscope.close_reason": reason,
      "sockscope.reset": reset,
    });
    if (reset || isErrorReason(reason)) span.setStatus({ code: STATUS_ERROR, message: reason });
    span.end(ts);
  }

  /** Starts an app request's span under its connection's; the caller ends it. */
  request(conn: PacketSource, attributes: SpanAttributes): SpanLike {
    const parent = this.#spans.get(conn);
    const redact = this.redact;
    const span = this.#tracer.startSpan(
      "app request",
      {
        kind: SERVER,
        attributes: {
          "sockscope.conn": conn.id,
          ...(redact === null ? attributes : redactAttributes(attributes, redact)),
        },
      },
      parent === undefined ? undefined : this.#parent(parent),
    );
    if (redact === null) return span;
    return {
      setAttributes: (more) => span.setAttributes(redactAttributes(more, redact)),
      setStatus: (status) =>
        span.setStatus(
          status.message === undefined ? status : { ...status, message: redact(status.message) },
        ),
      end: (endTime) => span.end(endTime),
    };
  }

  /** Marks a span failed. */
  static fail(span: SpanLike, message: string): void {
    span.setStatus({ code: STATUS_ERROR, message });
  }
}

function redactAttributes(
  attributes: SpanAttributes,
  redact: (text: string) => string,
): SpanAttributes {
  const out: SpanAttributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    out[key] = typeof value === "string" ? redact(value) : value;
  }
  return out;
}

/** True for close reasons that are errors (a reset, a broken pipe, a protocol error). */
export function isErrorReason(reason: string): boolean {
  return reason.startsWith("error:") || reason.startsWith("protocol error");
}
