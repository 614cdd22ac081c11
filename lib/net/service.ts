/**
 * The running service: every endpoint of the table started on its port, the
 * shared packet log and buffer pool, the idle sweeper, and the joined socket
 * view the API serves.
 */
import { CaptureFiles } from "../capture/capture_files.ts";
import { CaptureRing } from "../capture/capture_ring.ts";
import { EventLog, LineWriter } from "../telemetry/event_log.ts";
import { Histogram } from "../telemetry/histogram.ts";
import { composeTaps, PacketLog } from "../capture/packet_log.ts";
import { Redactor } from "../capture/redact.ts";
import { ConnTracing, otelRequested, otelTracer, type TracerLike } from "../telemetry/tracing.ts";
import { BufferPool } from "./buffer_pool.ts";
import { Launcher } from "./launcher.ts";
import { ENDPOINTS } from "./endpoint_table.ts";
import { countOpenFds, FdBudget, planFdBudget, readFdLimit } from "./fd_budget.ts";
import { ChatRoom, type ChatRoomOptions } from "./endpoints/chat.ts";
import type { ClientListOptions } from "./endpoints/client_list.ts";
import type { FramingOptions } from "../protocol/framing.ts";
import { Sink } from "./endpoints/sink.ts";
import { UdpEndpoint } from "./endpoints/udp.ts";
import { nowMs } from "./observed_conn.ts";
import { EndpointStats, Registry } from "./registry.ts";
import type { ServiceContext } from "./service_context.ts";
import { type EndpointAddress, joinKernel } from "./socket_view.ts";
import { TcpEndpoint } from "./tcp_endpoint.ts";
import type { KernelSocket, SocketRecord } from "./types.ts";
import type { KernelStatus } from "../view/api_types.ts";
import { interfaceFor } from "../wire/capture.ts";
import { WireView } from "../wire/wire_view.ts";

/** The kernel's socket table as the service consumes it (see lib/kernel). */
export interface KernelSource {
  sample(options?: { ports?: number[]; maxAgeMs?: number }): Promise<
    | { ok: true; source: string; at: number; tookMs: number; sockets: KernelSocket[] }
    | { ok: false; reason: string; source: null; at: number }
  >;
}

/** Everything configurable about the service; every field has a flag in main.ts. */
export interface ServiceOptions {
  /** Address every endpoint binds to. @default "127.0.0.1" */
  host?: string;
  /** Port per endpoint name; 0 picks a free one. @default the table's default ports */
  ports?: Record<string, number>;
  /** Live connections per TCP endpoint; the shared descriptor budget may refuse sooner. @default 10000 */
  maxConns?: number;
  /** The descriptor limit the budget is planned from. @default the soft RLIMIT_NOFILE (/proc/self/limits) */
  fdLimit?: number;
  /** Descriptors kept out of the connection budget. @default the sum of its parts (see lib/net/fd_budget.ts) */
  fdReserve?: number;
  /** Dashboard connections the HTTP server allows at once: kept in the descriptor reserve. @default 256 */
  httpMaxConns?: number;
  /** Idle timeout for TCP connections, 0 to disable. @default 300000 */
  idleTimeoutMs?: number;
  /** Longest a framed endpoint waits for the rest of a started message, 0 to disable. @default 30000 */
  readTimeoutMs?: number;
  /** Largest app-protocol content length. @default 1048576 */
  appMaxContent?: number;
  /** Listen backlog of each listener (capped by net.core.somaxconn). @default 4096 */
  backlog?: number;
  /** Listening sockets per TCP endpoint, sharing its port with SO_REUSEPORT. @default 4 */
  listeners?: number;
  /** Packet-log entries kept. @default 10000 */
  logEntries?: number;
  /** Packet-log preview bytes per entry. @default 64 */
  logPreview?: number;
  /** Closed sockets kept readable. @default 1000 */
  keepClosed?: number;
  /** UDP flows tracked at once. @default 10000 */
  maxFlows?: number;
  /** A UDP flow with no datagram for this long ends. @default 60000 */
  flowIdleMs?: number;
  /** The chat room's limits (message size, history, unsent bytes per participant). */
  chat?: ChatRoomOptions;
  /** The client list's limits (names kept, bytes per name). */
  clientList?: ClientListOptions;
  /** Largest message of the delimited, prefixed and close framings. @default 65536 */
  frameMaxMessage?: number;
  /** Record size and pad of frame-fixed, delimiter of frame-delimited. @default seed 002's 30, "#", "#*#" */
  framing?: Pick<FramingOptions, "recordSize" | "pad" | "delimiter">;
  /** UDP through batched libc calls (FFI, needs --allow-ffi), Deno's socket as the fallback. @default false */
  udpFast?: boolean;
  /** The kernel's socket table; without one, kernel columns are null with a reason. */
  kernel?: KernelSource;
  /** Bytes of full-payload capture kept (the pcapng ring), 0 to disable. @default 67108864 */
  captureBytes?: number;
  /** Directory the capture rotates into as pcapng files; none when unset. */
  captureDir?: string;
  /** Capture files kept in `captureDir`. @default 10 */
  captureFiles?: number;
  /** Size at which a capture file is rotated. @default 16777216 */
  captureFileBytes?: number;
  /** Age at which a capture file is rotated, 0 for never. @default 0 */
  captureFileSeconds?: number;
  /** `json`: one JSON line per connection open, close and error, into `eventSink`. @default "text" */
  logFormat?: "text" | "json";
  /** Where JSON event lines go. @default stdout, batched */
  eventSink?: (line: string) => void;
  /** Spans for connections and app requests; null for none. @default Deno's tracer when OTEL_DENO is set */
  tracer?: TracerLike | null;
  /**
   * The dashboard's `--token`: a secret masked (as `*`) in every copy the
   * service records (packet log, capture, capture files, notes, spans). @default none
   */
  token?: string;
  /**
   * Capture the endpoints' real segments (lib/wire: needs root or CAP_NET_RAW, else off with
   * the reason). Off by default here so in-process services (tests) open no capture;
   * `deno task start` turns it on unless `--no-wire`. @default false
   */
  wire?: boolean;
  /** Bytes kept of each captured frame. @default 256 */
  wireSnaplen?: number;
  /** Size of the wire capture's ring. @default 8388608 */
  wireRing?: number;
  /** Why the wire view is off when `wire` is false. @default "turned off (--no-wire)" */
  wireOffReason?: string;
}

/** The reason the wire view gives when it was not asked for. */
export const WIRE_OFF_REASON = "turned off (--no-wire)";

/** Everything the service hands the endpoint modules as they build their behaviours. */
interface EndpointSetup {
  options: ServiceOptions;
  chat: ChatRoom;
  sink: Sink;
  appLatency: Histogram;
  tracing: ConnTracing | null;
}

/** Filters for {@linkcode Service.sockets}. */
export interface SocketFilter {
  endpoint?: string;
  /** State names (see `SOCKET_STATES` in ./types.ts), matched case-insensitively. */
  states?: string[];
}

/** The running endpoints and their shared observation state. */
export class Service {
  readonly registry: Registry;
  readonly log: PacketLog;
  readonly pool: BufferPool;
  readonly host: string;
  readonly tcp = new Map<string, TcpEndpoint>();
  readonly udp = new Map<string, UdpEndpoint>();
  readonly sink = new Sink();
  /** The chat endpoint's room, which the dashboard reads and posts into. */
  readonly chat: ChatRoom;
  /** The launcher: clients the service runs itself (multiconn load, the sink writer). */
  readonly launcher: Launcher;
  /** The descriptor budget every TCP endpoint and client run counts against. */
  readonly fds = new FdBudget();
  /** Full-payload capture, or null with `captureBytes: 0`. */
  readonly capture: CaptureRing | null;
  /** The capture's rotating files, or null without `captureDir`. */
  readonly captureFiles: CaptureFiles | null;
  /** App-protocol request latency in seconds (frame complete to answer written). */
  readonly appLatency = new Histogram();
  /** Connection and request spans, when OpenTelemetry is on. */
  readonly tracing: ConnTracing | null;
  /** Masks the dashboard's token in everything recorded; null without a token. */
  readonly redactor: Redactor | null;
  /** The real segments of the endpoints; unavailable (with its reason) when off. */
  readonly wire: WireView;
  #lines: LineWriter | null = null;
  #kernel: KernelSource | undefined;
  #kernelStatus: KernelStatus;
  #sweeper: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(options: ServiceOptions = {}) {
    this.host = options.host ?? "127.0.0.1";
    this.registry = new Registry({ keepClosed: options.keepClosed });
    this.log = new PacketLog({ entries: options.logEntries, previewBytes: options.logPreview });
    this.pool = new BufferPool();
    this.#kernel = options.kernel;
    this.#kernelStatus = {
      available: false,
      source: null,
      reason: options.kernel === undefined ? "Kernel view not configured" : "Not sampled yet",
      sampledAt: null,
      tookMs: null,
    };
    const captureBytes = options.captureBytes ?? 64 * 1024 * 1024;
    this.capture = captureBytes === 0 ? null : new CaptureRing({
      bytes: captureBytes,
      udpEndpoints: ENDPOINTS.filter((e) => e.transport === "udp").map((e) => e.name),
      // Large reads are kept in their pooled buffers rather than copied; evicted ones come back.
      release: (buffer) => this.pool.fromCapture(buffer),
    });
    if (options.captureDir !== undefined && this.capture === null) {
      throw new RangeError("Cannot write capture files: the capture is off (captureBytes 0)");
    }
    this.captureFiles = options.captureDir === undefined || this.capture === null
      ? null
      : new CaptureFiles(this.capture, {
        dir: options.captureDir,
        files: options.captureFiles,
        fileBytes: options.captureFileBytes,
        fileSeconds: options.captureFileSeconds,
      });
    const tracer = options.tracer === undefined
      ? (otelRequested() ? otelTracer() : null)
      : options.tracer;
    this.tracing = tracer === null ? null : new ConnTracing(tracer);
    // Cookies ignore ports: the dashboard's cookie reaches every endpoint a browser visits.
    this.redactor = options.token ? new Redactor(options.token) : null;
    this.log.redactor = this.redactor;
    if (this.tracing !== null && this.redactor !== null) {
      const redactor = this.redactor;
      this.tracing.redact = (text) => redactor.text(text);
    }
    let events: EventLog | null = null;
    if (options.logFormat === "json") {
      let sink = options.eventSink;
      if (sink === undefined) {
        this.#lines = new LineWriter();
        sink = this.#lines.write;
      }
      events = new EventLog(sink);
    }
    this.log.tap = composeTaps([this.capture, this.tracing, events]);
    const ctx: ServiceContext = {
      registry: this.registry,
      log: this.log,
      pool: this.pool,
      fds: this.fds,
    };
    this.launcher = new Launcher(ctx);
    this.chat = new ChatRoom(options.chat);
    // What an endpoint module may read as it builds its behaviour; each takes its part.
    const setup: EndpointSetup = {
      options,
      chat: this.chat,
      sink: this.sink,
      appLatency: this.appLatency,
      tracing: this.tracing,
    };
    const tcpOptions = {
      hostname: this.host,
      maxConns: options.maxConns,
      idleTimeoutMs: options.idleTimeoutMs,
      readTimeoutMs: options.readTimeoutMs,
      backlog: options.backlog,
      listeners: options.listeners,
    };
    let binding = "";
    try {
      for (const spec of ENDPOINTS) {
        const stats = this.registry.addEndpoint(
          new EndpointStats(spec.name, spec.transport, spec.description),
        );
        const port = options.ports?.[spec.name] ?? spec.defaultPort;
        binding = `"${spec.name}" on ${
          this.host.includes(":") ? `[${this.host}]` : this.host
        }:${port}`;
        if (spec.transport === "udp") {
          this.udp.set(
            spec.name,
            new UdpEndpoint(stats, ctx, {
              hostname: this.host,
              port,
              maxFlows: options.maxFlows,
              flowIdleMs: options.flowIdleMs,
              fast: options.udpFast,
            }),
          );
          continue;
        }
        const endpoint = new TcpEndpoint(stats, ctx, spec.behaviour(setup), {
          ...tcpOptions,
          port,
        });
        this.tcp.set(spec.name, endpoint);
      }
    } catch (err) {
      // A port in use: release what was bound, then report which one failed (same error class).
      void this.close();
      if (err instanceof Error) err.message = `Cannot listen for ${binding}: ${err.message}`;
      throw err;
    }
    // Opened before the descriptor plan counts what is open: its socket is one of them.
    this.wire = this.#openWire(options);
    // Planned once every listener is bound (they are among the open descriptors) and before
    // any accept continues: the constructor has not yielded since the first listen.
    const listeners = [...this.tcp.values()].reduce((n, e) => n + e.listenerCount, 0);
    const reading = options.fdLimit === undefined
      ? readFdLimit()
      : { limit: options.fdLimit, source: "option" };
    this.fds.set(planFdBudget({
      limit: reading.limit,
      // Without /proc: the runtime's own (about 24 measured) plus every listener and UDP socket.
      open: countOpenFds() ?? 24 + listeners + this.udp.size,
      listeners,
      httpMaxConns: options.httpMaxConns,
      kernel: options.kernel !== undefined,
      captureFiles: this.captureFiles !== null,
      reserve: options.fdReserve,
    }, reading.source));
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
  }

  // After the endpoints bound: their ports (0 resolved) go into the capture's filter.
  #openWire(options: ServiceOptions): WireView {
    const settings = { snaplen: options.wireSnaplen, ringBytes: options.wireRing };
    if (options.wire !== true) {
      return WireView.off(options.wireOffReason ?? WIRE_OFF_REASON, settings);
    }
    let interfaces: { name: string; address: string }[] = [];
    try {
      interfaces = Deno.networkInterfaces();
    } catch {
      // Without --allow-sys only loopback and wildcard hosts resolve; that is the default.
    }
    const iface = interfaceFor(this.host, interfaces);
    if (iface === undefined) {
      return WireView.off(`no network interface holds ${this.host}`, settings);
    }
    const ports = [
      ...[...this.tcp.values()].map((e) => e.port),
      ...[...this.udp.values()].map((e) => e.port),
    ];
    return WireView.open({ ...settings, interface: iface, ports });
  }

  /**
   * The record with the wire's verdict on how it ended: a connection whose RST was seen was
   * reset (by whom), whatever the app read (seed 004's client closes with unread data: the
   * server reads end of stream, then the RST comes).
   */
  #wireVerdict(record: SocketRecord): SocketRecord {
    if (record.closeReason === null || record.transport !== "tcp" || record.remote === null) {
      return record;
    }
    const seen = this.wire.connection({ local: record.local, remote: record.remote });
    if (seen === null || seen.resetBy === "") return record;
    const closeReason = seen.resetBy === "remote"
      ? "reset by peer (RST on the wire)"
      : "reset by us (RST on the wire)";
    return { ...record, closeReason };
  }

  /** Every endpoint's bound address. */
  addresses(): EndpointAddress[] {
    const out: EndpointAddress[] = [];
    for (const e of this.registry.endpoints.values()) {
      if (e.address !== null) {
        out.push({ name: e.name, transport: e.transport, address: e.address });
      }
    }
    return out;
  }

  /** The kernel view's current status (after the last sample). */
  get kernelStatus(): KernelStatus {
    return this.#kernelStatus;
  }

  /**
   * Every live socket joined with the kernel's table, filtered. `kernelMaxAgeMs` asks for
   * kernel rows at most that old, for a view refreshed more often than the table's cache.
   */
  async sockets(
    filter: SocketFilter = {},
    options: { kernelMaxAgeMs?: number } = {},
  ): Promise<SocketRecord[]> {
    // Sample first: the snapshots then come after the await, as fresh as the kernel's rows.
    const kernel = await this.#sampleKernel(options.kernelMaxAgeMs);
    let records = this.registry.snapshots();
    if (kernel !== null) records = joinKernel(records, kernel, this.addresses());
    if (filter.endpoint === undefined && filter.states === undefined) return records;
    return records.filter((r) =>
      (filter.endpoint === undefined || r.endpoint === filter.endpoint) &&
      (filter.states === undefined ||
        filter.states.some((s) => s.toUpperCase() === r.state.toUpperCase()))
    );
  }

  /** One socket, live or recently closed, joined with the kernel where it still has it. */
  async socket(id: string): Promise<SocketRecord | undefined> {
    const live = this.registry.live(id);
    if (live === undefined) {
      const closed = this.registry.get(id);
      if (closed !== undefined) return this.#wireVerdict(closed);
      return (await this.sockets()).find((r) => r.id === id);
    }
    const kernel = await this.#sampleKernel();
    const record = live.snapshot();
    return kernel === null ? record : joinKernel([record], kernel, [])[0];
  }

  /** Closes one live connection (as TCPView can); false if there is no such connection. */
  closeSocket(id: string): boolean {
    for (const conns of [...[...this.tcp.values()].map((e) => e.conns), this.launcher.conns]) {
      for (const conn of conns) {
        if (conn.id === id) {
          conn.close("closed through the API");
          return true;
        }
      }
    }
    return false;
  }

  /** Stops every endpoint and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.launcher.close();
    await Promise.all([
      ...[...this.tcp.values()].map((e) => e.close()),
      ...[...this.udp.values()].map((e) => e.close()),
    ]);
    await this.captureFiles?.close();
    // Unset when a port in use stopped the constructor before the capture opened.
    await (this.wire as WireView | undefined)?.close();
    await this.#lines?.flush();
  }

  async #sampleKernel(maxAgeMs?: number): Promise<KernelSocket[] | null> {
    if (this.#kernel === undefined) return null;
    const ports = this.addresses().map((a) => a.address.port);
    const sample = await this.#kernel.sample({ ports, maxAgeMs });
    if (!sample.ok) {
      this.#kernelStatus = {
        available: false,
        source: null,
        reason: sample.reason,
        sampledAt: sample.at,
        tookMs: null,
      };
      return null;
    }
    this.#kernelStatus = {
      available: true,
      source: sample.source,
      reason: null,
      sampledAt: sample.at,
      tookMs: sample.tookMs,
    };
    return sample.sockets;
  }

  #sweep(): void {
    const now = nowMs();
    for (const e of this.tcp.values()) e.sweepIdle(now);
    for (const e of this.udp.values()) e.sweepIdle(now);
  }
}
