import { ECHOING } from "../../../lib/net/endpoint_table.ts";
import { define, json, jsonError } from "../../../lib/web/define.ts";
import { jsonBody, ParamError } from "../../../lib/web/params.ts";

function intField(
  body: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback?: number,
): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ParamError(
      `Cannot parse body: "${name}" must be an integer in ${min}..${max}: ${JSON.stringify(v)}`,
    );
  }
  return v;
}

export const handler = define.handlers({
  async POST({ req, state }) {
    const body = await jsonBody(req);
    const { service } = state;
    const name = body.endpoint ?? "multiconn";
    const endpoint = typeof name === "string" ? service.tcp.get(name) : undefined;
    if (endpoint === undefined || !ECHOING.includes(name as string)) {
      return jsonError(
        400,
        `Cannot parse body: "endpoint" must be one of ${ECHOING.join(", ")}: ${
          JSON.stringify(name)
        }`,
      );
    }
    const conns = intField(body, "conns", 1, 1000, 4)!;
    const messages = intField(body, "messages", 1, 100_000, 2)!;
    const size = intField(body, "size", 1, 1 << 20);
    try {
      const run = service.launcher.startMulticonn({
        target: endpoint.stats.address!,
        conns,
        messages,
        size,
      });
      return json(run, 202);
    } catch (err) {
      if (err instanceof RangeError) return jsonError(429, err.message);
      throw err;
    }
  },
});
