import { define, json } from "../../lib/web/define.ts";

export const handler = define.handlers({
  GET({ state }) {
    return json({ runs: state.service.launcher.list() });
  },
});
