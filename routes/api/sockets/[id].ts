import { define, json, jsonError } from "../../../lib/web/define.ts";
import { intParam } from "../../../lib/web/params.ts";

export const handler = define.handlers({
  async GET({ url, params, state }) {
    const limit = intParam(url, "limit", { min: 0, max: 10_000, fallback: 200 });
    const socket = await state.service.socket(params.id);
    if (socket === undefined) return jsonError(404, `No socket "${params.id}"`);
    const packets = state.service.log.query({ conn: params.id, limit });
    return json({ kernel: state.service.kernelStatus, socket, packets });
  },
});
