/**
 * The UDP echo endpoint (seed 004): each datagram goes back to its sender.
 * Datagrams are grouped into per-peer flows, which carry the counters a TCP
 * connection would, and expire after a quiet period. While a fault is in
 * force, each reply goes through the endpoint's {@linkcode UdpFaultSwitch}.
 */
import type { PacketSource } from "../../capture/packet_log.ts";
import { defineUdpEndpoint } from "../endpoint_spec.ts";
import { clockMs, errorKind, nowMs } from "../observed_conn.ts";
import { decodeSockaddr, type MmsgSocket, openMmsgSocket } from "../udp_mmsg.ts";
import type { EndpointStats, Observed } from "../registry.ts";
import { UdpFaultSwitch } from "../udp_faults.ts";
import type { ServiceContext } from "../service_context.ts";
import type { Address, SocketRecord } from "../types.ts";

/** The UDP echo endpoint; the service runs it as a {@linkcode UdpEndpoint}. */
export const udp = defineUdpEndpoint({
  name: "udp",
  transport: "udp",
  defaultPort: 65435,
  description: "Echoes each datagram to its sender; per-peer flows",
  tryIt: ["nc -u {host} {port}", "deno task client udp --port {port} hello"],
});

/** Defaults of {@linkcode UdpEndpointOptions}' flow limits, declared once: `main.ts`'s flags show them. */
export const UDP_FLOW_DEFAULTS = { maxFlows: 10_000, flowIdleMs: 60_000 } as const;

/** Where the UDP endpoint binds and how many peers it tracks. */
export interface UdpEndpointOptions {
  hostname: string;
  port: number;
  /** Peers tracked as flows at once; datagrams from more are echoed but not tracked per peer. @default 10000 */
  maxFlows?: number;
  /** A flow with no datagram for this long is closed. @default 60000 */
  flowIdleMs?: number;
  /**
   * Receive and send in batches through libc (`recvmmsg`/`sendmmsg` by FFI)
   * when FFI is allowed; Deno's socket otherwise, or when false. @default true
   */
  fast?: boolean;
}

let nextFlowId = 1;
/** Receive buffers of the plain (non-FFI) loop, each 64 KiB: sends in flight at most. */
const RECEIVE_SLOTS = 8;
/** The largest UDP payload (IPv6 jumbograms aside), rounded up: both loops receive it whole. */
const MAX_DATAGRAM = 65_536;

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
  /** Why the flow ended: "idle", or "service stopping" when the endpoint closed. */
  closeReason: string | null = null;

  constructor(endpoint: string, local: Address, remote: Address) {
    this.endpoint = endpoint;
    this.local = local;
    this.remote = remote;
  }

  // Getters rather than fields, as on ObservedConn: constants need no 8 bytes on every flow.
  /** Always "udp": the event log and the capture tell a flow from a TCP connection by it. */
  get transport(): "udp" {
    return "udp";
  }

  /** Always "server": the peer sent the first datagram. */
  get role(): "server" {
    return "server";
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
      closeReason: this.closeReason,
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
  /** Why the batched path is not in use; null when it is. */
  readonly fastUnavailable: string | null = null;
  /** The fault in force on the replies (loss, duplicate, reorder, delay). */
  readonly faults: UdpFaultSwitch;
  #ctx: ServiceContext;
  #socket: Deno.DatagramConn | null = null;
  #fast: MmsgSocket | null = null;
  #maxFlows: number;
  #flowIdleMs: number;
  #closed = false;
  #loop: Promise<void>;
  /** The flow of the previous datagram: a busy peer sends many in a row. */
  #lastFlow: UdpFlow | null = null;

  constructor(stats: EndpointStats, ctx: ServiceContext, options: UdpEndpointOptions) {
    this.stats = stats;
    this.endpoint = stats.name;
    this.id = `s-${stats.name}`;
    this.#ctx = ctx;
    this.faults = new UdpFaultSwitch(stats);
    this.#maxFlows = options.maxFlows ?? UDP_FLOW_DEFAULTS.maxFlows;
    this.#flowIdleMs = options.flowIdleMs ?? UDP_FLOW_DEFAULTS.flowIdleMs;
    if (options.fast === false) {
      this.fastUnavailable = "Deno's socket asked for (plain loop)";
    } else {
      try {
        // Slots as large as a datagram can be: the plain loop echoes 64 KiB whole, so must this.
        this.#fast = openMmsgSocket(options.hostname, options.port, {
          maxDatagram: MAX_DATAGRAM,
        });
      } catch (err) {
        // No FFI (or not Linux): Deno's socket does the same work a datagram at a time.
        if (!(err instanceof Error) || !err.message.startsWith("UDP fast path unavailable")) {
          throw err;
        }
        this.fastUnavailable = err.message;
      }
    }
    if (this.#fast !== null) {
      stats.address = { hostname: this.#fast.hostname, port: this.#fast.port };
    } else {
      this.#socket = Deno.listenDatagram({
        transport: "udp",
        hostname: options.hostname,
        port: options.port,
      });
      const addr = this.#socket.addr as Deno.NetAddr;
      stats.address = { hostname: addr.hostname, port: addr.port };
    }
    stats.listening = true;
    ctx.registry.add(this);
    this.#loop = this.#fast !== null
      ? this.#fastLoop(this.#fast)
      : this.#receiveLoop(this.#socket!);
  }

  /** True when datagrams go through the batched FFI path. */
  get fast(): boolean {
    return this.#fast !== null;
  }

  /** The port the socket is bound to. */
  get port(): number {
    return this.stats.address!.port;
  }

  /** Ends flows quiet for longer than the flow timeout (every flow with `all`); returns how many. */
  sweepIdle(now: number, all = false): number {
    let n = 0;
    for (const [key, flow] of this.flows) {
      const idle = now - flow.lastActivity > this.#flowIdleMs;
      if (!idle && !all) continue;
      flow.closedAt = now;
      // The same words a TCP connection closed by TcpEndpoint.close() gets.
      flow.closeReason = idle ? "idle" : "service stopping";
      this.flows.delete(key);
      this.stats.live--;
      this.stats.closed++;
      this.#ctx.registry.remove(flow);
      // No FIN or RST ends a flow: never a reset.
      this.#ctx.log.closed(flow, false, now);
      n++;
    }
    return n;
  }

  /** Closes the socket and ends every flow. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stats.listening = false;
    try {
      this.#socket?.close();
    } catch {
      // Already closed.
    }
    await this.#loop;
    this.faults.dispose();
    // Closed only once its loop stopped: a poll still waiting on the descriptor sees no other socket.
    this.#fast?.close();
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

  #flowFor(addr: { hostname: string; port: number }): UdpFlow | null {
    const last = this.#lastFlow;
    if (
      last !== null && last.closedAt === null && last.remote.port === addr.port &&
      last.remote.hostname === addr.hostname
    ) {
      return last;
    }
    const key = `${addr.hostname}:${addr.port}`;
    let flow = this.flows.get(key);
    if (flow !== undefined) {
      this.#lastFlow = flow;
      return flow;
    }
    if (this.flows.size >= this.#maxFlows) {
      this.stats.hit("max-flows");
      return null;
    }
    flow = new UdpFlow(this.endpoint, this.stats.address!, {
      hostname: addr.hostname,
      port: addr.port,
    });
    this.flows.set(key, flow);
    this.#lastFlow = flow;
    this.stats.accepted++;
    this.stats.live++;
    this.#ctx.registry.add(flow);
    // Before the first datagram is recorded, as a TCP connection opens before its first read.
    this.#ctx.log.opened(flow, flow.openedAt);
    return flow;
  }

  async #receiveLoop(socket: Deno.DatagramConn): Promise<void> {
    // Buffers used in turn, allocated once (receive() without one allocates 64 KiB per
    // datagram): a datagram's send is not awaited, so the next receive waits in another
    // buffer meanwhile and both ops complete in the same turns of the event loop (≈ 15% more
    // datagrams per second than receive, send, receive). A buffer is reused only once the
    // send from it finished, so at most RECEIVE_SLOTS sends are in flight.
    const bufs = Array.from({ length: RECEIVE_SLOTS }, () => new Uint8Array(MAX_DATAGRAM));
    const sending: (Promise<void> | null)[] = new Array(RECEIVE_SLOTS).fill(null);
    const log = this.#ctx.log;
    const s = this.stats;
    let slot = 0;
    while (!this.#closed) {
      const busy = sending[slot];
      if (busy !== null) await busy;
      let data: Uint8Array;
      let addr: Deno.NetAddr;
      try {
        const [d, a] = await socket.receive(bufs[slot]);
        data = d;
        addr = a as Deno.NetAddr;
      } catch (err) {
        if (this.#closed) return;
        this.#countError(err);
        continue;
      }
      const ts = clockMs();
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
      if (this.faults.active !== null) {
        // A copy: the fault may hold it while this slot takes the next datagram.
        this.faults.reply(data.slice(), (d) => {
          socket.send(d, addr).then(() => {
            if (!this.#closed) this.#sent(src, d, clockMs());
          }, (err) => {
            if (!this.#closed) this.#countError(err);
          });
        });
        continue;
      }
      const mine = slot;
      sending[mine] = socket.send(data, addr).then(() => {
        sending[mine] = null;
        if (this.#closed) return;
        s.bytesOut += data.length;
        s.messagesOut++;
        if (flow !== null) {
          flow.bytesOut += data.length;
          flow.messagesOut++;
        }
        // The same bytes go back: the capture stores them once when nothing came in between.
        log.record(src, "out", data, clockMs(), true);
      }, (err) => {
        sending[mine] = null;
        if (!this.#closed) this.#countError(err);
      });
      slot = slot === RECEIVE_SLOTS - 1 ? 0 : slot + 1;
    }
  }

  /**
   * The batched path: while datagrams keep coming, one synchronous recvmmsg
   * takes up to a batch, one sendmmsg sends them all back; only when the
   * socket is empty does it wait, on another thread (poll), and now and then
   * it yields so the dashboard and the TCP endpoints get their turn.
   */
  async #fastLoop(sock: MmsgSocket): Promise<void> {
    const log = this.#ctx.log;
    const s = this.stats;
    const srcs: PacketSource[] = new Array(sock.batch);
    const views: Uint8Array[] = new Array(sock.batch);
    let lastKey = -1;
    let lastFlow: UdpFlow | null = null;
    let batches = 0;
    while (!this.#closed) {
      let n: number;
      try {
        n = sock.recv();
      } catch (err) {
        this.#countError(err);
        n = 0;
      }
      if (n === 0) {
        batches = 0;
        // Short, so close() never waits long for this loop to notice.
        await sock.readable(50);
        continue;
      }
      const ts = clockMs();
      for (let i = 0; i < n; i++) {
        const len = sock.rxLength[i];
        const data = sock.rxData[i].subarray(0, len);
        views[i] = data;
        const raw = sock.rxAddr[i];
        // An IPv4 sender as one number (address and port): no string for a peer seen before.
        const key = raw[0] === 2
          ? (((raw[4] << 24) | (raw[5] << 16) | (raw[6] << 8) | raw[7]) >>> 0) * 65536 +
            ((raw[2] << 8) | raw[3])
          : -1;
        let flow: UdpFlow | null;
        if (key >= 0 && key === lastKey && lastFlow !== null && lastFlow.closedAt === null) {
          flow = lastFlow;
        } else {
          flow = this.#flowFor(decodeSockaddr(raw));
          lastKey = key;
          lastFlow = flow;
        }
        const src: PacketSource = flow ?? this;
        srcs[i] = src;
        s.bytesIn += len;
        s.messagesIn++;
        if (flow !== null) {
          flow.lastActivity = ts;
          flow.bytesIn += len;
          flow.messagesIn++;
        }
        log.record(src, "in", data, ts);
      }
      if (this.faults.active !== null) {
        for (let i = 0; i < n; i++) this.#faultedReply(sock, srcs[i], views[i], sock.rxAddr[i]);
        if (++batches % 16 === 0) await sock.readable(0);
        continue;
      }
      const sent = sock.echo(n);
      if (sent < n) s.errors["send-dropped"] = (s.errors["send-dropped"] ?? 0) + n - sent;
      const out = clockMs();
      for (let i = 0; i < sent; i++) {
        const data = views[i];
        const src = srcs[i];
        s.bytesOut += data.length;
        s.messagesOut++;
        if (src !== this) {
          (src as UdpFlow).bytesOut += data.length;
          (src as UdpFlow).messagesOut++;
        }
        log.record(src, "out", data, out, true);
      }
      // A steady stream never empties the socket: yield now and then (a poll that returns at
      // once goes through the event loop like any other op).
      if (++batches % 16 === 0) await sock.readable(0);
    }
  }

  /** Hands one reply of the batched path to the fault switch, with a sender of copies. */
  #faultedReply(sock: MmsgSocket, src: PacketSource, data: Uint8Array, rawAddr: Uint8Array): void {
    const { hostname, port } = decodeSockaddr(rawAddr);
    this.faults.reply(data.slice(), (d) => {
      if (this.#closed || sock.closed) return;
      // Slot 0 of the send batch: the echo path sends from the receive slots, never from it.
      sock.txData[0].set(d);
      sock.sendTo(0, hostname, port);
      if (sock.send(1, [d.length]) === 1) this.#sent(src, d, clockMs());
      else this.stats.errors["send-dropped"] = (this.stats.errors["send-dropped"] ?? 0) + 1;
    });
  }

  /** Counts a reply sent by the fault path. */
  #sent(src: PacketSource, data: Uint8Array, ts: number): void {
    this.stats.bytesOut += data.length;
    this.stats.messagesOut++;
    if (src !== this) {
      (src as UdpFlow).bytesOut += data.length;
      (src as UdpFlow).messagesOut++;
    }
    this.#ctx.log.record(src, "out", data, ts);
  }

  #countError(err: unknown): void {
    const kind = errorKind(err) ?? "error";
    this.stats.errors[kind] = (this.stats.errors[kind] ?? 0) + 1;
  }
}
