import { definePage, page } from "../lib/web/page.tsx";
import PacketLog, { HISTORY, type PacketFilter } from "../islands/packet_log.tsx";
import { fmtBytes, fmtTime } from "../lib/view/format.ts";
import type { CaptureFileInfo } from "../lib/capture/capture_files.ts";

export const handler = definePage.handlers({
  GET({ url, state }) {
    const log = state.service.log;
    const dir = url.searchParams.get("dir");
    const filter: PacketFilter = {
      endpoint: url.searchParams.get("endpoint") ?? "",
      conn: url.searchParams.get("conn") ?? "",
      dir: dir === "in" || dir === "out" ? dir : "",
    };
    const lastSeq = log.lastSeq;
    const packets = log.query({
      limit: HISTORY,
      endpoint: filter.endpoint || undefined,
      conn: filter.conn || undefined,
      dir: filter.dir || undefined,
    });
    return page({
      packets,
      lastSeq,
      filter,
      endpoints: [...state.service.registry.endpoints.keys()],
      previewBytes: log.previewBytes,
      capacity: log.capacity,
      dropped: log.dropped,
      captureFiles: state.service.captureFiles?.list() ?? null,
    }, { title: "Packets" });
  },
});

/** The rotating capture files of --capture-dir, with download links (server-rendered). */
function CaptureFiles({ files }: { files: CaptureFileInfo[] | null }) {
  if (files === null) {
    return (
      <p class="muted small">
        Full payloads are kept in memory for the pcapng download; start with{" "}
        <code>--capture-dir DIR</code> to also keep rotating capture files on disk.
      </p>
    );
  }
  return (
    <section class="capture-files" data-capture-files="">
      <h2>Capture files</h2>
      {files.length === 0
        ? <p class="muted small">No capture files yet: they are written once traffic flows.</p>
        : (
          <table class="grid">
            <thead>
              <tr>
                <th>File</th>
                <th class="num">Size</th>
                <th>Last written</th>
              </tr>
            </thead>
            <tbody>
              {files.map((f) => (
                <tr key={f.name}>
                  <td class="mono">
                    <a href={`/api/captures/${encodeURIComponent(f.name)}`} download>{f.name}</a>
                    {f.current && <span class="pill">writing</span>}
                  </td>
                  <td class="num mono">{fmtBytes(f.bytes)}</td>
                  <td class="mono">{f.modified === null ? "—" : fmtTime(f.modified)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
    </section>
  );
}

export default definePage.page<typeof handler>(function PacketsPage({ data }) {
  return (
    <>
      <div class="page-head">
        <h1>Packet log</h1>
        <p class="lede">
          Every read and write of the service's sockets, newest on top, the way <code>tshark</code>
          {" "}
          or <code>socat -x</code> shows traffic: <span class="c-in">in</span>{" "}
          is what the process read, <span class="c-out">out</span> what it wrote. The first{" "}
          {data.previewBytes}{" "}
          bytes of each are kept; decoded app frames and framing errors appear beside them.
        </p>
      </div>
      <PacketLog
        packets={data.packets}
        lastSeq={data.lastSeq}
        filter={data.filter}
        endpoints={data.endpoints}
        previewBytes={data.previewBytes}
        capacity={data.capacity}
        dropped={data.dropped}
      />
      <CaptureFiles files={data.captureFiles} />
    </>
  );
});
