/** The discard endpoint (RFC 863): reads everything and drops it, for throughput tests. */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler } from "../observed_conn.ts";

/** Drops each chunk: only the counters and the packet log keep it. */
export const discardHandler: ConnHandler = { data: () => {} };

/** The discard endpoint. */
export const discard = defineTcpEndpoint({
  name: "discard",
  transport: "tcp",
  defaultPort: 65445,
  description: "Discard (RFC 863): reads and drops everything, for throughput tests",
  tryIt: [
    "head -c 100M /dev/zero | nc -N {host} {port}",
    "deno task client discard --port {port} --bytes 100000000",
  ],
  lab: {
    group: "throughput",
    seed: "RFC 863 · for seed 001's send and recv",
    lesson: "Reads everything and drops it. Push bytes at it to see how fast the loopback " +
      "moves them, and that send() returns long before the peer has read anything.",
  },
  behaviour: () => ({ handler: discardHandler }),
});
