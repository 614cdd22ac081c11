import { define } from "../lib/web/define.ts";
import { readProcessStats } from "../lib/telemetry/process_stats.ts";
import { renderMetrics } from "../lib/telemetry/prometheus.ts";

export const handler = define.handlers({
  async GET({ state }) {
    const { service } = state;
    const [sockets, processStats] = await Promise.all([
      service.sockets(),
      readProcessStats(state.startedAt),
    ]);
    const log = service.log;
    const body = renderMetrics({
      endpoints: service.registry.endpoints.values(),
      packetLog: {
        entries: Math.min(log.lastSeq, log.capacity),
        capacity: log.capacity,
        dropped: log.dropped,
      },
      sockets: service.kernelStatus.available ? sockets : null,
      uptimeSeconds: (Date.now() - state.startedAt) / 1000,
      capture: service.capture?.stats() ?? null,
      wire: service.wire.available ? service.wire.status() : null,
      captureFiles: service.captureFiles === null ? null : {
        files: service.captureFiles.list().length,
        gapRecords: service.captureFiles.gapRecords,
        errors: service.captureFiles.errors,
      },
      latency: [{ endpoint: "app", histogram: service.appLatency }],
      fdBudget: service.fds.toJSON(),
      process: processStats,
      http: state.http ?? null,
      diagnoses: {
        active: service.diagnoses.engine.activeByKind(),
        total: service.diagnoses.engine.totals,
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  },
});
