/**
 * `--log-format json`: one JSON line per connection open, close and error,
 * TCP connections and UDP flows alike, for log shippers (a packet tap that
 * ignores the packets themselves).
 *
 * Lines go to a sink passed in; {@linkcode LineWriter} is the stdout one:
 * it batches lines and writes them asynchronously, so a slow reader of
 * stdout never stalls a connection, and it drops (and counts) lines beyond a
 * bound rather than growing without limit.
 */
import type { PacketSource, PacketTap } from "../capture/packet_log.ts";
import { isErrorReason } from "./tracing.ts";
import type { DiagnosisChange } from "../diagnoses/engine.ts";

/** A diagnosis that appeared or cleared, as written (lib/diagnoses). */
export interface DiagnosisLine {
  /** ISO 8601 time. */
  ts: string;
  event: "diagnosis";
  change: "appear" | "clear";
  id: string;
  kind: string;
  severity: string;
  socket: string | null;
  endpoint: string | null;
  summary: string;
}

/** One event line, as written. */
export interface EventLine {
  /** ISO 8601 time. */
  ts: string;
  event: "open" | "close" | "error";
  conn: string;
  endpoint: string;
  transport: "tcp" | "udp" | "unix";
  role?: "server" | "client";
  local?: { hostname: string; port: number };
  remote?: { hostname: string; port: number } | null;
  /** close and error: why it ended. */
  reason?: string;
  /** close: ended by RST. */
  reset?: boolean;
  bytesIn?: number;
  bytesOut?: number;
  durationMs?: number;
  /** error: the short kind `/metrics` counts it under ("reset", "protocol", …). */
  kind?: string;
}

/** The kind an error close reason is counted under. */
function errorKindOf(reason: string): string {
  if (reason.startsWith("protocol error")) return "protocol";
  return reason.replace(/^error:\s*/, "");
}

/** Writes connection events as JSON lines into `write`. */
export class EventLog implements PacketTap {
  #write: (line: string) => void;

  constructor(write: (line: string) => void) {
    this.#write = write;
  }

  packet(): void {}

  opened(src: PacketSource, ts: number): void {
    this.#emit({ ...base(src, ts), event: "open" });
  }

  closed(src: PacketSource, reset: boolean, ts: number): void {
    const reason = src.closeReason ?? "closed";
    const line: EventLine = {
      ...base(src, ts),
      event: "close",
      reason,
      reset,
      bytesIn: src.bytesIn ?? 0,
      bytesOut: src.bytesOut ?? 0,
    };
    if (typeof src.openedAt === "number") {
      line.durationMs = Math.round((ts - src.openedAt) * 1000) / 1000;
    }
    if (reset || isErrorReason(reason)) {
      this.#emit({ ...base(src, ts), event: "error", kind: errorKindOf(reason), reason });
    }
    this.#emit(line);
  }

  /** Writes a line for a diagnosis that appeared or cleared. */
  diagnosis({ change, diagnosis: d }: DiagnosisChange): void {
    const line: DiagnosisLine = {
      ts: new Date(d.until ?? Date.now()).toISOString(),
      event: "diagnosis",
      change,
      id: d.id,
      kind: d.kind,
      severity: d.severity,
      socket: d.socket,
      endpoint: d.endpoint,
      summary: d.summary,
    };
    this.#write(JSON.stringify(line));
  }

  #emit(line: EventLine): void {
    this.#write(JSON.stringify(line));
  }
}

function base(src: PacketSource, ts: number) {
  return {
    ts: new Date(ts).toISOString(),
    conn: src.id,
    endpoint: src.endpoint,
    transport: src.transport ?? "tcp",
    role: src.role,
    local: src.local,
    remote: src.remote,
  };
}

/** Options of {@linkcode LineWriter}. */
export interface LineWriterOptions {
  /** Bytes of lines waiting to be written before new ones are dropped. @default 1048576 */
  maxPending?: number;
}

/** Newline-terminated lines to a byte sink, batched and asynchronous, bounded. */
export class LineWriter {
  #sink: { write(p: Uint8Array): Promise<number> };
  #pending: string[] = [];
  #pendingBytes = 0;
  #maxPending: number;
  #flushing: Promise<void> | null = null;
  #encoder = new TextEncoder();
  /** Lines dropped because the sink could not keep up. */
  dropped = 0;

  constructor(
    sink: { write(p: Uint8Array): Promise<number> } = Deno.stdout,
    options: LineWriterOptions = {},
  ) {
    this.#sink = sink;
    this.#maxPending = options.maxPending ?? 1 << 20;
  }

  /** Queues one line (without its newline). */
  write = (line: string): void => {
    if (this.#pendingBytes + line.length > this.#maxPending) {
      this.dropped++;
      return;
    }
    this.#pending.push(line);
    this.#pendingBytes += line.length + 1;
    this.#flushing ??= this.#drain();
  };

  /** Resolves once every queued line was written. */
  async flush(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
  }

  async #drain(): Promise<void> {
    try {
      // Lines queued in the same turn go out in one write.
      await Promise.resolve();
      while (this.#pending.length > 0) {
        const text = this.#pending.join("\n") + "\n";
        this.#pending = [];
        this.#pendingBytes = 0;
        let bytes = this.#encoder.encode(text);
        while (bytes.length > 0) bytes = bytes.subarray(await this.#sink.write(bytes));
      }
    } catch {
      // stdout closed: nobody is reading any more; later lines are dropped the same way.
      this.dropped += this.#pending.length;
      this.#pending = [];
      this.#pendingBytes = 0;
    } finally {
      this.#flushing = null;
    }
  }
}
