/**
 * The running service: every endpoint of the table started on its port, the
 * shared packet log and buffer pool, the idle sweeper, and the joined socket
 * view the API serves.
 */
import { filterSockets } from "../view/socket_filter.ts";
import { CaptureFiles } from "../capture/capture_files.ts";
import { CAPTURE_RING_DEFAULTS, CaptureRing } from "../capture/capture_ring.ts";
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
import { RawLab } from "./endpoints/raw.ts";
import { interfaceFor } from "../wire/capture.ts";
import { nowMs } from "./observed_conn.ts";
import { EndpointStats, Registry } from "./registry.ts";
import type { ServiceContext } from "./service_context.ts";
import { type EndpointAddress, joinKernel, joinUnix } from "./socket_view.ts";
import { TcpEndpoint } from "./tcp_endpoint.ts";
import { readCertificate, selfSignedCertificate, type TlsCertificate } from "./tls_cert.ts";
import { defaultUnixPath, listenUnix, removeUnixSocket } from "./unix_socket.ts";
import type { KernelSocket, SocketRecord } from "./types.ts";
import type { KernelRows } from "../kernel/kernel_rows.ts";
import { DiagnosisJoin } from "./diagnosis_sockets.ts";
import type { KernelStatus } from "../view/api_types.ts";
import { DiagnosisMonitor, type DiagnosisMonitorOptions } from "../diagnoses/monitor.ts";
import { readNetCounters } from "../kernel/net_counters.ts";
import { Scenarios, type ScenariosOptions } from "../diagnoses/scenarios.ts";
import { timeWaitLimit } from "../diagnoses/rules.ts";
import { type WireCaptureMethod, WireView } from "../wire/wire_view.ts";
import { wireEvidence } from "../diagnoses/wire_evidence.ts";

/** The kernel's socket table as the service consumes it (see lib/kernel). */
export interface KernelSource {
  sample(options?: { ports?: number[]; maxAgeMs?: number; owners?: boolean }): Promise<
    | { ok: true; source: string; at: number; tookMs: number; sockets: KernelSocket[] }
    | { ok: false; reason: string; source: null; at: number }
  >;
  /** The AF_UNIX stream sockets at `paths` and their peers (the Unix endpoint's rows). */
  sampleUnix?(paths: readonly string[], options?: { maxAgeMs?: number }): Promise<
    | { ok: true; sockets: KernelSocket[] }
    | { ok: false; reason: string }
  >;
  /**
   * The TCP and UDP rows into columns, for the diagnoses' tick (lib/kernel/kernel_table.ts
   * `sampleRows`); without it the diagnoses read {@linkcode sample}'s rows.
   */
  sampleRows?(rows: KernelRows, options?: { ports?: number[]; maxAgeMs?: number }): Promise<
    KernelRowsSample
  >;
}

/** The shape of a sample's status, rows or not. */
type KernelRowsSample =
  | { ok: true; source: string; at: number; tookMs: number }
  | { ok: false; reason: string; source: null; at: number };

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
  /**
   * UDP through Deno's socket a datagram at a time even where the batched libc path (FFI) could
   * run. @default false
   */
  udpPlain?: boolean;
  /** PEM certificate file of the TLS endpoint, with `tlsKey`. @default a self-signed one made at start */
  tlsCert?: string;
  /** PEM key file of the TLS endpoint, with `tlsCert`. */
  tlsKey?: string;
  /** Path of the Unix stream endpoint's socket. @default defaultUnixPath() in lib/net/unix_socket.ts */
  unixPath?: string;
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
   * The link-layer labs (the raw lab: an `AF_PACKET` socket for EtherType 0x0801 on the
   * interface `host` is reached on). Off, or without root / CAP_NET_RAW, they are not
   * listening and say why. @default true
   */
  rawLab?: boolean;
  /**
   * The diagnoses' timer and thresholds (lib/diagnoses); `intervalMs: 0` runs no timer.
   * @default every 1000 ms, the thresholds of lib/diagnoses/engine.ts and rules.ts
   */
  diagnoses?: DiagnosisMonitorOptions;
  /** The reproduce scenarios' hold time and limits (lib/diagnoses/scenarios.ts). */
  scenarios?: ScenariosOptions;
  /**
   * The dashboard's `--token`: a secret masked (as `*`) in every copy the
   * service records (packet log, capture, capture files, notes, spans). @default none
   */
  token?: string;
  /**
   * Capture the endpoints' real segments (lib/wire: needs root, CAP_BPF with CAP_NET_ADMIN, or
   * CAP_NET_RAW, else off with the reason). Off by default here so in-process services (tests)
   * open no capture; `deno task start` turns it on unless `--no-wire`. @default false
   */
  wire?: boolean;
  /** Bytes kept of each captured frame. @default 256 */
  wireSnaplen?: number;
  /** Size of the wire capture's ring. @default 8388608 */
  wireRing?: number;
  /** How the wire view takes frames (see `WireViewOptions.capture`). @default "auto" */
  wireCapture?: WireCaptureMethod;
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

/**
 * The machine's interfaces where --allow-sys grants them (asked first, so Deno does not prompt
 * on a terminal); none otherwise: loopback and wildcard hosts are told apart without them, which
 * is enough for the default 127.0.0.1.
 */
function hostInterfaces(): { name: string; address: string }[] {
  const state = Deno.permissions.querySync?.({ name: "sys", kind: "networkInterfaces" }).state;
  return state === "granted" ? Deno.networkInterfaces() : [];
}

/** The interface a link-layer lab receives on: the one `host` is reached on, else `lo`. */
function linkInterface(host: string): string {
  return interfaceFor(host, hostInterfaces()) ?? "lo";
}

/** The running endpoints and their shared observation state. */
export class Service {
  readonly registry: Registry;
  readonly log: PacketLog;
  readonly pool: BufferPool;
  readonly host: string;
  readonly tcp = new Map<string, TcpEndpoint>();
  readonly udp = new Map<string, UdpEndpoint>();
  /** The link-layer labs by name (the raw lab), listening or saying why not. */
  readonly link = new Map<string, RawLab>();
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
  /** The TLS endpoint's certificate, or null when it could not be made (see `unavailable`). */
  tls: TlsCertificate | null = null;
  /** Endpoints that could not start, and why (tls-echo without openssl nor --tls-cert). */
  readonly unavailable = new Map<string, string>();
  /** The Unix endpoint's socket path. */
  readonly unixPath: string;
  /** Masks the dashboard's token in everything recorded; null without a token. */
  readonly redactor: Redactor | null;
  /** The diagnoses of the service's sockets, sampled on a timer (lib/diagnoses). */
  readonly diagnoses: DiagnosisMonitor;
  /** The scenarios that reproduce each diagnosis against the service itself. */
  readonly scenarios: Scenarios;
  /** The real segments of the endpoints; unavailable (with its reason) when off. */
  readonly wire: WireView;
  #lines: LineWriter | null = null;
  #kernel: KernelSource | undefined;
  #diagnosisJoin: DiagnosisJoin | undefined;
  #kernelStatus: KernelStatus;
  #sweeper: ReturnType<typeof setInterval>;
  /** Which accepted AF_UNIX socket (inode) each Unix connection is, learnt by joinUnix. */
  #unixInodes = new Map<string, number>();
  #closed = false;

  constructor(options: ServiceOptions = {}) {
    // Bad input is refused before any port is bound.
    if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
      throw new TypeError("Cannot start TLS: --tls-cert and --tls-key go together");
    }
    this.host = options.host ?? "127.0.0.1";
    this.unixPath = options.unixPath ?? defaultUnixPath();
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
    const captureBytes = options.captureBytes ?? CAPTURE_RING_DEFAULTS.bytes;
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
    const closedWithVerdict = () =>
      // Seed 004's client: the app read end of stream, the wire saw the RST that followed.
      this.registry.closed().map((r) => this.wire === undefined ? r : this.#wireVerdict(r));
    const kernelStatus = () => this.kernelStatus;
    this.diagnoses = new DiagnosisMonitor({
      sockets: (options) => this.sockets(options),
      diagnosisSample: (options) => this.diagnosisSample(options),
      registry: { closed: closedWithVerdict },
      get kernelStatus() {
        return kernelStatus();
      },
    }, {
      readCounters: () => readNetCounters(),
      ...options.diagnoses,
    });
    this.scenarios = new Scenarios({
      address: (name) => this.registry.endpoints.get(name)?.address ?? undefined,
      fault: (name) => this.tcp.get(name)!.faults.fault,
      setFault: (name, fault) => this.tcp.get(name)!.setFault(fault),
      sockets: async (filter) => [...filterSockets(await this.sockets(), filter)],
      timeWaitLimit: () => timeWaitLimit(this.diagnoses.portRange, this.diagnoses.thresholds),
    }, options.scenarios);
    if (events !== null) {
      const log = events;
      this.diagnoses.subscribe((change) => log.diagnosis(change));
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
        if (spec.transport === "link") {
          const lab = new RawLab(stats, this.log, {
            interface: linkInterface(this.host),
            etherType: spec.etherType,
          });
          this.link.set(spec.name, lab);
          if (options.rawLab === false) stats.reason = "off (rawLab: false)";
          else lab.start();
          continue;
        }
        const port = options.ports?.[spec.name] ?? spec.defaultPort;
        binding = spec.transport === "unix"
          ? `"${spec.name}" at "${this.unixPath}"`
          : `"${spec.name}" on ${this.host.includes(":") ? `[${this.host}]` : this.host}:${port}`;
        if (spec.transport === "udp") {
          this.udp.set(
            spec.name,
            new UdpEndpoint(stats, ctx, {
              hostname: this.host,
              port,
              maxFlows: options.maxFlows,
              flowIdleMs: options.flowIdleMs,
              fast: !options.udpPlain,
            }),
          );
          continue;
        }
        let bind: (() => Deno.Listener[]) | undefined = undefined;
        let unbind: (() => void) | undefined = undefined;
        if (spec.transport === "unix") {
          const path = this.unixPath;
          bind = () => [listenUnix(path)];
          unbind = () => removeUnixSocket(path);
        } else if ("tls" in spec && spec.tls) {
          const cert = this.#certificate(options);
          if (cert === null) continue;
          // One listener: Deno.listenTls takes no SO_REUSEPORT; handshakes run per connection.
          bind = () => [
            Deno.listenTls({
              hostname: this.host,
              port,
              cert: cert.certPem,
              key: cert.keyPem,
              transport: "tcp",
            }),
          ];
        }
        const endpoint = new TcpEndpoint(stats, ctx, spec.behaviour(setup), {
          ...tcpOptions,
          port,
          bind,
          unbind,
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
    // The diagnoses read the wire by the socket row's 4-tuple (live or recently closed: a
    // reset's RST comes after the close); off, they keep saying which evidence they lack.
    if (this.wire.available) {
      this.diagnoses.wire = wireEvidence(this.wire, (id) => {
        const r = this.registry.get(id);
        return r === undefined || r.transport !== "tcp" || r.remote === null
          ? null
          : { local: r.local, remote: r.remote };
      });
    }
    // Planned once every listener is bound (they are among the open descriptors) and before
    // any accept continues: the constructor has not yielded since the first listen.
    const listeners = [...this.tcp.values()].reduce((n, e) => n + e.listenerCount, 0);
    const reading = options.fdLimit === undefined
      ? readFdLimit()
      : { limit: options.fdLimit, source: "option" };
    this.fds.set(planFdBudget({
      limit: reading.limit,
      // Without /proc: the runtime's own (about 24 measured) plus every listener and UDP socket.
      open: countOpenFds() ?? 24 + listeners + this.udp.size + this.link.size,
      listeners,
      httpMaxConns: options.httpMaxConns,
      kernel: options.kernel !== undefined,
      captureFiles: this.captureFiles !== null,
      reserve: options.fdReserve,
    }, reading.source));
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
    this.#sweeper.unref();
    this.diagnoses.start();
  }

  // After the endpoints bound: their ports (0 resolved) go into the capture's filter.
  #openWire(options: ServiceOptions): WireView {
    const settings = {
      snaplen: options.wireSnaplen,
      ringBytes: options.wireRing,
      capture: options.wireCapture,
    };
    if (options.wire !== true) {
      return WireView.off(options.wireOffReason ?? WIRE_OFF_REASON, settings);
    }
    const iface = interfaceFor(this.host, hostInterfaces());
    if (iface === undefined) {
      return WireView.off(`no network interface holds ${this.host}`, settings);
    }
    // A Unix endpoint has no port (0): its bytes never reach an interface.
    const ports = [
      ...[...this.tcp.values()].map((e) => e.port),
      ...[...this.udp.values()].map((e) => e.port),
    ].filter((port) => port > 0);
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
      if (e.address !== null && e.transport !== "link") {
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
   * Every live socket joined with the kernel's table (narrow it with
   * lib/view/socket_filter.ts). `kernelMaxAgeMs` asks for kernel rows at most
   * that old, for a view refreshed more often than the table's cache; `owners: false` skips
   * finding each row's process (the diagnoses never show it).
   */
  async sockets(
    options: { kernelMaxAgeMs?: number; owners?: boolean } = {},
  ): Promise<SocketRecord[]> {
    // Sample first: the snapshots then come after the await, as fresh as the kernel's rows.
    const kernel = await this.#sampleKernel(options.kernelMaxAgeMs, options.owners);
    const unix = await this.#sampleUnix(options.kernelMaxAgeMs);
    let records = this.registry.snapshots();
    if (kernel !== null) {
      records = joinKernel(records, kernel, this.addresses().filter((a) => a.transport !== "unix"));
    }
    if (unix !== null) this.#joinUnix(records, unix);
    this.#markDiagnoses(records);
    return records;
  }

  /**
   * The live sockets as the diagnoses read them each tick ({@linkcode DiagnosisJoin}): the same
   * join as {@linkcode sockets}, without an object per kernel row or per connection; the
   * peers' rows and our leftovers only counted where in TIME_WAIT. Read its `sockets` before
   * the next call. Without a kernel view, the snapshots alone.
   */
  async diagnosisSample(
    options: { kernelMaxAgeMs?: number } = {},
  ): Promise<{ sockets: Iterable<SocketRecord>; timeWait: Map<string, number> }> {
    const kernel = this.#kernel;
    if (kernel?.sampleRows === undefined) {
      return { sockets: await this.sockets({ ...options, owners: false }), timeWait: new Map() };
    }
    const join = this.#diagnosisJoin ??= new DiagnosisJoin();
    const addresses = this.addresses().filter((a) => a.transport !== "unix");
    const sample = await kernel.sampleRows(join.rows, {
      ports: addresses.map((a) => a.address.port),
      maxAgeMs: options.kernelMaxAgeMs,
    });
    this.#setKernelStatus(sample);
    const unix = await this.#sampleUnix(options.kernelMaxAgeMs);
    if (!sample.ok) join.rows.clear();
    const joined = join.join(this.registry, addresses);
    if (unix !== null) this.#joinUnix(joined.others, unix);
    return joined;
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
    const joined = kernel === null ? record : joinKernel([record], kernel, [])[0];
    this.#markDiagnoses([joined]);
    return joined;
  }

  /** Sets `diagnoses` (the kinds active) on the records that have any. */
  #markDiagnoses(records: SocketRecord[]): void {
    const kinds = this.diagnoses.engine.kindsBySocket();
    if (kinds.size === 0) return;
    for (const r of records) {
      const list = kinds.get(r.id);
      if (list !== undefined) r.diagnoses = list;
    }
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
    this.diagnoses?.stop();
    await this.scenarios?.close();
    this.launcher.close();
    await Promise.all([
      ...[...this.tcp.values()].map((e) => e.close()),
      ...[...this.udp.values()].map((e) => e.close()),
      ...[...this.link.values()].map((e) => e.close()),
    ]);
    await this.captureFiles?.close();
    // Unset when a port in use stopped the constructor before the capture opened.
    await (this.wire as WireView | undefined)?.close();
    await this.#lines?.flush();
  }

  /**
   * The TLS endpoint's certificate: the files given, else one made now with openssl. Files
   * that cannot be read stop the service (the user asked for them); a missing openssl leaves
   * only tls-echo unstarted, with the reason in `unavailable`.
   */
  #certificate(options: ServiceOptions): TlsCertificate | null {
    if (this.tls !== null) return this.tls;
    if (options.tlsCert !== undefined) {
      return this.tls = readCertificate(options.tlsCert, options.tlsKey!);
    }
    try {
      return this.tls = selfSignedCertificate({
        // The bound address too, when it is one a client can name (not a wildcard).
        hosts: [
          ...new Set(["localhost", "127.0.0.1", "::1", this.host]),
        ].filter((h) => h !== "0.0.0.0" && h !== "::"),
      });
    } catch (err) {
      const why = err instanceof Deno.errors.NotFound
        ? "openssl not found to make a certificate; pass --tls-cert and --tls-key"
        : err instanceof Error
        ? err.message
        : String(err);
      for (const spec of ENDPOINTS) {
        if ("tls" in spec && spec.tls) this.unavailable.set(spec.name, why);
      }
      return null;
    }
  }

  async #sampleKernel(maxAgeMs?: number, owners?: boolean): Promise<KernelSocket[] | null> {
    if (this.#kernel === undefined) return null;
    // A Unix socket has no port; its rows come from the AF_UNIX dump, by path.
    const ports = this.addresses().filter((a) => a.transport !== "unix").map((a) => a.address.port);
    const sample = await this.#kernel.sample({ ports, maxAgeMs, owners });
    this.#setKernelStatus(sample);
    return sample.ok ? sample.sockets : null;
  }

  /** The kernel status after a sample of the TCP and UDP rows. */
  #setKernelStatus(sample: KernelRowsSample): void {
    if (!sample.ok) {
      this.#kernelStatus = {
        available: false,
        source: null,
        reason: sample.reason,
        sampledAt: sample.at,
        tookMs: null,
        // The Unix rows' status is set by #sampleUnix, after this.
        ...(this.#kernelStatus.unix === undefined ? {} : { unix: this.#kernelStatus.unix }),
      };
      return;
    }
    this.#kernelStatus = {
      available: true,
      source: sample.source,
      reason: null,
      sampledAt: sample.at,
      tookMs: sample.tookMs,
      // The Unix rows' status is set by #sampleUnix, after this.
      ...(this.#kernelStatus.unix === undefined ? {} : { unix: this.#kernelStatus.unix }),
    };
  }

  /** The Unix endpoints' kernel rows, or null (the reason goes into the kernel status). */
  async #sampleUnix(maxAgeMs?: number): Promise<KernelSocket[] | null> {
    const names = ENDPOINTS.filter((e) => e.transport === "unix" && this.tcp.has(e.name));
    if (this.#kernel === undefined || names.length === 0) return null;
    if (this.#kernel.sampleUnix === undefined) {
      this.#kernelStatus.unix = {
        available: false,
        reason: "Unix rows unavailable: the kernel source reads no AF_UNIX table",
      };
      return null;
    }
    const sample = await this.#kernel.sampleUnix([this.unixPath], { maxAgeMs });
    if (!sample.ok) {
      this.#kernelStatus.unix = { available: false, reason: sample.reason };
      return null;
    }
    this.#kernelStatus.unix = { available: true, reason: null };
    return sample.sockets;
  }

  #joinUnix(records: SocketRecord[], kernel: readonly KernelSocket[]): void {
    for (const spec of ENDPOINTS) {
      if (spec.transport !== "unix" || !this.tcp.has(spec.name)) continue;
      const { unmatched } = joinUnix(
        records,
        kernel,
        { name: spec.name, path: this.unixPath },
        this.#unixInodes,
      );
      this.#kernelStatus.unix = {
        available: true,
        reason: unmatched === 0 ? null : `${unmatched} Unix connection(s) without kernel ` +
          "columns: opened together between two samples, their inodes cannot be told apart",
      };
    }
  }

  #sweep(): void {
    const now = nowMs();
    for (const e of this.tcp.values()) e.sweepIdle(now);
    for (const e of this.udp.values()) e.sweepIdle(now);
  }
}
