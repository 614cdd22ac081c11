import { CLIENT_COMMAND } from "../lib/net/endpoint_table.ts";
import { definePage, page } from "../lib/web/page.tsx";
import BuffersDemo from "../islands/buffers_demo.tsx";

export const handler = definePage.handlers({
  async GET({ state }) {
    const { service } = state;
    const sink = service.registry.endpoints.get("sink")?.address ?? null;
    const all = await service.sockets();
    const port = sink?.port ?? -1;
    const sockets = all.filter((s) => s.endpoint === "sink" || s.remote?.port === port);
    return page({
      sink,
      client: state.client ?? CLIENT_COMMAND,
      draining: service.sink.draining,
      kernel: service.kernelStatus,
      sockets,
      runs: service.launcher.list().filter((r) => r.kind === "sink"),
      now: Date.now(),
    }, { title: "Buffers" });
  },
});

export default definePage.page<typeof handler>(function BuffersPage({ data }) {
  return (
    <>
      <div class="page-head">
        <h1>Buffers: filling and draining the sink</h1>
        <p class="lede">
          The sink accepts connections and does not read. Start the writer and watch the bytes pile
          up: first in the sink's receive queue, then in the writer's send queue, until{" "}
          <code>write()</code>{" "}
          blocks because both kernels' buffers are full. Drain the sink and both queues fall.
        </p>
      </div>
      <BuffersDemo
        sink={data.sink}
        client={data.client}
        draining={data.draining}
        kernel={data.kernel}
        sockets={data.sockets}
        runs={data.runs}
        now={data.now}
      />
    </>
  );
});
