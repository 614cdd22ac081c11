import { define, json } from "../../lib/web/define.ts";
import { endpointParam, enumParam, intParam } from "../../lib/web/params.ts";

export const handler = define.handlers({
  GET({ url, state }) {
    const log = state.service.log;
    const conn = url.searchParams.get("conn") || undefined;
    const endpoint = endpointParam(url, state.service.registry.endpoints);
    const packets = log.query({
      after: intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER }),
      limit: intParam(url, "limit", { min: 0, max: 10_000, fallback: 100 }),
      conn,
      endpoint,
      dir: enumParam(url, "dir", ["in", "out"] as const),
    });
    return json({
      lastSeq: log.lastSeq,
      dropped: log.dropped,
      // Entries of this connection or endpoint (or all) dropped for good: "evicted", not "none".
      evicted: log.evicted({ conn, endpoint }),
      capacity: log.capacity,
      previewBytes: log.previewBytes,
      packets,
    });
  },
});
