import { define, json, jsonError } from "../../../lib/web/define.ts";
import { jsonBody } from "../../../lib/web/params.ts";

/** `{"action":"start"}` starts the server's own writer against the sink; `"stop"` stops every one. */
export const handler = define.handlers({
  async POST({ req, state }) {
    const body = await jsonBody(req);
    const { service } = state;
    if (body.action === "start") {
      try {
        return json(service.launcher.startSink(service.tcp.get("sink")!.stats.address!), 202);
      } catch (err) {
        if (err instanceof RangeError) return jsonError(429, err.message);
        throw err;
      }
    }
    if (body.action === "stop") {
      const stopped = service.launcher.list()
        .filter((r) => r.kind === "sink" && r.status === "running")
        .map((r) => r.id)
        .filter((id) => service.launcher.stop(id));
      return json({ stopped });
    }
    return jsonError(
      400,
      `Cannot parse body: "action" must be "start" or "stop": ${JSON.stringify(body.action)}`,
    );
  },
});
