import { define, json, jsonError } from "../../../../lib/web/define.ts";

export const handler = define.handlers({
  POST({ params, state }) {
    if (!state.service.launcher.stop(params.id)) {
      return jsonError(404, `No running client run "${params.id}"`);
    }
    return json({ stopped: params.id });
  },
});
