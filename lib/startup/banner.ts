/**
 * What `main.ts` prints once everything listens: the dashboard's URL, each
 * endpoint's address with a line to try it, and what the service runs with
 * (UDP fast path, descriptor budget, dashboard guards, kernel view); or, with
 * `--log-format json`, one JSON start line.
 *
 * @module
 */
import { ENDPOINTS, tryItLine } from "../net/endpoint_table.ts";
import type { Service } from "../net/service.ts";

/** What the banner says besides what the service reports itself. */
export interface BannerOptions {
  /** The dashboard's `host:port` (IPv6 in brackets). */
  dashboard: string;
  /** The dashboard's token, shown in its URL. */
  token?: string;
  /** How to spell the CLI, from `clientCommand()`. */
  client: string;
  /** `--udp-fast` was asked for. @default false */
  udpFast?: boolean;
  /** `--max-conns`, compared with the descriptor budget. */
  maxConns: number;
  /** The dashboard runs behind its own accept loop (header timeout, connection cap). */
  guarded: boolean;
}

/** The banner's lines, joined. */
export function banner(service: Service, options: BannerOptions): string {
  const dash = options.dashboard;
  const lines = [
    `sockscope dashboard  http://${dash}/${options.token ? `?token=${options.token}` : ""}`,
  ];
  for (const spec of ENDPOINTS) {
    const addr = service.registry.endpoints.get(spec.name)!.address!;
    lines.push(
      `  ${spec.name.padEnd(15)} ${spec.transport} ${
        `${addr.hostname}:${addr.port}`.padEnd(22)
      } ${spec.description}`,
    );
    lines.push(
      `  ${"".padEnd(15)}     try: ${
        tryItLine(spec.tryIt[0], addr.hostname, addr.port, dash, options.client)
      }`,
    );
  }
  lines.push(`  clients: ${options.client} --help   (in this folder; the try-it lines use it too)`);
  if (options.udpFast) {
    const udp = service.udp.get("udp");
    lines.push(
      udp?.fast
        ? "  udp fast path: on (recvmmsg/sendmmsg through libc)"
        : `  udp fast path: off, Deno's socket instead: ${udp?.fastUnavailable ?? "not started"}`,
    );
  }
  lines.push(fdBudgetLine(service, options.maxConns));
  if (!options.guarded) {
    lines.push(
      "  dashboard guards: off (this Deno has no per-connection HTTP server): no header " +
        "timeout, no connection cap, accept errors are fatal",
    );
  }
  // Before the kernel view line, which readers of the banner take as its last.
  lines.push(wireLine(service));
  lines.push(
    service.kernelStatus.reason === "Kernel view not configured"
      ? "  kernel view: off (--no-kernel)"
      : "  kernel view: sampled while someone looks, at most every 500 ms",
  );
  return lines.join("\n");
}

/** The banner as one JSON line, for log shippers reading stdout (`--log-format json`). */
export function startLine(service: Service, dashboard: string): string {
  const endpoints = Object.fromEntries(
    service.addresses().map((a) => [a.name, `${a.address.hostname}:${a.address.port}`]),
  );
  return JSON.stringify({
    ts: new Date().toISOString(),
    event: "start",
    dashboard: `http://${dashboard}/`,
    endpoints,
    fdBudget: service.fds.toJSON(),
  });
}

/** The banner's descriptor-budget line: what floods can take, and what is kept from them. */
function fdBudgetLine(service: Service, maxConns: number): string {
  const plan = service.fds.plan!;
  const parts = plan.reserved === null
    ? "given"
    : Object.entries(plan.reserved).map(([k, v]) => `${v} ${k}`).join(", ");
  const assumed = plan.limitSource.startsWith("assumed");
  const short = plan.budget >= maxConns
    ? ""
    : `; less than --max-conns ${maxConns}: ${
      assumed ? "allow reading /proc/self/limits" : "raise ulimit -n"
    } for more`;
  return `  descriptors: ${plan.budget} connections for all TCP endpoints and client runs ` +
    `together (limit ${plan.limit} ${assumed ? plan.limitSource : `from ${plan.limitSource}`}, ` +
    `reserve ${plan.reserve}: ${parts})${short}`;
}

/** The banner's wire-view line: where it captures, or why it is off. */
export function wireLine(service: Service): string {
  const wire = service.wire.status();
  return wire.available
    ? `  wire view: on, capturing the endpoints' ports on ${wire.interfaces.join(", ")} ` +
      `(snaplen ${wire.snaplen} bytes)`
    : `  wire view: off: ${wire.reason}`;
}
