import { SOCKET_STATES } from "../../lib/net/types.ts";
import { define, jsonRows } from "../../lib/web/define.ts";
import { endpointParam, statesParam } from "../../lib/web/params.ts";

export const handler = define.handlers({
  async GET({ url, state }) {
    const endpoint = endpointParam(url, state.service.registry.endpoints);
    const states = statesParam(url, "state", SOCKET_STATES);
    const sockets = await state.service.sockets({ endpoint, states });
    // Streamed: at 20,000 sockets the text is ≈ 12 MB.
    return jsonRows(
      { kernel: state.service.kernelStatus, count: sockets.length },
      "sockets",
      sockets,
    );
  },
});
