import { ECHOING } from "../lib/net/endpoint_table.ts";
import { definePage, page } from "../lib/web/page.tsx";
import MulticonnLauncher from "../islands/multiconn_launcher.tsx";
import SocketsTable from "../islands/sockets_table.tsx";
import { FIRST_ROWS, foldedCount, parseView, viewRows } from "../lib/view/sockets_table.ts";

/** Rows the server renders and hands to the island before the first live snapshot. */
const SERVER_ROWS = FIRST_ROWS * 2;

export const handler = definePage.handlers({
  async GET({ url, state }) {
    const { service } = state;
    const view = parseView(url);
    const sockets = await service.sockets();
    const now = Date.now();
    const rows = viewRows(sockets, view, now);
    const runs = service.launcher.list().filter((r) => r.kind === "multiconn");
    return page({
      view,
      now,
      kernel: service.kernelStatus,
      rows: rows.slice(0, SERVER_ROWS),
      matching: rows.length,
      folded: foldedCount(sockets, view),
      total: sockets.length,
      endpoints: [...service.registry.endpoints.keys()],
      // The multiconn client checks every echo, so only the echoing endpoints make sense.
      targets: ECHOING.filter((name) => service.tcp.has(name)),
      runs,
    }, { title: "Sockets" });
  },
});

export default definePage.page<typeof handler>(function SocketsPage({ data }) {
  return (
    <>
      <div class="page-head">
        <h1>Sockets</h1>
        <p class="lede">
          Every socket of the service's endpoints, as <code>ss -tan</code>{" "}
          or TCPView shows them: the kernel's queues (Recv-Q, Send-Q) next to what the process
          itself holds (App rx/tx) and has moved (In/Out). Peer rows are the other end — the{" "}
          <code>nc</code> or script talking to an endpoint from this host.
        </p>
      </div>
      <MulticonnLauncher endpoints={data.targets} runs={data.runs} now={data.now} />
      <SocketsTable
        sockets={data.rows}
        matching={data.matching}
        folded={data.folded}
        total={data.total}
        kernel={data.kernel}
        view={data.view}
        endpoints={data.endpoints}
        now={data.now}
      />
    </>
  );
});
