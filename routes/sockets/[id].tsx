import type { SocketRecord } from "../../lib/net/types.ts";
import { definePage, page } from "../../lib/web/page.tsx";
import ConnDetail from "../../islands/conn_detail.tsx";

/** Packets of one connection handed to the page. */
const PACKETS = 2000;

function sameAddr(a: SocketRecord["local"] | null, b: SocketRecord["local"] | null): boolean {
  return a !== null && b !== null && a.port === b.port &&
    a.hostname.replace(/^::ffff:/, "") === b.hostname.replace(/^::ffff:/, "");
}

export const handler = definePage.handlers({
  async GET({ params, state }) {
    const { service } = state;
    const id = params.id;
    const socket = await service.socket(id);
    if (socket === undefined) {
      return page({ id, found: false as const }, {
        status: 404,
        title: `No socket ${id}`,
      });
    }
    // The other end of the same connection, where both ends live on this host.
    const counterpart = socket.remote === null
      ? null
      : (await service.sockets()).find((s) =>
        s.id !== socket.id && sameAddr(s.local, socket.remote) && sameAddr(s.remote, socket.local)
      ) ?? null;
    const lastSeq = service.log.lastSeq;
    return page({
      id,
      found: true as const,
      socket,
      counterpart,
      kernel: service.kernelStatus,
      packets: service.log.query({ conn: id, limit: PACKETS }),
      lastSeq,
      previewBytes: service.log.previewBytes,
      now: Date.now(),
    }, { title: `Socket ${id}` });
  },
});

export default definePage.page<typeof handler>(function SocketPage({ data }) {
  if (!data.found) {
    return (
      <div class="page-head">
        <h1>No socket “{data.id}”</h1>
        <p class="lede">
          It is neither live nor among the recently closed connections the service keeps (<code>
            --keep-closed
          </code>). Kernel-only and peer rows disappear once the kernel forgets them.{" "}
          <a href="/sockets">Back to the socket table</a>.
        </p>
      </div>
    );
  }
  return (
    <>
      <nav class="crumbs small">
        <a href="/sockets">Sockets</a> / <span class="mono">{data.id}</span>
      </nav>
      <ConnDetail
        socket={data.socket}
        counterpart={data.counterpart}
        kernel={data.kernel}
        packets={data.packets}
        lastSeq={data.lastSeq}
        previewBytes={data.previewBytes}
        now={data.now}
      />
    </>
  );
});
