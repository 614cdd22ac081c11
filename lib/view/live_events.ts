/**
 * The events of `/api/events`, by name, with the payload each carries: the
 * one map the server's event source sends by and the islands subscribe by,
 * so both sides are checked against the same shapes. Types only, no Deno.
 */
import type {
  ChatSnapshot,
  ClientRun,
  Diagnosis,
  EndpointView,
  KernelStatus,
  PacketEntry,
  SocketRecord,
} from "./api_types.ts";

/** A batch of new packet-log entries, oldest first. */
export interface PacketsEvent {
  packets: PacketEntry[];
  /** Entries the stream left out: a tail that fell behind skips to the newest. */
  skipped: number;
  /** The newest seq the stream has covered; reconnect with `after` set to it. */
  lastSeq: number;
}

/** A joined snapshot of every socket. */
export interface SocketsEvent {
  kernel: KernelStatus;
  sockets: SocketRecord[];
  /** The interval between snapshots in force: `socketsMs`, or longer when they cost more. */
  intervalMs: number;
}

/** One socket (`?socket=ID`), or null once the service no longer knows it. */
export interface SocketEvent {
  kernel: KernelStatus;
  socket: SocketRecord | null;
}

/** One endpoint's part of {@linkcode RecentEvent}. */
export interface RecentList {
  /** Its newest packets, oldest first. */
  packets: PacketEntry[];
  /** Its packets the log dropped for good: with none held, "evicted" rather than "none". */
  evicted: number;
}

/**
 * The newest packets of each endpoint asked for with `?recent=`, re-sent whole
 * whenever one of them changes (a note attached late included).
 */
export type RecentEvent = Record<string, RecentList>;

/**
 * The service's own client runs (`?clients=1`), as `GET /api/clients` lists
 * them, and the sink's drain switch they write against, as `GET /api/endpoints`
 * has it; sent when either changes.
 */
export interface ClientsEvent {
  runs: ClientRun[];
  sink: { draining: boolean };
}

/** Every event of `/api/events`: its name and its payload. */
export interface LiveEvents {
  /** First, once: where the packet tail starts, and when the service started. */
  hello: { lastSeq: number; startedAt: number };
  /** Every endpoint's counters, every second. */
  endpoints: EndpointView[];
  sockets: SocketsEvent;
  socket: SocketEvent;
  packets: PacketsEvent;
  recent: RecentEvent;
  /** The chat room (`?chat=1`) as `GET /api/chat` shows it, when it changes. */
  chat: ChatSnapshot;
  clients: ClientsEvent;
  /** A diagnosis that appeared or cleared (`until` set), as it happens; `diagnoses=0` for none. */
  diagnoses: DiagnosesEvent;
}

/** A diagnosis that appeared or cleared; the first event carries every active one. */
export interface DiagnosesEvent {
  change: "appear" | "clear" | "snapshot";
  diagnoses: Diagnosis[];
}

/** An event's name. */
export type LiveEventName = keyof LiveEvents;
