/** Prometheus text exposition (version 0.0.4) from the registry's numbers. Pure. */
import type { CaptureStats } from "../capture/capture_ring.ts";
import type { Histogram } from "./histogram.ts";
import type { FdBudgetSnapshot } from "../net/fd_budget.ts";
import type { EndpointStats } from "../net/registry.ts";
import type { SocketRecord } from "../net/types.ts";
import type { HttpStats } from "../web/http_stats.ts";
import type { ProcessStats } from "./process_stats.ts";

/** What the exposition is made from. */
export interface MetricsInput {
  endpoints: Iterable<EndpointStats>;
  packetLog: { entries: number; capacity: number; dropped: number };
  /** Joined sockets, for the kernel queue sums; null when the kernel view is unavailable. */
  sockets: readonly SocketRecord[] | null;
  uptimeSeconds: number;
  /** The full-payload capture; null when it is off. */
  capture?: CaptureStats | null;
  /** The wire view's capture counters; null or absent when it is off. */
  wire?: { packets: number; bytes: number; drops: number } | null;
  /** The capture's files on disk; null without `--capture-dir`. */
  captureFiles?: { files: number; gapRecords: number; errors: number } | null;
  /** App-protocol request latency (seconds) by endpoint. */
  latency?: ReadonlyArray<{ endpoint: string; histogram: Histogram }>;
  /** The descriptor budget of the TCP endpoints and client runs; null or absent leaves it out. */
  fdBudget?: FdBudgetSnapshot | null;
  /** The process's CPU, memory and file descriptors; null or absent leaves those families out. */
  process?: ProcessStats | null;
  /** The dashboard's HTTP server and event streams; null or absent leaves those families out. */
  http?: HttpStats | null;
  /** Diagnoses active and appeared, per kind (lib/diagnoses); absent leaves those families out. */
  diagnoses?: { active: Record<string, number>; total: Record<string, number> } | null;
}

/** A number as Prometheus reads it (bounds like 0.00005 stay decimal). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN";
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/** Renders the metrics; every family has HELP and TYPE lines. */
export function renderMetrics(input: MetricsInput): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const endpoints = [...input.endpoints];
  const perEndpoint = (
    name: string,
    type: string,
    help: string,
    value: (e: EndpointStats) => number,
  ) => {
    family(name, type, help);
    for (const e of endpoints) lines.push(`${name}{endpoint="${escapeLabel(e.name)}"} ${value(e)}`);
  };
  const perKind = (
    name: string,
    help: string,
    value: (e: EndpointStats) => Record<string, number>,
  ) => {
    family(name, "counter", help);
    for (const e of endpoints) {
      for (const [kind, n] of Object.entries(value(e))) {
        lines.push(`${name}{endpoint="${escapeLabel(e.name)}",kind="${escapeLabel(kind)}"} ${n}`);
      }
    }
  };
  perEndpoint(
    "sockscope_up",
    "gauge",
    "Whether the endpoint is listening.",
    (e) => e.listening ? 1 : 0,
  );
  perEndpoint(
    "sockscope_connections",
    "gauge",
    "Live connections (UDP: live flows).",
    (e) => e.live,
  );
  perEndpoint(
    "sockscope_connections_accepted_total",
    "counter",
    "Connections accepted (UDP: flows seen).",
    (e) => e.accepted,
  );
  perEndpoint(
    "sockscope_connections_closed_total",
    "counter",
    "Connections closed (UDP: flows expired).",
    (e) => e.closed,
  );
  perEndpoint(
    "sockscope_connections_refused_total",
    "counter",
    "Connections refused by the per-endpoint limit.",
    (e) => e.refused,
  );
  perEndpoint(
    "sockscope_received_bytes_total",
    "counter",
    "Bytes read from peers.",
    (e) => e.bytesIn,
  );
  perEndpoint(
    "sockscope_sent_bytes_total",
    "counter",
    "Bytes written to peers.",
    (e) => e.bytesOut,
  );
  perEndpoint(
    "sockscope_reads_total",
    "counter",
    "Reads (UDP: datagrams received).",
    (e) => e.messagesIn,
  );
  perEndpoint(
    "sockscope_writes_total",
    "counter",
    "Writes the kernel accepted (UDP: datagrams sent).",
    (e) => e.messagesOut,
  );
  perKind(
    "sockscope_errors_total",
    "Errors by kind (reset, broken-pipe, protocol, …).",
    (e) => e.errors,
  );
  perKind(
    "sockscope_limit_hits_total",
    "Limits and timeouts that triggered, by kind.",
    (e) => e.limitHits,
  );
  family(
    "sockscope_faults_total",
    "counter",
    "Times a fault acted, by mode (delay, drip, bandwidth, slice: writes held or cut; " +
      "half-close, close-unread, stall, reset: connections; reset-unavailable: resets closed " +
      "normally; pause-accept: pauses; UDP loss, duplicate, reorder, delay: replies).",
  );
  for (const e of endpoints) {
    for (const [mode, n] of Object.entries(e.faults)) {
      lines.push(
        `sockscope_faults_total{endpoint="${escapeLabel(e.name)}",mode="${
          escapeLabel(mode)
        }"} ${n}`,
      );
    }
  }
  family("sockscope_fault_active", "gauge", "1 for the fault mode in force on an endpoint.");
  for (const e of endpoints) {
    if (e.fault === null || e.fault.mode === "none") continue;
    lines.push(
      `sockscope_fault_active{endpoint="${escapeLabel(e.name)}",mode="${
        escapeLabel(e.fault.mode)
      }"} 1`,
    );
  }
  family("sockscope_packet_log_entries", "gauge", "Entries held in the packet log.");
  lines.push(`sockscope_packet_log_entries ${input.packetLog.entries}`);
  family("sockscope_packet_log_capacity", "gauge", "Entries the packet log can hold.");
  lines.push(`sockscope_packet_log_capacity ${input.packetLog.capacity}`);
  family(
    "sockscope_packet_log_dropped_total",
    "counter",
    "Packet-log entries overwritten by newer ones.",
  );
  lines.push(`sockscope_packet_log_dropped_total ${input.packetLog.dropped}`);
  if (input.sockets !== null) {
    const recv = new Map<string, number>();
    const send = new Map<string, number>();
    for (const s of input.sockets) {
      if (!s.ours || s.kernel === null || s.kind === "listener") continue;
      recv.set(s.endpoint, (recv.get(s.endpoint) ?? 0) + s.kernel.recvQ);
      send.set(s.endpoint, (send.get(s.endpoint) ?? 0) + s.kernel.sendQ);
    }
    perEndpoint(
      "sockscope_kernel_recv_queue_bytes",
      "gauge",
      "Sum of the kernel's Recv-Q over the endpoint's sockets.",
      (e) => recv.get(e.name) ?? 0,
    );
    perEndpoint(
      "sockscope_kernel_send_queue_bytes",
      "gauge",
      "Sum of the kernel's Send-Q over the endpoint's sockets.",
      (e) => send.get(e.name) ?? 0,
    );
  }
  const capture = input.capture ?? null;
  const scalar = (name: string, type: string, help: string, value: number) => {
    family(name, type, help);
    lines.push(`${name} ${num(value)}`);
  };
  scalar(
    "sockscope_capture_enabled",
    "gauge",
    "1 when the full-payload capture is on (--capture-bytes above 0).",
    capture === null ? 0 : 1,
  );
  if (capture !== null) {
    scalar(
      "sockscope_capture_capacity_bytes",
      "gauge",
      "Bytes the capture ring can hold.",
      capture.capacityBytes,
    );
    scalar(
      "sockscope_capture_used_bytes",
      "gauge",
      "Bytes of the capture ring in use (payload and record headers).",
      capture.usedBytes,
    );
    scalar(
      "sockscope_capture_packets_total",
      "counter",
      "Packets (reads, writes, datagrams) captured in full.",
      capture.packets,
    );
    scalar(
      "sockscope_capture_bytes_total",
      "counter",
      "Payload bytes captured.",
      capture.bytes,
    );
    scalar(
      "sockscope_capture_dropped_packets_total",
      "counter",
      "Captured packets evicted from the ring by newer ones.",
      capture.droppedPackets,
    );
    scalar(
      "sockscope_capture_dropped_bytes_total",
      "counter",
      "Captured payload bytes evicted from the ring by newer ones.",
      capture.droppedBytes,
    );
  }
  const wire = input.wire ?? null;
  if (wire !== null) {
    scalar(
      "sockscope_wire_packets_total",
      "counter",
      "Frames the wire view captured on the endpoints' ports.",
      wire.packets,
    );
    scalar(
      "sockscope_wire_bytes_total",
      "counter",
      "Bytes on the wire of the frames the wire view captured.",
      wire.bytes,
    );
    scalar(
      "sockscope_wire_drops_total",
      "counter",
      "Frames the kernel had no room for in the wire view's ring (eBPF ring buffer or PACKET_STATISTICS).",
      wire.drops,
    );
  }
  const files = input.captureFiles ?? null;
  if (files !== null) {
    scalar("sockscope_capture_files", "gauge", "Capture files in --capture-dir.", files.files);
    scalar(
      "sockscope_capture_file_gap_records_total",
      "counter",
      "Capture records evicted from the ring before the file writer reached them.",
      files.gapRecords,
    );
    scalar(
      "sockscope_capture_file_write_errors_total",
      "counter",
      "Failed writes of capture files.",
      files.errors,
    );
  }
  const fds = input.fdBudget ?? null;
  if (fds !== null) {
    scalar("sockscope_fd_limit", "gauge", "The descriptor limit (soft RLIMIT_NOFILE).", fds.limit);
    scalar(
      "sockscope_fd_reserve",
      "gauge",
      "Descriptors kept out of the connection budget (dashboard, listeners, kernel view, files).",
      fds.reserve,
    );
    scalar(
      "sockscope_fd_budget_connections",
      "gauge",
      "Connections every TCP endpoint and client run may hold at once, together.",
      fds.budget,
    );
    scalar(
      "sockscope_fd_budget_used_connections",
      "gauge",
      "Connections open now that count against the descriptor budget.",
      fds.used,
    );
    scalar(
      "sockscope_fd_budget_refused_total",
      "counter",
      'Connections refused because the descriptor budget was spent (per endpoint: kind="fd-budget").',
      fds.refused,
    );
    scalar(
      "sockscope_fd_exhausted_total",
      "counter",
      "Accepts that failed with EMFILE or ENFILE (out of descriptors), retried after a back-off.",
      fds.exhausted,
    );
  }
  const latency = input.latency ?? [];
  const hist = "sockscope_app_request_duration_seconds";
  family(
    hist,
    "histogram",
    "App-protocol request latency: from the read that completed a request frame to the answer " +
      "written.",
  );
  for (const { endpoint, histogram } of latency) {
    const label = `endpoint="${escapeLabel(endpoint)}"`;
    const cumulative = histogram.cumulative();
    histogram.bounds.forEach((b, i) => {
      lines.push(`${hist}_bucket{${label},le="${num(b)}"} ${cumulative[i]}`);
    });
    lines.push(`${hist}_bucket{${label},le="+Inf"} ${cumulative[cumulative.length - 1]}`);
    lines.push(`${hist}_sum{${label}} ${num(histogram.sum)}`);
    lines.push(`${hist}_count{${label}} ${histogram.count}`);
  }
  const http = input.http ?? null;
  if (http !== null) {
    scalar("sockscope_http_connections", "gauge", "Dashboard connections served now.", http.live);
    scalar(
      "sockscope_http_connections_accepted_total",
      "counter",
      "Dashboard connections accepted, refused ones included.",
      http.accepted,
    );
    scalar(
      "sockscope_http_connections_refused_total",
      "counter",
      "Dashboard connections answered 503 and closed at the cap (--http-max-conns), every " +
        "connection having a request in flight.",
      http.refused,
    );
    scalar(
      "sockscope_http_connections_evicted_total",
      "counter",
      "Dashboard connections with no request in flight closed at the cap to make room for a new one.",
      http.evicted,
    );
    family(
      "sockscope_http_timeouts_total",
      "counter",
      "Dashboard connections closed by --header-timeout: header (no request yet), idle (between " +
        "requests).",
    );
    for (const [kind, n] of Object.entries(http.timeouts)) {
      lines.push(`sockscope_http_timeouts_total{kind="${escapeLabel(kind)}"} ${n}`);
    }
    family(
      "sockscope_http_accept_errors_total",
      "counter",
      "Failed accepts of the dashboard's listener by error code (EMFILE: out of descriptors), " +
        "waited out.",
    );
    for (const [code, n] of Object.entries({ EMFILE: 0, ENFILE: 0, ...http.acceptErrors })) {
      lines.push(`sockscope_http_accept_errors_total{code="${escapeLabel(code)}"} ${n}`);
    }
    scalar(
      "sockscope_sse_streams",
      "gauge",
      "Event streams (/api/events) open now.",
      http.sseStreams,
    );
    scalar(
      "sockscope_sse_coalesced_total",
      "counter",
      "Events replaced by a newer snapshot or merged while their client read too slowly.",
      http.sseCoalesced,
    );
    scalar(
      "sockscope_sse_dropped_total",
      "counter",
      "Event streams closed because their client stayed behind (--sse-max-behind).",
      http.sseDropped,
    );
  }
  const diagnoses = input.diagnoses ?? null;
  if (diagnoses !== null) {
    family("sockscope_diagnoses_active", "gauge", "Diagnoses active now, by kind.");
    for (const [kind, n] of Object.entries(diagnoses.active)) {
      lines.push(`sockscope_diagnoses_active{kind="${escapeLabel(kind)}"} ${n}`);
    }
    family("sockscope_diagnoses_total", "counter", "Diagnoses that appeared, by kind.");
    for (const [kind, n] of Object.entries(diagnoses.total)) {
      lines.push(`sockscope_diagnoses_total{kind="${escapeLabel(kind)}"} ${n}`);
    }
  }
  family("sockscope_uptime_seconds", "gauge", "Seconds since the service started.");
  lines.push(`sockscope_uptime_seconds ${input.uptimeSeconds.toFixed(3)}`);
  const proc = input.process ?? null;
  if (proc !== null) {
    // The names and meanings of Prometheus client libraries' process collector, so existing
    // dashboards and alerts work; a number /proc could not give is left out, not shown as 0.
    const known = (name: string, type: string, help: string, value: number | null) => {
      if (value !== null) scalar(name, type, help, value);
    };
    known(
      "process_cpu_seconds_total",
      "counter",
      "Total user and system CPU time spent in seconds.",
      proc.cpuSeconds,
    );
    known(
      "process_resident_memory_bytes",
      "gauge",
      "Resident memory size in bytes.",
      proc.residentBytes,
    );
    known(
      "process_virtual_memory_bytes",
      "gauge",
      "Virtual memory size in bytes.",
      proc.virtualBytes,
    );
    known(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since unix epoch in seconds.",
      proc.startTimeSeconds,
    );
    known("process_open_fds", "gauge", "Number of open file descriptors.", proc.openFds);
    known("process_max_fds", "gauge", "Maximum number of open file descriptors.", proc.maxFds);
    known(
      "sockscope_js_heap_used_bytes",
      "gauge",
      "V8's JavaScript heap in use, bytes.",
      proc.heapUsedBytes,
    );
    known(
      "sockscope_js_heap_total_bytes",
      "gauge",
      "V8's JavaScript heap allocated, bytes.",
      proc.heapTotalBytes,
    );
    known(
      "sockscope_js_external_bytes",
      "gauge",
      "V8's external memory: C++ objects bound to JavaScript heap objects (ArrayBuffers), bytes.",
      proc.externalBytes,
    );
  }
  return lines.join("\n") + "\n";
}
