import { define, json } from "../../lib/web/define.ts";

export const handler = define.handlers({
  async GET({ url, state }) {
    const endpoint = url.searchParams.get("endpoint") || undefined;
    const stateParam = url.searchParams.get("state");
    const states = stateParam
      ? stateParam.split(",").map((s) => s.trim()).filter(Boolean)
      : undefined;
    const sockets = await state.service.sockets({ endpoint, states });
    return json({ kernel: state.service.kernelStatus, count: sockets.length, sockets });
  },
});
