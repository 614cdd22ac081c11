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
import type { Address } from "../net/types.ts";

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
    const addr = service.registry.endpoints.get(spec.name)!.address;
    if (addr === null) {
      lines.push(`  ${spec.name.padEnd(15)} not started: ${service.unavailable.get(spec.name)}`);
      continue;
    }
    lines.push(
      `  ${spec.name.padEnd(15)} ${spec.transport} ${
        formatAddress(addr).padEnd(22)
      } ${spec.description}`,
    );
    if ("tls" in spec && spec.tls && service.tls !== null) {
      lines.push(
        `  ${
          "".padEnd(15)
        }     certificate: ${service.tls.source}, SHA-256 ${service.tls.fingerprint}`,
      );
    }
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
    service.addresses().map((a) => [a.name, formatAddress(a.address)]),
  );
  return JSON.stringify({
    ts: new Date().toISOString(),
    event: "start",
    dashboard: `http://${dashboard}/`,
    endpoints,
    fdBudget: service.fds.toJSON(),
  });
}

/** `host:port` with an IPv6 host in brackets; a Unix socket's path alone. */
function formatAddress(addr: Address): string {
  if (addr.port === 0 && addr.hostname.startsWith("/")) return addr.hostname;
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
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
