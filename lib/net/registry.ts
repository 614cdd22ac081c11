/**
 * The registry: every live socket of every endpoint, the recently closed
 * ones with their final counters, and each endpoint's totals.
 */
import type { Fault } from "../view/fault.ts";
import type { ConnCounters } from "./observed_conn.ts";
import type { Address, LinkAddress, SocketRecord } from "./types.ts";
import type { Transport } from "./endpoint_spec.ts";

/** Anything the registry can list: a connection, a listener, a UDP socket or flow. */
export interface Observed {
  readonly id: string;
  readonly endpoint: string;
  snapshot(): SocketRecord;
}

/** One endpoint as `GET /api/endpoints`, the overview and the labs show it. */
export interface EndpointRecord extends ConnCounters {
  name: string;
  transport: Transport;
  description: string;
  /** The bound address (TCP, UDP); null for a link endpoint and before binding. */
  address: Address | null;
  /** A link endpoint's interface and EtherType, instead of a port; null for TCP and UDP. */
  link: LinkAddress | null;
  listening: boolean;
  /** Why it is not listening, in plain words (the raw lab without CAP_NET_RAW); else null. */
  reason: string | null;
  /** Live connections (TCP) or flows (UDP). */
  connections: number;
  accepted: number;
  closed: number;
  refused: number;
  /** The fault in force (TCP endpoints; null where faults do not apply). */
  fault: Fault | null;
  /** Times each fault mode acted. */
  faults: Record<string, number>;
}

/** One endpoint's identity and running totals. */
export class EndpointStats implements ConnCounters {
  readonly name: string;
  readonly transport: Transport;
  readonly description: string;
  address: Address | null = null;
  /** A link endpoint's interface and EtherType. */
  link: LinkAddress | null = null;
  listening = false;
  /** Why it is not listening, when it can say. */
  reason: string | null = null;
  /** Connections accepted (TCP) or flows seen (UDP). */
  accepted = 0;
  closed = 0;
  /** Connections refused by the per-endpoint limit or the shared descriptor budget (launcher: dials). */
  refused = 0;
  live = 0;
  bytesIn = 0;
  bytesOut = 0;
  messagesIn = 0;
  messagesOut = 0;
  errors: Record<string, number> = {};
  /** Limit and timeout hits by kind: "max-conns", "fd-budget", "idle-timeout", … */
  limitHits: Record<string, number> = {};
  /** The fault in force (TCP endpoints; null for UDP), set through the endpoint's fault switch. */
  fault: Fault | null = null;
  /** Times each fault mode acted: writes held, connections stalled, reset or half-closed, pauses. */
  faults: Record<string, number> = {};

  constructor(name: string, transport: Transport, description: string) {
    this.name = name;
    this.transport = transport;
    this.description = description;
  }

  /** Counts one hit of a limit or timeout. */
  hit(kind: string): void {
    this.limitHits[kind] = (this.limitHits[kind] ?? 0) + 1;
  }

  /** Plain data for the API. */
  toJSON(): EndpointRecord {
    return {
      name: this.name,
      transport: this.transport,
      description: this.description,
      address: this.address,
      link: this.link,
      listening: this.listening,
      reason: this.reason,
      connections: this.live,
      accepted: this.accepted,
      closed: this.closed,
      refused: this.refused,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      errors: this.errors,
      limitHits: this.limitHits,
      fault: this.fault,
      faults: this.faults,
    };
  }
}

/** Registry sizing. */
export interface RegistryOptions {
  /** Closed sockets kept readable at `/api/sockets/:id`. @default 1000 */
  keepClosed?: number;
}

/** Closed sockets kept readable by default; `--keep-closed` shows it. */
export const DEFAULT_KEEP_CLOSED = 1000;

/** Live and recently closed sockets, and the endpoints they belong to. */
export class Registry {
  readonly endpoints = new Map<string, EndpointStats>();
  #live = new Map<string, Observed>();
  #closed = new Map<string, SocketRecord>();
  #keepClosed: number;

  constructor(options: RegistryOptions = {}) {
    this.#keepClosed = options.keepClosed ?? DEFAULT_KEEP_CLOSED;
  }

  /** Number of live sockets (all kinds). */
  get size(): number {
    return this.#live.size;
  }

  /** Declares an endpoint; its stats object is what connections count into. */
  addEndpoint(stats: EndpointStats): EndpointStats {
    if (this.endpoints.has(stats.name)) {
      throw new TypeError(`Cannot add endpoint: "${stats.name}" exists already`);
    }
    this.endpoints.set(stats.name, stats);
    return stats;
  }

  /** Adds a live socket. */
  add(sock: Observed): void {
    this.#live.set(sock.id, sock);
  }

  /** Removes a live socket, keeping its final snapshot among the recently closed. */
  remove(sock: Observed): void {
    if (!this.#live.delete(sock.id)) return;
    this.#closed.set(sock.id, sock.snapshot());
    if (this.#closed.size > this.#keepClosed) {
      this.#closed.delete(this.#closed.keys().next().value!);
    }
  }

  /** A live socket by id. */
  live(id: string): Observed | undefined {
    return this.#live.get(id);
  }

  /** A socket by id, live or recently closed. */
  get(id: string): SocketRecord | undefined {
    return this.#live.get(id)?.snapshot() ?? this.#closed.get(id);
  }

  /** Snapshots of every live socket. */
  snapshots(): SocketRecord[] {
    const out: SocketRecord[] = [];
    for (const sock of this.#live.values()) out.push(sock.snapshot());
    return out;
  }

  /** Live sockets (not snapshots), for sweeps and actions. */
  values(): IterableIterator<Observed> {
    return this.#live.values();
  }

  /**
   * Calls `fn` with every live socket: for a pass over 10,000 connections each second, where
   * {@linkcode values}' iterator makes an object per step.
   */
  forEach(fn: (sock: Observed) => void): void {
    this.#live.forEach((sock) => fn(sock));
  }

  /** The recently closed, newest last. */
  closed(): SocketRecord[] {
    return [...this.#closed.values()];
  }
}
