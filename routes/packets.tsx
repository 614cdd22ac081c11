import { definePage, page } from "../lib/web/page.tsx";
import PacketLog, { HISTORY, type PacketFilter } from "../islands/packet_log.tsx";

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
    }, { title: "Packets" });
  },
});

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
    </>
  );
});
