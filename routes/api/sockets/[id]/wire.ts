import { define, json, jsonError } from "../../../../lib/web/define.ts";
import { intParam } from "../../../../lib/web/params.ts";

/**
 * One TCP socket's captured segments, oldest first, from that socket's side (a peer row's
 * from the peer's): `?after=SEQ` those captured after it, `?limit=N` at most N.
 */
export const handler = define.handlers({
  async GET({ url, params, state }) {
    const after = intParam(url, "after", { min: 0, max: Number.MAX_SAFE_INTEGER, fallback: 0 });
    const limit = intParam(url, "limit", { min: 0, max: 100_000, fallback: 1000 });
    const { wire } = state.service;
    const socket = await state.service.socket(params.id);
    if (socket === undefined) return jsonError(404, `No socket "${params.id}"`);
    const tuple = socket.transport === "tcp" && socket.remote !== null
      ? { local: socket.local, remote: socket.remote }
      : null;
    return json({
      available: wire.available,
      reason: wire.reason ?? (tuple === null ? "not a TCP connection" : null),
      segments: tuple === null ? [] : wire.segments(tuple, { after, limit }),
      connection: tuple === null ? null : wire.connection(tuple),
      analysis: tuple === null ? {} : wire.analysisCounts(tuple),
    });
  },
});
