import type { SocketRecord } from "../../lib/net/types.ts";
import { definePage, page } from "../../lib/web/page.tsx";
import ConnDetail, { type ConnWire } from "../../islands/conn_detail.tsx";
import type { Service } from "../../lib/net/service.ts";

/** Packets of one connection handed to the page. */
const PACKETS = 2000;

/** Segments of one connection handed to the page (the ladder draws the latest 1,000 items). */
const SEGMENTS = 1000;

/** The ladder's first batch: a TCP connection's segments, or why there are none; null if no ladder. */
function wireOf(service: Service, socket: SocketRecord): ConnWire | null {
  if (socket.transport !== "tcp" || socket.remote === null) return null;
  const { wire } = service;
  const ports = new Set(service.addresses().map((a) => a.address.port));
  const tuple = { local: socket.local, remote: socket.remote };
  const all = wire.segments(tuple);
  return {
    available: wire.available,
    reason: wire.reason,
    // Which line our socket is: a role where the service knows it, else by the endpoint port.
    side: socket.role ?? (ports.has(socket.local.port) ? "server" : "client"),
    segments: all.slice(-SEGMENTS),
  };
}

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
      wire: wireOf(service, socket),
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
        wire={data.wire}
        lastSeq={data.lastSeq}
        previewBytes={data.previewBytes}
        now={data.now}
      />
    </>
  );
});
