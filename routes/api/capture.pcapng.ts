import { define, jsonError } from "../../lib/web/define.ts";
import { endpointParam, enumParam, ParamError } from "../../lib/web/params.ts";
import { tupleKey, type WireTuple } from "../../lib/wire/wire_view.ts";
import { type ExportNote, wirePcapng } from "../../lib/wire/wire_export.ts";
import type { Service } from "../../lib/net/service.ts";

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The capture as pcapng: everything held, or `?conn=ID` / `?endpoint=NAME`. `?source=wire`
 * the frames the wire view captured (Ethernet, with the app's reads and writes as comments);
 * `?source=app` the packets synthesized from the app's reads and writes; default wire where
 * the wire view is on.
 */
export const handler = define.handlers({
  async GET({ url, state }) {
    const { service } = state;
    const conn = url.searchParams.get("conn") || undefined;
    const endpoint = endpointParam(url, service.registry.endpoints);
    if (conn !== undefined && !ID.test(conn)) {
      throw new ParamError(`Cannot parse query: "conn" is not a socket id: "${conn}"`);
    }
    const source = enumParam(url, "source", ["wire", "app"] as const) ??
      (service.wire.available ? "wire" : "app");
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const name = `sockscope${conn ? `-${conn}` : ""}${
      endpoint ? `-${endpoint}` : ""
    }-${source}-${stamp}.pcapng`;
    const headers = {
      "content-type": "application/x-pcapng",
      "content-disposition": `attachment; filename="${name}"`,
      "cache-control": "no-store",
    };
    if (source === "wire") {
      if (!service.wire.available) {
        return jsonError(404, `The wire view is off: ${service.wire.reason}`);
      }
      let tuple: WireTuple | undefined;
      if (conn !== undefined) {
        const socket = await service.socket(conn);
        if (socket === undefined || socket.remote === null || socket.transport !== "tcp") {
          return jsonError(404, `No TCP socket "${conn}" on the wire`);
        }
        tuple = { local: socket.local, remote: socket.remote };
      }
      const blocks = wireExport(service, tuple, endpoint);
      return new Response(new Blob(blocks as BlobPart[]).stream(), { headers });
    }
    const capture = service.capture;
    if (capture === null) return jsonError(404, "Capture is off: started with --capture-bytes 0");
    if (conn !== undefined && !capture.has({ conn }) && service.registry.get(conn) === undefined) {
      return jsonError(404, `No socket "${conn}" in the capture`);
    }
    return new Response(capture.export({ conn, endpoint }), { headers });
  },
});

// The wire's frames with the packet log's reads and writes of our sockets as comments.
function wireExport(service: Service, tuple?: WireTuple, endpoint?: string): Uint8Array[] {
  let frames = service.wire.frames(tuple);
  if (endpoint !== undefined) {
    const port = service.registry.endpoints.get(endpoint)?.address?.port;
    const mark = `|${port}`;
    frames = frames.filter((f) => f.key.includes(`${mark}-`) || f.key.endsWith(mark));
  }
  const notes: ExportNote[] = [];
  const keys = new Map<string, string | null>();
  for (const e of service.log.query({ after: 0, limit: 100_000, endpoint })) {
    let key = keys.get(e.conn);
    if (key === undefined) {
      const s = service.registry.get(e.conn);
      key = s === undefined || s.remote === null || s.transport !== "tcp"
        ? null
        : tupleKey(s.local.hostname, s.local.port, s.remote.hostname, s.remote.port);
      keys.set(e.conn, key);
    }
    if (key === null) continue;
    const verb = e.dir === "in" ? "read" : "wrote";
    notes.push({ key, ts: e.ts, text: `app ${verb} ${e.len} bytes (socket ${e.conn})` });
  }
  return wirePcapng(frames, notes, {
    interface: service.wire.interface,
    snaplen: service.wire.snaplen,
    method: service.wire.method,
  });
}
