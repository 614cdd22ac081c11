import { define, json, jsonError } from "../../../../lib/web/define.ts";

export const handler = define.handlers({
  POST({ params, state }) {
    if (!state.service.closeSocket(params.id)) {
      return jsonError(404, `No live connection "${params.id}"`);
    }
    return json({ closed: params.id });
  },
});
