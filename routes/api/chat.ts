import { define, json, jsonError } from "../../lib/web/define.ts";
import { intParam, jsonBody } from "../../lib/web/params.ts";

export const handler = define.handlers({
  GET({ url, state }) {
    const limit = intParam(url, "limit", { min: 0, max: 200, fallback: 50 })!;
    return json(state.service.chat.snapshot(limit));
  },
  async POST({ req, state }) {
    const body = await jsonBody(req);
    if (typeof body.name !== "string") {
      return jsonError(
        400,
        `Cannot parse body: "name" must be a string: ${JSON.stringify(body.name)}`,
      );
    }
    if (typeof body.text !== "string") {
      return jsonError(
        400,
        `Cannot parse body: "text" must be a string: ${JSON.stringify(body.text)}`,
      );
    }
    try {
      return json({ message: state.service.chat.post(body.name, body.text) }, 201);
    } catch (err) {
      if (err instanceof RangeError) return jsonError(400, `Cannot post: ${err.message}`);
      throw err;
    }
  },
});
