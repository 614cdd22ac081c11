import { connStream } from "../../../../lib/capture/conn_stream.ts";
import { define, json, jsonError } from "../../../../lib/web/define.ts";
import { enumParam, intParam } from "../../../../lib/web/params.ts";

/**
 * One connection's (or UDP flow's) payloads in full from the capture: its follow stream.
 *
 * `?after=SEQ` returns only records after that seq, `limit` and `maxBytes`
 * bound the answer (one record comes back even if larger). Without `tail` the
 * answer is the first records that fit, `truncated` when more follow; with
 * `?tail=1` it is the latest that fit (after `after`, if given: the newest
 * since a seq), oldest first, with `skipped` counting the held records left
 * out before them. Each record's `gap` is the bytes of its direction the
 * capture lost just before it.
 */
export const handler = define.handlers({
  GET({ url, params, state }) {
    const after = intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER });
    const limit = intParam(url, "limit", { min: 0, max: 100_000, fallback: 10_000 });
    const maxBytes = intParam(url, "maxBytes", { min: 1, max: 1 << 24, fallback: 1 << 20 });
    const tail = enumParam(url, "tail", ["0", "1"] as const) === "1";
    const { service } = state;
    const capture = service.capture;
    if (capture === null) return jsonError(404, "Capture is off: started with --capture-bytes 0");
    // Sync from here on: the counters and the records are read in the same turn, so they agree.
    const socket = service.registry.get(params.id);
    if (socket === undefined && !capture.has({ conn: params.id })) {
      return jsonError(404, `No socket "${params.id}" in the capture`);
    }
    return json({
      id: params.id,
      ...connStream(capture, params.id, { after, limit, maxBytes, tail, counted: socket }),
    });
  },
});
