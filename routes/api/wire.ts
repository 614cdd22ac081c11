import { define, json } from "../../lib/web/define.ts";

/** The wire view's state: on (interface, snap length, counters) or off and why. */
export const handler = define.handlers({
  GET({ state }) {
    return json(state.service.wire.status());
  },
});
