/** Counters of the dashboard's own HTTP server and its event streams, read by `/metrics`. */
export class HttpStats {
  /** Connections accepted, refused ones included. */
  accepted = 0;
  /** Connections being served now. */
  live = 0;
  /** Connections answered 503 and closed at the cap, every connection having a request in flight. */
  refused = 0;
  /** Connections with no request in flight closed at the cap to make room for a new one. */
  evicted = 0;
  /** Connections closed by the header timeout, by kind: `header` (no request yet), `idle` (between requests). */
  timeouts: Record<"header" | "idle", number> = { header: 0, idle: 0 };
  /** Failed accepts by error code (`EMFILE`, `ENFILE`, …): waited out, never fatal. */
  acceptErrors: Record<string, number> = {};
  /** Event streams open now. */
  sseStreams = 0;
  /** Events replaced or merged in a stream's backlog because its client read too slowly. */
  sseCoalesced = 0;
  /** Event streams closed because their client stayed behind too long. */
  sseDropped = 0;
}
