import { liveEvents } from "../../lib/live/event_source.ts";
import { define } from "../../lib/web/define.ts";
import { closeConnection } from "../../lib/web/http_server.ts";
import { endpointParam, endpointsParam, enumParam, intParam } from "../../lib/web/params.ts";
import { sseResponse } from "../../lib/web/sse.ts";

/**
 * The live events (lib/live/event_source.ts; names and payloads in
 * lib/view/live_events.ts): `hello`, `endpoints` every second, `sockets`
 * (`sockets=0` for none; `socketsMs` between snapshots, longer when they
 * cost more than their budget), `packets` (`packets=0` for none; new log
 * entries every 250 ms, filtered by `conn`, `endpoint`, `dir`, after `after`,
 * at most `batch`), `recent` (the newest `recentLimit` packets of each
 * endpoint in `recent`, when they change), `socket` (the socket `socket`,
 * every second), `chat` (`chat=1`: the room with its newest `chatLimit`
 * messages, when it changes), `clients` (`clients=1`: the launcher's runs
 * and the sink's switch, when they change) and `diagnoses` (`diagnoses=0`
 * for none; the active ones first, then each one that appears or clears).
 *
 * A client that reads slower than events come gets the newest snapshot of
 * each kind, and packet batches merged (the newest `batch` entries, the rest
 * counted in `skipped`); a client behind for `sseMaxBehindMs` is
 * disconnected (lib/web/sse.ts).
 */
export const handler = define.handlers({
  GET({ req, url, state }) {
    const { service } = state;
    const endpoints = service.registry.endpoints;
    const events = liveEvents(service, {
      startedAt: state.startedAt,
      sockets: url.searchParams.get("sockets") !== "0",
      socketsMs: intParam(url, "socketsMs", { min: 250, max: 60_000, fallback: 1000 }),
      packets: url.searchParams.get("packets") !== "0",
      batch: intParam(url, "batch", { min: 1, max: 5000, fallback: 500 }),
      after: intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }),
      filter: {
        conn: url.searchParams.get("conn") || undefined,
        endpoint: endpointParam(url, endpoints),
        dir: enumParam(url, "dir", ["in", "out"] as const),
      },
      recent: endpointsParam(url, "recent", endpoints),
      recentLimit: intParam(url, "recentLimit", { min: 1, max: 100, fallback: 12 }),
      socket: url.searchParams.get("socket") || undefined,
      chat: url.searchParams.get("chat") === "1",
      chatLimit: intParam(url, "chatLimit", { min: 0, max: 200, fallback: 50 }),
      clients: url.searchParams.get("clients") === "1",
      diagnoses: url.searchParams.get("diagnoses") !== "0",
    });
    return sseResponse(req.signal, events.run, {
      maxBehindMs: state.sseMaxBehindMs,
      closeConnection: () => closeConnection(req),
      stats: state.http,
      merge: events.merge,
    });
  },
});
