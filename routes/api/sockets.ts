import { define, jsonRows } from "../../lib/web/define.ts";

export const handler = define.handlers({
  async GET({ url, state }) {
    const endpoint = url.searchParams.get("endpoint") || undefined;
    const stateParam = url.searchParams.get("state");
    const states = stateParam
      ? stateParam.split(",").map((s) => s.trim()).filter(Boolean)
      : undefined;
    const sockets = await state.service.sockets({ endpoint, states });
    // Streamed: at 20,000 sockets the text is ≈ 12 MB.
    return jsonRows(
      { kernel: state.service.kernelStatus, count: sockets.length },
      "sockets",
      sockets,
    );
  },
});
