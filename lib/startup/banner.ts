/**
 * What `main.ts` prints once everything listens: the dashboard's URL, each
 * endpoint's address with a line to try it, and what the service runs with
 * (UDP fast path, descriptor budget, dashboard guards, kernel view); or, with
 * `--log-format json`, one JSON start line.
 *
 * @module
 */
import { ENDPOINTS, tryItLines } from "../net/endpoint_table.ts";
import type { UdpEndpoint } from "../net/endpoints/udp.ts";
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
  /** `--udp-plain` was given: the plain loop is the user's choice, not a fallback. @default false */
  udpPlain?: boolean;
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
    const record = service.registry.endpoints.get(spec.name)!;
    if (record.link === null && record.address === null) {
      lines.push(`  ${spec.name.padEnd(15)} not started: ${service.unavailable.get(spec.name)}`);
      continue;
    }
    const where = record.link !== null
      ? `${record.link.interface || "any"} type ${record.link.etherType}`
      : formatAddress(record.address!);
    lines.push(
      `  ${spec.name.padEnd(15)} ${spec.transport} ${where.padEnd(22)} ${spec.description}`,
    );
    if (record.transport === "link" && !record.listening) {
      // The link labs need the permission the rest does not: say why, and go on.
      lines.push(`  ${"".padEnd(15)}     off: ${record.reason ?? "not started"}`);
      continue;
    }
    if ("tls" in spec && spec.tls && service.tls !== null) {
      lines.push(
        `  ${
          "".padEnd(15)
        }     certificate: ${service.tls.source}, SHA-256 ${service.tls.fingerprint}`,
      );
    }
    lines.push(
      `  ${"".padEnd(15)}     try: ${tryItLines(spec.tryIt, record, dash, options.client)[0]}`,
    );
  }
  lines.push(`  clients: ${options.client} --help   (in this folder; the try-it lines use it too)`);
  const udp = service.udp.get("udp");
  if (udp !== undefined) lines.push(udpLine(udp, options.udpPlain === true));
  lines.push(fdBudgetLine(service, options.maxConns));
  if (!options.guarded) {
    lines.push(
      "  dashboard guards: off (this Deno has no per-connection HTTP server): no header " +
        "timeout, no connection cap, accept errors are fatal",
    );
  }
  if (!service.diagnoses.enabled) lines.push("  diagnoses: off (--no-diagnoses)");
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

/** Which UDP loop runs, and why when it is the fallback. */
function udpLine(udp: UdpEndpoint, plain: boolean): string {
  if (udp.fast) {
    return "  udp: batched, recvmmsg/sendmmsg through libc (--udp-plain for Deno's socket)";
  }
  return plain
    ? "  udp: Deno's socket, a datagram per call (--udp-plain)"
    : `  udp: Deno's socket, a datagram per call (fallback: ${udp.fastUnavailable})`;
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

/** The banner's wire-view line: where it captures, or why it is off. */
export function wireLine(service: Service): string {
  const wire = service.wire.status();
  return wire.available
    ? `  wire view: on, capturing the endpoints' ports on ${wire.interfaces.join(", ")} ` +
      `(snaplen ${wire.snaplen} bytes, ${
        wire.method === "tcx" ? "eBPF on its egress" : "an AF_PACKET ring"
      })`
    : `  wire view: off: ${wire.reason}`;
}
