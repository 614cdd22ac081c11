/** The discard endpoint (RFC 863): reads everything and drops it, for throughput tests. */
import type { ConnHandler } from "../observed_conn.ts";

/** Drops each chunk: only the counters and the packet log keep it. */
export const discardHandler: ConnHandler = { data: () => {} };
