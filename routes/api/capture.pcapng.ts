import { define, jsonError } from "../../lib/web/define.ts";
import { endpointParam, ParamError } from "../../lib/web/params.ts";

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The capture as pcapng: everything the ring holds, or `?conn=ID` / `?endpoint=NAME`. */
export const handler = define.handlers({
  GET({ url, state }) {
    const { service } = state;
    const conn = url.searchParams.get("conn") || undefined;
    const endpoint = endpointParam(url, service.registry.endpoints);
    if (conn !== undefined && !ID.test(conn)) {
      throw new ParamError(`Cannot parse query: "conn" is not a socket id: "${conn}"`);
    }
    const capture = service.capture;
    if (capture === null) return jsonError(404, "Capture is off: started with --capture-bytes 0");
    if (conn !== undefined && !capture.has({ conn }) && service.registry.get(conn) === undefined) {
      return jsonError(404, `No socket "${conn}" in the capture`);
    }
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const name = `sockscope${conn ? `-${conn}` : ""}${
      endpoint ? `-${endpoint}` : ""
    }-${stamp}.pcapng`;
    return new Response(capture.export({ conn, endpoint }), {
      headers: {
        "content-type": "application/x-pcapng",
        "content-disposition": `attachment; filename="${name}"`,
        "cache-control": "no-store",
      },
    });
  },
});
