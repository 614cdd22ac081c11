/**
 * The reverse endpoint (seed 002): holds what the client sends until it
 * half-closes, then answers with the bytes in reverse order and closes.
 * Bytes are reversed one by one, as the seed's `bytes(reversed(data))` does,
 * so multi-byte UTF-8 characters come back scrambled.
 */
import type { ConnHandler, ObservedConn } from "../observed_conn.ts";

/** Limits of the reverse endpoint. */
export interface ReverseOptions {
  /**
   * Bytes held before the half-close; more get an error line and a close.
   *
   * @default {1048576}
   */
  maxBytes?: number;
  /** How long the server keeps draining after an error before it closes. @default 1000 */
  lingerMs?: number;
}

interface Held {
  parts: Uint8Array[];
  bytes: number;
  over: boolean;
}

const encoder = new TextEncoder();

/** Builds the reverse endpoint's connection handler. */
export function reverseHandler(options: ReverseOptions = {}): ConnHandler {
  const maxBytes = options.maxBytes ?? 1_048_576;
  const lingerMs = options.lingerMs ?? 1000;
  const held = (conn: ObservedConn): Held =>
    (conn.data ??= { parts: [], bytes: 0, over: false }) as Held;
  return {
    data(conn, chunk) {
      const h = held(conn);
      if (h.over) return;
      if (h.bytes + chunk.length > maxBytes) {
        h.over = true;
        h.parts = [];
        conn.rxBuffered = 0;
        conn.countLimit("reverse-bytes");
        const message = `More than ${maxBytes} bytes before the half-close`;
        conn.annotate({ kind: "reverse", summary: message, error: true });
        return conn.write(encoder.encode(`Error: ${message}\n`), [
          { kind: "reverse", summary: "error line, then close", error: true },
        ]).then(() => conn.closeGracefully("reverse: too many bytes", lingerMs));
      }
      // The chunk is a view of a reused read buffer: keep a copy.
      h.parts.push(chunk.slice());
      h.bytes += chunk.length;
      conn.rxBuffered = h.bytes;
    },
    end(conn) {
      const h = held(conn);
      if (h.over) return;
      const out = new Uint8Array(h.bytes);
      let at = h.bytes;
      for (const part of h.parts) {
        for (let i = 0; i < part.length; i++) out[--at] = part[i];
      }
      h.parts = [];
      conn.rxBuffered = 0;
      conn.annotate({
        kind: "reverse",
        summary: `half-close after ${h.bytes} B: answering reversed`,
      });
      if (out.length === 0) return;
      return conn.write(out, [{ kind: "reverse", summary: `${out.length} B reversed` }]);
    },
  };
}
