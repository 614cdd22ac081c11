import { define } from "../../lib/web/define.ts";
import { closeConnection } from "../../lib/web/http_server.ts";
import { endpointParam, enumParam, intParam } from "../../lib/web/params.ts";
import { sseResponse } from "../../lib/web/sse.ts";

/**
 * Events: `endpoints` (every second), `sockets` (joined snapshot, throttled by
 * `socketsMs`), `packets` (batches of new log entries every 250 ms, filtered
 * like /api/packets; `skipped` counts entries a slow tail left out).
 *
 * A joined snapshot of a large table is not free (about 0.2 s of CPU at
 * 20,000 sockets: the kernel's dump, the join, the JSON), so each stream sends
 * one no more often than {@linkcode SOCKETS_BUDGET} of a core allows; the
 * event says the interval in force as `intervalMs`.
 *
 * A client that reads slower than events come gets the newest snapshot of
 * each kind, and packet batches merged (the newest `batch` entries, the rest
 * counted in `skipped`); no snapshot is made while it is behind, and a client
 * behind for `sseMaxBehindMs` is disconnected (lib/web/sse.ts).
 */
/** Share of one core a stream's socket snapshots may take. */
export const SOCKETS_BUDGET = 0.05;

interface PacketsEvent {
  packets: unknown[];
  skipped: number;
  lastSeq: number;
}

/** Merges a packets batch still waiting with a newer one: the newest `batch` entries are kept. */
export function mergePackets(
  batch: number,
): (older: PacketsEvent, newer: PacketsEvent) => PacketsEvent {
  return function merge(older, newer) {
    const all = older.packets.concat(newer.packets);
    const packets = all.length > batch ? all.slice(all.length - batch) : all;
    return {
      packets,
      skipped: older.skipped + newer.skipped + all.length - packets.length,
      lastSeq: newer.lastSeq,
    };
  };
}

export const handler = define.handlers({
  GET({ req, url, state }) {
    const { service } = state;
    const socketsMs = intParam(url, "socketsMs", { min: 250, max: 60_000, fallback: 1000 })!;
    const batch = intParam(url, "batch", { min: 1, max: 5000, fallback: 500 })!;
    const wantSockets = url.searchParams.get("sockets") !== "0";
    const wantPackets = url.searchParams.get("packets") !== "0";
    const filter = {
      conn: url.searchParams.get("conn") || undefined,
      endpoint: endpointParam(url, service.registry.endpoints),
      dir: enumParam(url, "dir", ["in", "out"] as const),
    };
    let after = intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }) ??
      service.log.lastSeq;
    return sseResponse(req.signal, (send, stream) => {
      const endpoints = () => send("endpoints", [...service.registry.endpoints.values()]);
      let socketsTimer: ReturnType<typeof setTimeout> | undefined;
      let stopped = false;
      // Each snapshot schedules the next, at socketsMs or later when it cost more than the budget.
      // The cost counts the previous snapshot's JSON too, known only once it was sent.
      let lastCostMs = 0;
      const sockets = (first = false) => {
        // The first goes out with hello, whatever the stream holds before the client's first read.
        if (!first && stream.behind) {
          // The previous snapshot still waits for the client: a new one would only replace it.
          socketsTimer = setTimeout(sockets, socketsMs);
          return;
        }
        const started = performance.now();
        // Kernel rows as fresh as the stream's interval (the kernel table caches for 500 ms).
        service.sockets({}, { kernelMaxAgeMs: socketsMs }).then((list) => {
          const costMs = Math.max(lastCostMs, performance.now() - started);
          const intervalMs = Math.max(socketsMs, Math.ceil(costMs / SOCKETS_BUDGET));
          send("sockets", { kernel: service.kernelStatus, sockets: list, intervalMs });
          lastCostMs = performance.now() - started;
          return intervalMs;
        }, () => socketsMs).then((intervalMs) => {
          if (!stopped) socketsTimer = setTimeout(sockets, intervalMs);
        });
      };
      const packets = () => {
        const last = service.log.lastSeq;
        if (last <= after) return;
        // A tail that fell behind skips to the newest batch instead of replaying old traffic.
        const oldest = Math.max(after, last - batch * 4);
        const list = service.log.query({ ...filter, after: oldest, limit: batch });
        const skipped = oldest - after;
        after = list.length > 0 && list.length === batch ? list[list.length - 1].seq : last;
        if (list.length > 0 || skipped > 0) {
          send("packets", { packets: list, skipped, lastSeq: after });
        }
      };
      send("hello", { lastSeq: after, startedAt: state.startedAt });
      endpoints();
      if (wantSockets) sockets(true);
      const timers = [setInterval(endpoints, 1000)];
      if (wantPackets) timers.push(setInterval(packets, 250));
      return () => {
        stopped = true;
        clearTimeout(socketsTimer);
        timers.forEach(clearInterval);
      };
    }, {
      maxBehindMs: state.sseMaxBehindMs,
      closeConnection: () => closeConnection(req),
      stats: state.http,
      merge: { packets: mergePackets(batch) },
    });
  },
});
