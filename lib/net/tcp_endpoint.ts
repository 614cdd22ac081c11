/**
 * A TCP endpoint: listeners whose accept loops never wait on per-connection
 * work, a per-endpoint connection limit, and the LISTEN row of the table.
 * TLS and Unix stream endpoints run here too, on the listeners their `bind` makes.
 */
import type { Fault } from "../view/fault.ts";
import { FaultConn, FaultSwitch } from "./faults.ts";
import { fdExhaustion } from "./fd_budget.ts";
import { type ConnHandler, errorKind, type ObservedConn } from "./observed_conn.ts";
import type { EndpointStats, Observed } from "./registry.ts";
import type { ServiceContext } from "./service_context.ts";
import type { SocketRecord } from "./types.ts";

/** Defaults of {@linkcode TcpEndpointOptions}, declared once: `main.ts`'s flags show them. */
export const TCP_ENDPOINT_DEFAULTS = {
  backlog: 4096,
  listeners: 4,
  maxConns: 10_000,
  idleTimeoutMs: 300_000,
  readTimeoutMs: 30_000,
} as const;

/** Where and how a TCP endpoint listens. */
export interface TcpEndpointOptions {
  hostname: string;
  port: number;
  /** Listen backlog of each listener; the kernel caps it at net.core.somaxconn. @default 4096 */
  backlog?: number;
  /**
   * Listening sockets sharing the port (SO_REUSEPORT, Linux): the kernel spreads new
   * connections over their accept queues, so a burst of up to `listeners × backlog` connects
   * waits for no SYN retry even when the accept loop falls behind for a moment. 1 listens
   * once, without SO_REUSEPORT. @default 4
   */
  listeners?: number;
  /**
   * Live connections allowed; more are accepted and closed at once, and counted. The service's
   * descriptor budget (shared by every endpoint) may refuse sooner. @default 10000
   */
  maxConns?: number;
  /** Disable Nagle on accepted sockets (request/response latency). @default true */
  noDelay?: boolean;
  /** Close connections with no traffic for this long; 0 disables. @default 300000 */
  idleTimeoutMs?: number;
  /**
   * Close connections that hold a started message (`partialSince`) this long,
   * however slowly its bytes trickle in; 0 disables. @default 30000
   */
  readTimeoutMs?: number;
  /**
   * Makes the listening sockets instead of plain TCP on `hostname:port`: `Deno.listenTls`
   * for TLS, a Unix socket at a path. Every accepted `Deno.Conn` is then observed the same.
   * @default SO_REUSEPORT TCP listeners (see `listeners`)
   */
  bind?: () => Deno.Listener[];
  /** Called once the listeners closed (a Unix endpoint removes its socket file). */
  unbind?: () => void;
}

/** What the endpoint does with each accepted connection. */
export interface TcpBehaviour {
  handler: ConnHandler;
  /** Whether a new connection starts with its serve loop held (the sink). @default false */
  startPaused?(): boolean;
  /**
   * Bytes an idle connection reads into; a read that fills it moves the
   * connection to a large buffer. @default the pool's small size (64)
   */
  readSlot?: number;
  /** Called once a connection is accepted and served (chargen starts writing here). */
  opened?(conn: ObservedConn): void;
  /** Called once a connection closed, however it closed (rooms forget their members here). */
  closed?(conn: ObservedConn): void;
  /** Called once with the endpoint it serves (the sink pauses and resumes all its connections). */
  attach?(endpoint: TcpEndpoint): void;
}

/** A listening TCP endpoint and its live connections. */
export class TcpEndpoint implements Observed {
  readonly id: string;
  readonly endpoint: string;
  readonly stats: EndpointStats;
  readonly conns = new Set<ObservedConn>();
  /** The fault in force on this endpoint and the wrappers that apply it. */
  readonly faults: FaultSwitch;
  #ctx: ServiceContext;
  #behaviour: TcpBehaviour;
  #handler: ConnHandler;
  /** Connections in-flight accepts took after pause-accept was set, held until it clears. */
  #held = new Set<Deno.Conn>();
  #listeners: Deno.Listener[];
  #unbind: (() => void) | undefined;
  #maxConns: number;
  #noDelay: boolean;
  #idleTimeoutMs: number;
  #readTimeoutMs: number;
  #backlog: number;
  #closed = false;
  #loops: Promise<void>[];
  #connCtx;

  constructor(
    stats: EndpointStats,
    ctx: ServiceContext,
    behaviour: TcpBehaviour,
    options: TcpEndpointOptions,
  ) {
    this.stats = stats;
    this.endpoint = stats.name;
    this.id = `l-${stats.name}`;
    this.#ctx = ctx;
    this.#behaviour = behaviour;
    this.faults = new FaultSwitch(stats);
    this.#handler = this.faults.wrap(behaviour.handler);
    this.#maxConns = options.maxConns ?? TCP_ENDPOINT_DEFAULTS.maxConns;
    this.#noDelay = options.noDelay ?? true;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? TCP_ENDPOINT_DEFAULTS.idleTimeoutMs;
    this.#readTimeoutMs = options.readTimeoutMs ?? TCP_ENDPOINT_DEFAULTS.readTimeoutMs;
    this.#backlog = options.backlog ?? TCP_ENDPOINT_DEFAULTS.backlog;
    this.#listeners = options.bind?.() ??
      listenAll(options.hostname, options.port, this.#backlog, options.listeners);
    this.#unbind = options.unbind;
    const addr = this.#listeners[0].addr;
    // A Unix socket's address is its path, held as the host with port 0 (as `ss -x` shows it).
    stats.address = addr.transport === "unix" || addr.transport === "unixpacket"
      ? { hostname: addr.path, port: 0 }
      : { hostname: (addr as Deno.NetAddr).hostname, port: (addr as Deno.NetAddr).port };
    stats.listening = true;
    this.#connCtx = {
      endpoint: stats.name,
      transport: stats.transport === "unix" ? "unix" as const : "tcp" as const,
      log: ctx.log,
      pool: ctx.pool,
      readSlot: behaviour.readSlot,
      counters: stats,
      onClose: (conn: ObservedConn) => {
        this.conns.delete(conn);
        ctx.fds?.release();
        stats.live--;
        stats.closed++;
        ctx.registry.remove(conn);
        behaviour.closed?.(conn);
      },
    };
    ctx.registry.add(this);
    behaviour.attach?.(this);
    this.#loops = this.#listeners.map((listener) => this.#acceptLoop(listener));
  }

  /** How many sockets listen on the port (see {@linkcode TcpEndpointOptions.listeners}). */
  get listenerCount(): number {
    return this.#listeners.length;
  }

  /** The port the listener is bound to; 0 for a Unix socket or before it is bound. */
  get port(): number {
    return this.stats.address?.port ?? 0;
  }

  /** Switches the endpoint's fault; `{mode: "none"}` restores normal behaviour. */
  setFault(fault: Fault): void {
    this.faults.set(fault, this.conns, !this.#behaviour.startPaused?.());
  }

  /**
   * Closes connections idle longer than the idle timeout, or holding a message
   * started longer ago than the read timeout; returns how many.
   */
  sweepIdle(now: number): number {
    const idle = this.#idleTimeoutMs;
    const read = this.#readTimeoutMs;
    if (idle <= 0 && read <= 0) return 0;
    let n = 0;
    for (const conn of this.conns) {
      // Held connections (the sink) count as idle too, so peers that left do not pile up.
      if (idle > 0 && now - conn.lastActivity > idle) {
        this.stats.hit("idle-timeout");
        conn.close("idle timeout");
        n++;
      } else if (
        // A byte now and then keeps a connection from going idle, not a message from expiring;
        // spared while we hold its reads or writes (sink, stall, delay): then we are the slow one.
        read > 0 && conn.partialSince !== null && now - conn.partialSince > read &&
        !conn.paused && conn.txBuffered === 0
      ) {
        this.stats.hit("read-timeout");
        conn.close("read timeout");
        n++;
      }
    }
    return n;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stats.listening = false;
    for (const listener of this.#listeners) {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
    }
    this.faults.dispose();
    for (const held of this.#held) {
      try {
        held.close();
      } catch {
        // The peer closed it first.
      }
    }
    this.#held.clear();
    for (const conn of [...this.conns]) conn.close("service stopping");
    await Promise.all(this.#loops);
    this.#unbind?.();
    this.#ctx.registry.remove(this);
  }

  /** The LISTEN row: the kernel fills in the accept queue and backlog when it can. */
  snapshot(): SocketRecord {
    return {
      id: this.id,
      endpoint: this.endpoint,
      transport: this.stats.transport === "unix" ? "unix" : "tcp",
      kind: "listener",
      ours: true,
      kernelOnly: false,
      state: this.#closed ? "CLOSED" : "LISTEN",
      local: this.stats.address!,
      remote: null,
      bytesIn: 0,
      bytesOut: 0,
      messagesIn: 0,
      messagesOut: 0,
      app: null,
      kernel: null,
      openedAt: null,
      closedAt: null,
      closeReason: null,
      lastActivity: null,
    };
  }

  #track(conn: ObservedConn): void {
    this.stats.accepted++;
    this.stats.live++;
    this.conns.add(conn);
    this.#ctx.registry.add(conn);
  }

  async #acceptLoop(listener: Deno.Listener): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      const paused = this.faults.acceptGate();
      if (paused !== null) {
        await paused;
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
        failures = 0;
      } catch (err) {
        if (this.#closed || err instanceof Deno.errors.BadResource) return;
        const exhausted = fdExhaustion(err);
        if (exhausted !== null && this.#ctx.fds !== undefined) this.#ctx.fds.exhausted++;
        const kind = `accept-${exhausted ?? errorKind(err) ?? "error"}`;
        this.stats.errors[kind] = (this.stats.errors[kind] ?? 0) + 1;
        // Out of descriptors (EMFILE, ENFILE) and similar: the connection waits in the kernel's
        // queue; back off a little, boundedly, then try again, until descriptors come back.
        failures = Math.min(failures + 1, 10);
        await new Promise((resolve) => setTimeout(resolve, 10 * failures));
        continue;
      }
      const gate = this.faults.acceptGate();
      if (gate !== null) {
        // pause-accept arrived while accept() was waiting: hold what it took, accept nothing more.
        this.#held.add(conn);
        await gate;
        this.#held.delete(conn);
        if (this.#closed) {
          try {
            conn.close();
          } catch {
            // Closed by close() already.
          }
          return;
        }
      }
      if (this.stats.live >= this.#maxConns) {
        this.stats.refused++;
        this.stats.hit("max-conns");
        try {
          conn.close();
        } catch {
          // Nothing to release.
        }
        continue;
      }
      if (this.#ctx.fds?.acquire() === false) {
        // The descriptor budget is spent (all endpoints and client runs together): refuse it
        // like one over max-conns, so the dashboard and the rest keep their descriptors.
        this.stats.refused++;
        this.stats.hit("fd-budget");
        try {
          conn.close();
        } catch {
          // Nothing to release.
        }
        continue;
      }
      // TLS and Unix connections have no setNoDelay (Deno sets TCP_NODELAY under TLS itself).
      if (this.#noDelay && "setNoDelay" in conn) {
        try {
          (conn as Deno.TcpConn).setNoDelay(true);
        } catch {
          // The peer may already be gone; the read will tell.
        }
      }
      const observed = new FaultConn(conn, this.#connCtx, this.faults);
      this.#track(observed);
      this.faults.start(observed, this.#handler, this.#behaviour.startPaused?.() ?? false);
      this.#behaviour.opened?.(observed);
    }
  }
}

/**
 * Binds `count` listeners to one address. With more than one, each sets SO_REUSEPORT, which
 * would also let a second copy of the service bind the same fixed port and silently share its
 * connections: a plain bind first makes a port in use fail as it would with one listener.
 * Where SO_REUSEPORT is unavailable, one listener is all there is.
 */
export function listenAll(
  hostname: string,
  port: number,
  backlog: number,
  count: number = TCP_ENDPOINT_DEFAULTS.listeners,
): Deno.TcpListener[] {
  const listen = (at: number, reusePort: boolean) =>
    Deno.listen(
      {
        hostname,
        port: at,
        transport: "tcp",
        tcpBacklog: backlog,
        reusePort,
      } as Deno.TcpListenOptions & { reusePort: boolean },
    );
  if (!(Number.isInteger(count) && count >= 1 && count <= 64)) {
    throw new RangeError(`Cannot listen: listeners "${count}" is not in 1-64`);
  }
  // Port 0: the port the probe got may go to another socket (a connect's ephemeral port, another
  // process's bind) between its close and the listeners' binds; a fresh probe picks another.
  for (let attempt = 1;; attempt++) {
    const probe = listen(port, false);
    if (count === 1 || Deno.build.os !== "linux") return [probe];
    const bound = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const listeners: Deno.TcpListener[] = [];
    try {
      for (let i = 0; i < count; i++) listeners.push(listen(bound, true));
      return listeners;
    } catch (error) {
      for (const l of listeners) l.close();
      // The port went to someone else between the probe and the bind.
      if (port !== 0 || !(error instanceof Deno.errors.AddrInUse) || attempt >= 5) throw error;
    }
  }
}
