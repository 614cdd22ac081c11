import { ENDPOINTS, tryItLines } from "../lib/net/endpoint_table.ts";
import { definePage, page } from "../lib/web/page.tsx";
import EndpointCards from "../islands/endpoint_cards.tsx";
import DiagnosesSummary from "../islands/diagnoses_summary.tsx";
import type { EndpointView } from "../lib/view/api_types.ts";

export const handler = definePage.handlers({
  GET({ state }) {
    const { service, dashboard } = state;
    const tryIt = new Map(ENDPOINTS.map((e) => [e.name, e.tryIt]));
    const endpoints = [...service.registry.endpoints.values()].map((stats): EndpointView => {
      const lines = tryIt.get(stats.name);
      return {
        ...stats.toJSON(),
        tryIt: lines === undefined ? undefined : tryItLines(lines, stats, dashboard, state.client),
      };
    });
    return page({
      endpoints,
      kernel: service.kernelStatus,
      startedAt: state.startedAt,
      now: Date.now(),
      draining: service.sink.draining,
      diagnoses: service.diagnoses.engine.active(),
    }, { title: "Overview" });
  },
});

export default definePage.page<typeof handler>(function Overview({ data }) {
  return (
    <>
      <DiagnosesSummary active={data.diagnoses} now={data.now} />
      <EndpointCards
        endpoints={data.endpoints}
        kernel={data.kernel}
        startedAt={data.startedAt}
        now={data.now}
        draining={data.draining}
      />
    </>
  );
});
