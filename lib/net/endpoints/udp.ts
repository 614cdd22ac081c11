/**
 * The UDP echo endpoint (seed 004): each datagram goes back to its sender.
 * Datagrams are grouped into per-peer flows, which carry the counters a TCP
 * connection would, and expire after a quiet period.
 */
import type { PacketSource } from "../../capture/packet_log.ts";
import { errorKind, nowMs } from "../observed_conn.ts";
import type { EndpointStats, Observed } from "../registry.ts";
import type { ServiceContext } from "../service_context.ts";
import type { Address, SocketRecord } from "../types.ts";

/** Where the UDP endpoint binds and how many peers it tracks. */
export interface UdpEndpointOptions {
  hostname: string;
  port: number;
  /** Peers tracked as flows at once; datagrams from more are echoed but not tracked per peer. @default 10000 */
  maxFlows?: number;
  /** A flow with no datagram for this long is closed. @default 60000 */
  flowIdleMs?: number;
}

let nextFlowId = 1;

/** One peer's datagrams on the UDP endpoint. */
class UdpFlow implements Observed, PacketSource {
  readonly id = `u${nextFlowId++}`;
  readonly endpoint: string;
  readonly local: Address;
  readonly remote: Address;
  readonly openedAt = nowMs();
  lastActivity = this.openedAt;
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;
  closedAt: number | null = null;

  constructor(endpoint: string, local: Address, remote: Address) {
    this.endpoint = endpoint;
    this.local = local;
    this.remote = remote;
  }

  snapshot(): SocketRecord {
    return {
      id: this.id,
      endpoint: this.endpoint,
      transport: "udp",
      kind: "flow",
      ours: true,
      kernelOnly: false,
      role: "server",
      state: this.closedAt === null ? "FLOW" : "CLOSED",
      local: this.local,
      remote: this.remote,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      app: { rxBuffered: 0, txBuffered: 0 },
      kernel: null,
      openedAt: this.openedAt,
      closedAt: this.closedAt,
      closeReason: this.closedAt === null ? null : "idle",
      lastActivity: this.lastActivity,
    };
  }
}

/** The UDP socket, its receive loop and its flows. */
export class UdpEndpoint implements Observed, PacketSource {
  readonly id: string;
  readonly endpoint: string;
  readonly stats: EndpointStats;
  readonly flows = new Map<string, UdpFlow>();
  #ctx: ServiceContext;
  #socket: Deno.DatagramConn;
  #maxFlows: number;
  #flowIdleMs: number;
  #closed = false;
  #loop: Promise<void>;

  constructor(stats: EndpointStats, ctx: ServiceContext, options: UdpEndpointOptions) {
    this.stats = stats;
    this.endpoint = stats.name;
    this.id = `s-${stats.name}`;
    this.#ctx = ctx;
    this.#maxFlows = options.maxFlows ?? 10_000;
    this.#flowIdleMs = options.flowIdleMs ?? 60_000;
    this.#socket = Deno.listenDatagram({
      transport: "udp",
      hostname: options.hostname,
      port: options.port,
    });
    const addr = this.#socket.addr as Deno.NetAddr;
    stats.address = { hostname: addr.hostname, port: addr.port };
    stats.listening = true;
    ctx.registry.add(this);
    this.#loop = this.#receiveLoop();
  }

  /** The port the socket is bound to. */
  get port(): number {
    return this.stats.address!.port;
  }

  /** Ends flows quiet for longer than the flow timeout (every flow with `all`); returns how many. */
  sweepIdle(now: number, all = false): number {
    let n = 0;
    for (const [key, flow] of this.flows) {
      if (all || now - flow.lastActivity > this.#flowIdleMs) {
        flow.closedAt = now;
        this.flows.delete(key);
        this.stats.live--;
        this.stats.closed++;
        this.#ctx.registry.remove(flow);
        n++;
      }
    }
    return n;
  }

  /** Closes the socket and ends every flow. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stats.listening = false;
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
    this.sweepIdle(nowMs(), true);
    this.#ctx.registry.remove(this);
  }

  /** The UNCONN row of the UDP socket itself, with the endpoint's totals. */
  snapshot(): SocketRecord {
    const s = this.stats;
    return {
      id: this.id,
      endpoint: this.endpoint,
      transport: "udp",
      kind: "udp",
      ours: true,
      kernelOnly: false,
      state: this.#closed ? "CLOSED" : "UNCONN",
      local: s.address!,
      remote: null,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      messagesIn: s.messagesIn,
      messagesOut: s.messagesOut,
      app: { rxBuffered: 0, txBuffered: 0 },
      kernel: null,
      openedAt: null,
      closedAt: null,
      closeReason: null,
      lastActivity: null,
    };
  }

  #flowFor(addr: Deno.NetAddr): UdpFlow | null {
    const key = `${addr.hostname}:${addr.port}`;
    let flow = this.flows.get(key);
    if (flow !== undefined) return flow;
    if (this.flows.size >= this.#maxFlows) {
      this.stats.hit("max-flows");
      return null;
    }
    flow = new UdpFlow(this.endpoint, this.stats.address!, {
      hostname: addr.hostname,
      port: addr.port,
    });
    this.flows.set(key, flow);
    this.stats.accepted++;
    this.stats.live++;
    this.#ctx.registry.add(flow);
    return flow;
  }

  async #receiveLoop(): Promise<void> {
    // One buffer for the socket's lifetime: receive() without one allocates 64 KiB per datagram.
    const buf = new Uint8Array(65_536);
    const log = this.#ctx.log;
    const s = this.stats;
    while (!this.#closed) {
      let data: Uint8Array;
      let addr: Deno.NetAddr;
      try {
        const [d, a] = await this.#socket.receive(buf);
        data = d;
        addr = a as Deno.NetAddr;
      } catch (err) {
        if (this.#closed) return;
        this.#countError(err);
        continue;
      }
      const ts = nowMs();
      const flow = this.#flowFor(addr);
      const src: PacketSource = flow ?? this;
      s.bytesIn += data.length;
      s.messagesIn++;
      if (flow !== null) {
        flow.lastActivity = ts;
        flow.bytesIn += data.length;
        flow.messagesIn++;
      }
      log.record(src, "in", data, ts);
      try {
        await this.#socket.send(data, addr);
      } catch (err) {
        if (this.#closed) return;
        this.#countError(err);
        continue;
      }
      s.bytesOut += data.length;
      s.messagesOut++;
      if (flow !== null) {
        flow.bytesOut += data.length;
        flow.messagesOut++;
      }
      log.record(src, "out", data, nowMs());
    }
  }

  #countError(err: unknown): void {
    const kind = errorKind(err) ?? "error";
    this.stats.errors[kind] = (this.stats.errors[kind] ?? 0) + 1;
  }
}
