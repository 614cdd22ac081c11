import { define, json, jsonError } from "../../../lib/web/define.ts";
import { jsonBody } from "../../../lib/web/params.ts";

export const handler = define.handlers({
  async POST({ req, state }) {
    const body = await jsonBody(req);
    if (typeof body.drain !== "boolean") {
      return jsonError(400, `Cannot parse body: "drain" must be true or false`);
    }
    const connections = state.service.sink.drain(body.drain);
    return json({ draining: body.drain, connections });
  },
});
