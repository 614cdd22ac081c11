import type { Fault, TcpFault, UdpFault } from "../../../../lib/view/fault.ts";
import { describeFault, parseFault } from "../../../../lib/view/fault.ts";
import { define, json, jsonError } from "../../../../lib/web/define.ts";
import { jsonBody } from "../../../../lib/web/params.ts";
import type { Service } from "../../../../lib/net/service.ts";

export const handler = define.handlers({
  GET({ params, state }) {
    const target = switchOf(state.service, params.name);
    if (target === null) return jsonError(404, `No endpoint "${params.name}"`);
    return answer(params.name, target.get(), target.note());
  },
  async POST({ req, params, state }) {
    const target = switchOf(state.service, params.name);
    if (target === null) return jsonError(404, `No endpoint "${params.name}"`);
    const body = await jsonBody(req);
    let fault;
    try {
      fault = parseFault(body, target.transport);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) return jsonError(400, err.message);
      throw err;
    }
    target.set(fault);
    return answer(params.name, fault, target.note());
  },
});

/** The fault switch of a TCP or UDP endpoint, or null when there is no such endpoint. */
function switchOf(service: Service, name: string) {
  const tcp = service.tcp.get(name);
  if (tcp !== undefined) {
    return {
      transport: "tcp" as const,
      get: () => tcp.faults.fault,
      set: (fault: Fault) => tcp.setFault(fault as TcpFault),
      note: () => tcp.faults.note,
    };
  }
  const udp = service.udp.get(name);
  if (udp !== undefined) {
    return {
      transport: "udp" as const,
      get: () => udp.faults.fault,
      set: (fault: Fault) => udp.faults.set(fault as UdpFault),
      note: () => null,
    };
  }
  return null;
}

/** The fault, its description, and why it cannot act as asked when it cannot (`note`). */
function answer(endpoint: string, fault: Fault, note: string | null): Response {
  const description = describeFault(fault) + (note === null ? "" : `; ${note}`);
  return json(
    note === null ? { endpoint, fault, description } : { endpoint, fault, description, note },
  );
}
