import type { DiagnosesResponse } from "../../lib/view/api_types.ts";
import { define, json, jsonError } from "../../lib/web/define.ts";

/**
 * The diagnoses (lib/diagnoses): the active ones and the cleared ones still kept, oldest
 * first; `?active=1` only the active ones.
 */
export const handler = define.handlers({
  GET({ url, state }) {
    const active = url.searchParams.get("active");
    if (active !== null && active !== "0" && active !== "1") {
      return jsonError(400, `Invalid "active": "${active}" is not 0 or 1`);
    }
    const { engine, enabled } = state.service.diagnoses;
    const body: DiagnosesResponse = {
      diagnoses: active === "1" ? engine.active() : engine.all(),
      monitoring: enabled,
    };
    return json(body);
  },
});
