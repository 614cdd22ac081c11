import { define } from "../../lib/web/define.ts";
import { enumParam, intParam } from "../../lib/web/params.ts";
import { sseResponse } from "../../lib/web/sse.ts";

/**
 * Events: `endpoints` (every second), `sockets` (joined snapshot, throttled by
 * `socketsMs`), `packets` (batches of new log entries every 250 ms, filtered
 * like /api/packets; `skipped` counts entries a slow tail left out).
 */
export const handler = define.handlers({
  GET({ req, url, state }) {
    const { service } = state;
    const socketsMs = intParam(url, "socketsMs", { min: 250, max: 60_000, fallback: 1000 })!;
    const batch = intParam(url, "batch", { min: 1, max: 5000, fallback: 500 })!;
    const wantSockets = url.searchParams.get("sockets") !== "0";
    const wantPackets = url.searchParams.get("packets") !== "0";
    const filter = {
      conn: url.searchParams.get("conn") || undefined,
      endpoint: url.searchParams.get("endpoint") || undefined,
      dir: enumParam(url, "dir", ["in", "out"] as const),
    };
    let after = intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }) ??
      service.log.lastSeq;
    return sseResponse(req.signal, (send) => {
      const endpoints = () => send("endpoints", [...service.registry.endpoints.values()]);
      let sampling = false;
      const sockets = () => {
        if (sampling) return;
        sampling = true;
        service.sockets().then(
          (list) => send("sockets", { kernel: service.kernelStatus, sockets: list }),
          () => {},
        ).finally(() => sampling = false);
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
      if (wantSockets) sockets();
      const timers = [setInterval(endpoints, 1000)];
      if (wantSockets) timers.push(setInterval(sockets, socketsMs));
      if (wantPackets) timers.push(setInterval(packets, 250));
      return () => timers.forEach(clearInterval);
    });
  },
});
