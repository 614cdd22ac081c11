import { ENDPOINTS, tryItLines } from "../../lib/net/endpoint_table.ts";
import { define, json } from "../../lib/web/define.ts";

export const handler = define.handlers({
  GET({ state }) {
    const { service, dashboard } = state;
    const endpoints = ENDPOINTS.map((spec) => {
      const stats = service.registry.endpoints.get(spec.name)!;
      return {
        ...stats.toJSON(),
        tryIt: tryItLines(spec.tryIt, stats, dashboard, state.client),
      };
    });
    return json({
      endpoints,
      sink: { draining: service.sink.draining },
      // One budget for every TCP endpoint and client run; each endpoint's maxConns applies too.
      fdBudget: service.fds.toJSON(),
    });
  },
});
