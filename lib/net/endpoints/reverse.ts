/**
 * The reverse endpoint (seed 002), as the seed's server does it: one read of
 * up to 1,024 bytes (`client.recv(1024)`), those bytes sent back in reverse
 * order, then the close. Whatever the first read returned is the whole
 * "message": a client whose bytes arrive in two reads gets only the first
 * part back, which is the lesson (one read is not one message). Bytes are
 * reversed one by one, as the seed's `bytes(reversed(data))` does, so
 * multi-byte UTF-8 characters come back scrambled.
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler } from "../observed_conn.ts";
import type { TcpBehaviour } from "../tcp_endpoint.ts";

/** Options of the reverse endpoint. */
export interface ReverseOptions {
  /**
   * Bytes the one read takes at most, as the seed's `recv(1024)`.
   *
   * @default {1024}
   */
  readSize?: number;
  /** How long the server keeps draining after its answer before it closes. @default 1000 */
  lingerMs?: number;
}

/** Builds the reverse endpoint's connection handler. */
export function reverseHandler(options: ReverseOptions = {}): ConnHandler {
  const readSize = options.readSize ?? 1024;
  const lingerMs = options.lingerMs ?? 1000;
  return {
    data(conn, chunk) {
      // Only the first read counts; the serve loop stops once the close begins.
      if (conn.data !== undefined) return;
      conn.data = true;
      const taken = chunk.subarray(0, readSize);
      const out = new Uint8Array(taken.length);
      for (let i = 0; i < taken.length; i++) out[taken.length - 1 - i] = taken[i];
      conn.annotate({
        kind: "reverse",
        summary: `one read of ${taken.length} B: answered reversed, then close` +
          (chunk.length > taken.length ? ` (${chunk.length - taken.length} B past the read)` : ""),
      });
      // The close drains what the client still sends, so the kernel does not answer unread
      // bytes with a reset that could destroy the answer before the client reads it.
      return conn.write(out, [{ kind: "reverse", summary: `${out.length} B reversed` }])
        .then(() => conn.closeGracefully("reverse: answered the first read", lingerMs));
    },
  };
}

/** The reverse endpoint's behaviour: the handler, reading into a slot as large as the seed's recv. */
export function reverseBehaviour(options: ReverseOptions = {}): TcpBehaviour {
  return { handler: reverseHandler(options), readSlot: options.readSize ?? 1024 };
}

/** The reverse endpoint. */
export const reverse = defineTcpEndpoint({
  name: "reverse",
  transport: "tcp",
  defaultPort: 65439,
  description: "Answers its first read (up to 1,024 bytes) reversed, then closes",
  tryIt: [
    "printf 'Hello, world!' | nc -N {host} {port}",
    'deno task client reverse --port {port} "Hello, world!"',
  ],
  lab: {
    group: "protocols",
    seed: "seed 002 · the reverse-echo server",
    lesson: "One read is not one message. Like the seed's server, it calls recv(1024) once, " +
      "sends those bytes back reversed and closes: a message that arrives in two reads (typed " +
      "into nc, or written in two parts) comes back cut to the first. It reverses bytes, not " +
      "characters, so multi-byte UTF-8 comes back scrambled.",
  },
  behaviour: () => reverseBehaviour(),
});
