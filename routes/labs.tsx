import { ENDPOINTS, tryItLines } from "../lib/net/endpoint_table.ts";
import { definePage, page } from "../lib/web/page.tsx";
import Labs, { type LabView, READS } from "../islands/labs.tsx";

export const handler = definePage.handlers({
  GET({ url, state }) {
    const { service, dashboard } = state;
    const labs: LabView[] = [];
    for (const spec of ENDPOINTS) {
      const info = spec.lab;
      const stats = service.registry.endpoints.get(spec.name);
      if (info === undefined || stats === undefined) continue;
      const addr = stats.address;
      // A wildcard bind is reached the way this page was.
      const host = addr === null || addr.hostname === "0.0.0.0" || addr.hostname === "::"
        ? url.hostname
        : addr.hostname;
      labs.push({
        ...stats.toJSON(),
        info,
        tryIt: tryItLines(spec.tryIt, stats, dashboard, state.client),
        // Framing labs show their newest reads, the raw lab its newest frames.
        packets: info.group === "framing" || info.group === "link"
          ? service.log.query({ endpoint: spec.name, limit: READS })
          : null,
        evicted: info.group === "framing" || info.group === "link"
          ? service.log.evicted({ endpoint: spec.name })
          : 0,
        open: info.browser && addr !== null
          ? `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}/`
          : null,
      });
    }
    return page({ labs }, { title: "Labs" });
  },
});

export default definePage.page<typeof handler>(function LabsPage({ data }) {
  return (
    <>
      <div class="page-head">
        <h1>Labs</h1>
        <p class="lede">
          Every system the tutorials describe, running as a live endpoint. Each section says what it
          teaches and where it comes from, gives the lines to try it from a shell, and counts its
          traffic as it happens; its sockets and bytes are in the{" "}
          <a href="/sockets">socket table</a> and the <a href="/packets">packet log</a>{" "}
          like everything else. Any of them can be switched into a fault mode from its card on the
          {" "}
          <a href="/">overview</a>.
        </p>
      </div>
      <Labs labs={data.labs} />
    </>
  );
});
