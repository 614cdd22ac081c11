/**
 * The character generator endpoint (RFC 864): writes the rotating 72-char
 * line pattern as fast as the peer reads it. Each write is awaited, so a
 * slow reader holds the generator back (backpressure) instead of piling
 * bytes up in the process. What the peer sends is read and dropped.
 */
import { chargenCycle } from "../../protocol/chargen.ts";
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import { errorKind, type ObservedConn } from "../observed_conn.ts";
import type { TcpBehaviour } from "../tcp_endpoint.ts";
import { discardHandler } from "./discard.ts";

/** Options of the chargen endpoint. */
export interface ChargenOptions {
  /**
   * Whole periods of the pattern (95 lines, 7,030 bytes) per write.
   *
   * @default {9}
   */
  cyclesPerWrite?: number;
}

/** Builds the chargen behaviour: a writer started on every accepted connection. */
export function chargenBehaviour(options: ChargenOptions = {}): TcpBehaviour {
  const cycles = options.cyclesPerWrite ?? 9;
  if (!Number.isInteger(cycles) || cycles < 1 || cycles > 1000) {
    throw new RangeError(`Invalid cyclesPerWrite: "${cycles}" is not an integer in 1..1000`);
  }
  // Whole periods, so writing the same block again and again continues the pattern exactly.
  const cycle = chargenCycle();
  const block = new Uint8Array(cycle.length * cycles);
  for (let i = 0; i < cycles; i++) block.set(cycle, i * cycle.length);
  return {
    handler: discardHandler,
    opened(conn) {
      void generate(conn, block);
    },
  };
}

/** The chargen endpoint. */
export const chargen = defineTcpEndpoint({
  name: "chargen",
  transport: "tcp",
  defaultPort: 65446,
  description: "Chargen (RFC 864): the 72-char rotating pattern, as fast as you read",
  tryIt: [
    "nc {host} {port} | head -c 740",
    "deno task client chargen --port {port} --bytes 100000000",
  ],
  lab: {
    group: "throughput",
    seed: "RFC 864 · for seed 001's send and recv",
    lesson: "Writes the rotating 72-character pattern as fast as the reader takes it. Each " +
      "write waits for the kernel, so a reader that stops stops the generator: watch its " +
      "Send-Q fill instead of the process growing.",
  },
  behaviour: () => chargenBehaviour(),
});

/** Writes `block` until the connection can no longer be written to. */
async function generate(conn: ObservedConn, block: Uint8Array): Promise<void> {
  try {
    // A half-close fault shuts the write side: the state leaves ESTABLISHED/CLOSE_WAIT then.
    while (!conn.closed && (conn.state === "ESTABLISHED" || conn.state === "CLOSE_WAIT")) {
      await conn.write(block);
    }
  } catch (err) {
    if (conn.closed) return;
    const kind = errorKind(err);
    if (kind !== null) conn.countError(kind);
    conn.close(kind === null ? "closed" : `error: ${kind}`);
  }
}
