import { describeFault, parseFault } from "../../../../lib/view/fault.ts";
import { define, json, jsonError } from "../../../../lib/web/define.ts";
import { jsonBody } from "../../../../lib/web/params.ts";

export const handler = define.handlers({
  GET({ params, state }) {
    const endpoint = state.service.tcp.get(params.name);
    if (endpoint === undefined) return unknown(params.name, state.service.udp.has(params.name));
    const fault = endpoint.faults.fault;
    return json({ endpoint: params.name, fault, description: describeFault(fault) });
  },
  async POST({ req, params, state }) {
    const endpoint = state.service.tcp.get(params.name);
    if (endpoint === undefined) return unknown(params.name, state.service.udp.has(params.name));
    const body = await jsonBody(req);
    let fault;
    try {
      fault = parseFault(body);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) return jsonError(400, err.message);
      throw err;
    }
    endpoint.setFault(fault);
    return json({ endpoint: params.name, fault, description: describeFault(fault) });
  },
});

function unknown(name: string, udp: boolean): Response {
  return udp
    ? jsonError(400, `Cannot set a fault: "${name}" is a UDP endpoint; faults apply to TCP`)
    : jsonError(404, `No endpoint "${name}"`);
}
