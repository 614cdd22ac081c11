import { DIAGNOSIS_KINDS, type DiagnosisKind } from "../../../lib/diagnoses/types.ts";
import type { ScenariosResponse } from "../../../lib/view/api_types.ts";
import { define, json, jsonError } from "../../../lib/web/define.ts";
import { jsonBody } from "../../../lib/web/params.ts";

/**
 * GET: every kind's scenario and its latest run. POST `{"kind": …}`: starts that kind's
 * scenario (202 with its run); 409 when it is running or cannot run here.
 */
export const handler = define.handlers({
  GET({ state }) {
    const body: ScenariosResponse = { scenarios: state.service.scenarios.list() };
    return json(body);
  },
  async POST({ req, state }) {
    const body = await jsonBody(req);
    const kind = body.kind;
    if (typeof kind !== "string" || !(DIAGNOSIS_KINDS as readonly string[]).includes(kind)) {
      return jsonError(
        400,
        `Cannot parse body: "kind" must be one of ${DIAGNOSIS_KINDS.join(", ")}: ${
          JSON.stringify(kind)
        }`,
      );
    }
    try {
      return json(state.service.scenarios.start(kind as DiagnosisKind), 202);
    } catch (err) {
      if (err instanceof RangeError) return jsonError(409, err.message);
      throw err;
    }
  },
});
