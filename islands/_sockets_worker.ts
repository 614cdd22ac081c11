/**
 * The socket table's worker (bundled to static/build/_sockets_worker.js): it
 * owns the `/api/events` socket stream, parses each snapshot (megabytes with
 * thousands of connections), tracks new and changed rows, filters and sorts,
 * and hands the page only the rows of the window it shows. The page's main
 * thread never touches the full list, so scrolling stays smooth.
 */
import type { LiveEvents, SocketsEvent } from "../lib/view/live_events.ts";
import type { Diagnosis, SocketRecord } from "../lib/view/api_types.ts";
import { activeOf, applyDiagnosesEvent } from "../lib/view/diagnoses.ts";
import type { StreamStatus } from "./_hooks.ts";
import {
  foldedCount,
  LARGE_TABLE,
  MIN_UPDATE_MS,
  RowTracker,
  summarise,
  type TableState,
  type TableView,
  viewRows,
} from "../lib/view/sockets_table.ts";

/** Messages from the island to its worker. */
export type ToWorker =
  | { type: "init"; view: TableView; endpoints: string[]; start: number; end: number }
  | { type: "view"; view: TableView }
  | { type: "window"; start: number; end: number }
  | { type: "visible"; visible: boolean };

/** Messages from the worker to the island. */
export type FromWorker =
  | { type: "state"; state: TableState; workMs: number }
  | { type: "status"; status: StreamStatus }
  /** Endpoints whose accepts are paused by a fault, sent when the set changes. */
  | { type: "paused"; endpoints: string[] }
  /** The active diagnoses, sent on each `diagnoses` event. */
  | { type: "diagnoses"; active: Diagnosis[] };

const scope = globalThis as unknown as {
  postMessage(message: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
};

/** Rows sent beyond the requested window, so small scrolls need no round trip. */
const MARGIN = 60;

let view: TableView | null = null;
let known: string[] = [];
let win = { start: 0, end: 100 };
let visible = true;
let source: EventSource | null = null;
let large = false;
let pending: string | null = null;
let timer: ReturnType<typeof setTimeout> | null = null;
let lastApply = 0;
const tracker = new RowTracker();
let snapshot: (SocketsEvent & { at: number }) | null = null;
let rows: SocketRecord[] = [];
// TIME_WAIT leftovers the view folds into a count.
let folded = 0;
let paused = "";
let diagnoses: readonly Diagnosis[] = [];
let counts: { byState: [string, number][]; endpoints: string[] } = { byState: [], endpoints: [] };

function connect(): void {
  source?.close();
  const es = new EventSource(`/api/events?packets=0&socketsMs=${large ? 2000 : 1000}`);
  source = es;
  scope.postMessage({ type: "status", status: "connecting" });
  es.onopen = () => scope.postMessage({ type: "status", status: "live" });
  es.onerror = () =>
    scope.postMessage({
      type: "status",
      status: es.readyState === EventSource.CLOSED ? "down" : "connecting",
    });
  es.addEventListener("sockets", (ev) => {
    // Only the newest snapshot is parsed (as a SocketsEvent); one that is overtaken costs nothing.
    pending = (ev as MessageEvent<string>).data;
    schedule();
  });
  // Faults are per endpoint, not per socket: the LISTEN rows read them from the endpoint list.
  es.addEventListener("endpoints", (ev) => {
    let list: LiveEvents["endpoints"];
    try {
      list = JSON.parse((ev as MessageEvent<string>).data);
    } catch {
      return;
    }
    const names = list.filter((e) => e.fault?.mode === "pause-accept").map((e) => e.name);
    if (names.join(",") === paused) return;
    paused = names.join(",");
    scope.postMessage({ type: "paused", endpoints: names });
  });
  // Each row's badge: the rows carry the kinds, these add severity and summary.
  es.addEventListener("diagnoses", (ev) => {
    try {
      diagnoses = applyDiagnosesEvent(diagnoses, JSON.parse((ev as MessageEvent<string>).data), 0);
    } catch {
      return;
    }
    scope.postMessage({ type: "diagnoses", active: activeOf(diagnoses) });
  });
}

function schedule(): void {
  if (timer !== null || pending === null || !visible) return;
  timer = setTimeout(apply, Math.max(0, MIN_UPDATE_MS - (performance.now() - lastApply)));
}

function apply(): void {
  timer = null;
  const text = pending;
  if (text === null || view === null) return;
  pending = null;
  const t0 = performance.now();
  lastApply = t0;
  let data: SocketsEvent;
  try {
    data = JSON.parse(text);
  } catch {
    return;
  }
  const now = Date.now();
  tracker.update(data.sockets, now);
  snapshot = { ...data, at: now };
  counts = summarise(data.sockets, known);
  rows = viewRows(data.sockets, view, now);
  folded = foldedCount(data.sockets, view);
  post(t0);
  // Big snapshots cost a parse each: take them half as often.
  const n = data.sockets.length;
  if (n > LARGE_TABLE !== large && (n > LARGE_TABLE || n < LARGE_TABLE * 0.7)) {
    large = n > LARGE_TABLE;
    connect();
  }
}

function post(t0: number): void {
  if (snapshot === null) return;
  const start = Math.max(0, win.start - MARGIN);
  const end = Math.min(rows.length, win.end + MARGIN);
  const slice = rows.slice(start, end);
  const state: TableState = {
    kernel: snapshot.kernel,
    updatedAt: snapshot.at,
    total: snapshot.sockets.length,
    matching: rows.length,
    folded,
    byState: counts.byState,
    endpoints: counts.endpoints,
    start,
    rows: slice,
    flags: slice.map((s) => tracker.flags(s.id, snapshot!.at)),
    large,
    intervalMs: snapshot.intervalMs ?? (large ? 2000 : 1000),
    live: true,
  };
  scope.postMessage({ type: "state", state, workMs: performance.now() - t0 });
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case "init":
      view = msg.view;
      known = msg.endpoints;
      win = { start: msg.start, end: msg.end };
      connect();
      break;
    case "view": {
      view = msg.view;
      const t0 = performance.now();
      if (snapshot !== null) {
        rows = viewRows(snapshot.sockets, view, snapshot.at);
        folded = foldedCount(snapshot.sockets, view);
      }
      post(t0);
      break;
    }
    case "window":
      win = { start: msg.start, end: msg.end };
      post(performance.now());
      break;
    case "visible":
      visible = msg.visible;
      schedule();
      break;
    default: {
      const never: never = msg;
      throw new TypeError(`Unknown message "${JSON.stringify(never)}"`);
    }
  }
};
