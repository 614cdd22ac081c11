import { SOCKET_STATES } from "../../lib/net/types.ts";
import { define, jsonRows } from "../../lib/web/define.ts";
import { endpointParam, statesParam } from "../../lib/web/params.ts";
import { filterSockets } from "../../lib/view/socket_filter.ts";

export const handler = define.handlers({
  async GET({ url, state }) {
    const endpoint = endpointParam(url, state.service.registry.endpoints);
    const states = statesParam(url, "state", SOCKET_STATES);
    // The filter the sockets page applies too (lib/view/socket_filter.ts).
    const sockets = filterSockets(await state.service.sockets(), { endpoint, states });
    // Streamed: at 20,000 sockets the text is ≈ 12 MB.
    return jsonRows(
      { kernel: state.service.kernelStatus, count: sockets.length },
      "sockets",
      sockets,
    );
  },
});
