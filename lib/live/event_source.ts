/**
 * The dashboard's one source of live events (the names and payloads are
 * lib/view/live_events.ts): every island subscribes to the events it needs
 * through `/api/events`, whose route only validates parameters and hands
 * them here. No HTTP in this module: it produces events into a `send`
 * function and reads whether its stream is behind, so it is tested without
 * a server (lib/web/sse.ts carries the events and bounds their backlog).
 *
 * A joined snapshot of a large table is not free (about 0.2 s of CPU at
 * 20,000 sockets: the kernel's dump, the join, the JSON), so each stream
 * takes one no more often than {@linkcode SOCKETS_BUDGET} of a core allows;
 * the event says the interval in force as `intervalMs`. While the stream is
 * behind (its client reads slower than events come) no snapshot is made: a
 * new one would only replace the one still waiting.
 */
import type { PacketEntry, PacketQuery } from "../capture/packet_log.ts";
import type {
  ClientsEvent,
  LiveEventName,
  LiveEvents,
  PacketsEvent,
  RecentEvent,
} from "../view/live_events.ts";
import type {
  ChatSnapshot,
  ClientRun,
  Diagnosis,
  EndpointView,
  KernelStatus,
  SocketRecord,
} from "../view/api_types.ts";

/** Share of one core a stream's socket snapshots may take. */
export const SOCKETS_BUDGET = 0.05;
/** Interval of the `endpoints` event. */
export const ENDPOINTS_MS = 1000;
/** Interval at which the packet log is checked for `packets` and `recent`. */
export const PACKETS_MS = 250;
/** Interval of the `socket` event. */
export const SOCKET_MS = 1000;
/**
 * `recent` is looked at again this often even when no packet was logged: a note
 * (a framing summary at the peer's half-close) can attach to an entry already sent.
 */
export const RECENT_RECHECK_MS = 1000;
/** Interval at which the chat room and the client runs are checked for `chat` and `clients`. */
export const ROOM_MS = 250;

/** Sends one event with its payload; false once the stream is closed. */
export type SendLiveEvent = <K extends LiveEventName>(event: K, data: LiveEvents[K]) => boolean;

/** What the event source reads of the running service (lib/net/service.ts `Service`). */
export interface LiveService {
  readonly registry: { readonly endpoints: ReadonlyMap<string, { toJSON(): EndpointView }> };
  readonly log: {
    readonly lastSeq: number;
    query(q: PacketQuery): PacketEntry[];
    evicted(filter: { endpoint?: string }): number;
  };
  readonly kernelStatus: KernelStatus;
  sockets(options: { kernelMaxAgeMs?: number }): Promise<SocketRecord[]>;
  socket(id: string): Promise<SocketRecord | undefined>;
  readonly chat: { readonly version: number; snapshot(limit: number): ChatSnapshot };
  readonly launcher: { list(): ClientRun[] };
  readonly sink: { readonly draining: boolean };
  /** The diagnoses (lib/diagnoses/monitor.ts); absent: no `diagnoses` event. */
  readonly diagnoses?: {
    readonly engine: { active(): Diagnosis[] };
    subscribe(
      listener: (change: { change: "appear" | "clear"; diagnosis: Diagnosis }) => void,
    ): () => void;
  };
}

/** What one stream asks for; the route has checked every field. */
export interface LiveEventsOptions {
  /** Epoch ms the service started, for `hello`. */
  startedAt: number;
  /** Send `sockets` snapshots. @default true */
  sockets?: boolean;
  /** The interval asked for between `sockets` snapshots. @default 1000 */
  socketsMs?: number;
  /** Send `packets` batches. @default true */
  packets?: boolean;
  /** Most entries in one `packets` batch; a merged batch keeps the newest this many. @default 500 */
  batch?: number;
  /** The tail starts after this seq. @default the log's newest seq */
  after?: number;
  /** What `packets` keeps, as the packet log filters. @default everything */
  filter?: Pick<PacketQuery, "conn" | "endpoint" | "dir">;
  /** Endpoints whose newest packets `recent` carries. @default none: no `recent` */
  recent?: readonly string[];
  /** Packets per endpoint in `recent`. @default 12 */
  recentLimit?: number;
  /** Send `diagnoses`: the active ones first, then each that appears or clears. @default true */
  diagnoses?: boolean;
  /** The socket `socket` reports on. @default none: no `socket` */
  socket?: string;
  /** Send `chat`, the room whenever it changes. @default false */
  chat?: boolean;
  /** Newest messages in `chat`. @default 50 */
  chatLimit?: number;
  /** Send `clients`, the launcher's runs and the sink's switch whenever they change. @default false */
  clients?: boolean;
  /** Milliseconds for measuring a snapshot's cost. @default performance.now */
  clock?: () => number;
}

/** What a producer can see of its stream (lib/web/sse.ts `SseStream`). */
export interface LiveStream {
  /** True while events wait for the client: skip costly work. */
  readonly behind: boolean;
}

/** The producer of one stream and how its waiting events combine. */
export interface LiveEventSource {
  /** Starts producing into `send`; returns the cleanup, to call exactly once. */
  run(send: SendLiveEvent, stream: LiveStream): () => void;
  /** Merges for events that are not snapshots (see lib/web/sse.ts `merge`). */
  merge: { packets: (older: PacketsEvent, newer: PacketsEvent) => PacketsEvent };
}

/** Merges a packets batch still waiting with a newer one: the newest `batch` entries are kept. */
export function mergePackets(
  batch: number,
): (older: PacketsEvent, newer: PacketsEvent) => PacketsEvent {
  return function merge(older, newer) {
    const all = older.packets.concat(newer.packets);
    const packets = all.length > batch ? all.slice(all.length - batch) : all;
    return {
      packets,
      skipped: older.skipped + newer.skipped + all.length - packets.length,
      lastSeq: newer.lastSeq,
    };
  };
}

/** What tells two `recent` lists apart: their newest seqs, lengths and notes. */
function recentKey(list: readonly PacketEntry[]): string {
  let notes = 0;
  for (const p of list) notes += p.decoded?.length ?? 0;
  return `${list.length}:${list.at(-1)?.seq ?? 0}:${notes}`;
}

/**
 * The live events of `service` for one stream: `hello` and `endpoints` always,
 * `sockets`, `packets`, `recent`, `socket`, `chat` and `clients` as `options` ask.
 */
export function liveEvents(service: LiveService, options: LiveEventsOptions): LiveEventSource {
  const socketsMs = options.socketsMs ?? 1000;
  const batch = options.batch ?? 500;
  const filter = options.filter ?? {};
  const recentNames = options.recent ?? [];
  const recentLimit = options.recentLimit ?? 12;
  const clock = options.clock ?? (() => performance.now());
  return {
    merge: { packets: mergePackets(batch) },
    run(send, stream) {
      const log = service.log;
      let after = options.after ?? log.lastSeq;
      let stopped = false;
      const timers: ReturnType<typeof setInterval>[] = [];

      const endpoints = () =>
        send("endpoints", [...service.registry.endpoints.values()].map((e) => e.toJSON()));

      let socketsTimer: ReturnType<typeof setTimeout> | undefined;
      // Each snapshot schedules the next, at socketsMs or later when it cost more than the budget.
      // The cost counts the previous snapshot's JSON too, known only once it was sent.
      let lastCostMs = 0;
      const sockets = (first = false) => {
        // The first goes out with hello, whatever the stream holds before the client's first read.
        if (!first && stream.behind) {
          // The previous snapshot still waits for the client: a new one would only replace it.
          socketsTimer = setTimeout(sockets, socketsMs);
          return;
        }
        const started = clock();
        // Kernel rows as fresh as the stream's interval (the kernel table caches for 500 ms).
        service.sockets({ kernelMaxAgeMs: socketsMs }).then((list) => {
          const costMs = Math.max(lastCostMs, clock() - started);
          const intervalMs = Math.max(socketsMs, Math.ceil(costMs / SOCKETS_BUDGET));
          if (stopped) return intervalMs;
          send("sockets", { kernel: service.kernelStatus, sockets: list, intervalMs });
          lastCostMs = clock() - started;
          return intervalMs;
        }, () => socketsMs).then((intervalMs) => {
          if (!stopped) socketsTimer = setTimeout(sockets, intervalMs);
        });
      };

      const packets = () => {
        const last = log.lastSeq;
        if (last <= after) return;
        // A tail that fell behind skips to the newest batch instead of replaying old traffic.
        const oldest = Math.max(after, last - batch * 4);
        const list = log.query({ ...filter, after: oldest, limit: batch });
        const skipped = oldest - after;
        after = list.length > 0 && list.length === batch ? list[list.length - 1].seq : last;
        if (list.length > 0 || skipped > 0) {
          send("packets", { packets: list, skipped, lastSeq: after });
        }
      };

      // What the client last got of each endpoint's newest packets, to send only changes.
      let recentSent = "";
      let recentSeq = -1;
      let recentAt = -Infinity;
      const recent = () => {
        if (stream.behind) return;
        const now = clock();
        if (log.lastSeq === recentSeq && now - recentAt < RECENT_RECHECK_MS) return;
        recentSeq = log.lastSeq;
        recentAt = now;
        const lists: RecentEvent = {};
        let key = "";
        for (const endpoint of recentNames) {
          const list = log.query({ endpoint, limit: recentLimit });
          const evicted = log.evicted({ endpoint });
          lists[endpoint] = { packets: list, evicted };
          key += `${endpoint}=${recentKey(list)}/${evicted};`;
        }
        if (key === recentSent) return;
        recentSent = key;
        send("recent", lists);
      };

      let socketBusy = false;
      const socket = (id: string) => {
        if (socketBusy || stream.behind) return;
        socketBusy = true;
        service.socket(id).then((record) => {
          if (!stopped) send("socket", { kernel: service.kernelStatus, socket: record ?? null });
        }, () => {}).finally(() => socketBusy = false);
      };

      // The room and the runs go out when they change; the first at once, whatever the stream holds.
      let chatVersion = -1;
      const chat = (first = false) => {
        if (!first && stream.behind) return;
        const version = service.chat.version;
        if (version === chatVersion) return;
        chatVersion = version;
        send("chat", service.chat.snapshot(options.chatLimit ?? 50));
      };
      let clientsSent = "";
      const clients = (first = false) => {
        if (!first && stream.behind) return;
        const data: ClientsEvent = {
          runs: service.launcher.list(),
          sink: { draining: service.sink.draining },
        };
        // A running run's progress changes every tick; finished runs are a bounded list.
        const key = JSON.stringify(data);
        if (key === clientsSent) return;
        clientsSent = key;
        send("clients", data);
      };

      send("hello", { lastSeq: after, startedAt: options.startedAt });
      endpoints();
      timers.push(setInterval(endpoints, ENDPOINTS_MS));
      if (options.sockets ?? true) sockets(true);
      if (options.packets ?? true) timers.push(setInterval(packets, PACKETS_MS));
      if (recentNames.length > 0) {
        recent();
        timers.push(setInterval(recent, PACKETS_MS));
      }
      if (options.chat ?? false) {
        chat(true);
        timers.push(setInterval(chat, ROOM_MS));
      }
      if (options.clients ?? false) {
        clients(true);
        timers.push(setInterval(clients, ROOM_MS));
      }
      let unsubscribe = () => {};
      const diagnoses = service.diagnoses;
      if ((options.diagnoses ?? true) && diagnoses !== undefined) {
        send("diagnoses", { change: "snapshot", diagnoses: diagnoses.engine.active() });
        unsubscribe = diagnoses.subscribe(({ change, diagnosis }) => {
          if (!stopped) send("diagnoses", { change, diagnoses: [diagnosis] });
        });
      }
      const id = options.socket;
      if (id !== undefined) {
        socket(id);
        timers.push(setInterval(() => socket(id), SOCKET_MS));
      }
      return () => {
        stopped = true;
        unsubscribe();
        clearTimeout(socketsTimer);
        timers.forEach(clearInterval);
      };
    },
  };
}
