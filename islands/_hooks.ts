/**
 * Browser-side plumbing the islands share: the `/api/events` stream and a
 * few small hooks. Everything touching browser APIs runs in effects, so the
 * server render never reaches it.
 */
import type { RefObject } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { LiveEvents } from "../lib/view/live_events.ts";

/** Where an event stream stands, for the small "live" indicator. */
export type StreamStatus = "connecting" | "live" | "down";

/** Handlers of `/api/events` events, each given its payload as lib/view/live_events.ts types it. */
export type LiveHandlers = { [K in keyof LiveEvents]?: (data: LiveEvents[K]) => void };

/**
 * Subscribes to the events of `url` (an `/api/events` query; null: none) while
 * mounted; `handlers` may change between renders without reconnecting.
 */
export function useEventStream(url: string | null, handlers: LiveHandlers): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const ref = useRef(handlers);
  ref.current = handlers;
  const names = Object.keys(handlers).sort().join(",");
  useEffect(() => {
    if (url === null) return;
    setStatus("connecting");
    const source = new EventSource(url);
    source.onopen = () => setStatus("live");
    // EventSource retries by itself; the indicator shows the gap.
    source.onerror = () =>
      setStatus(source.readyState === EventSource.CLOSED ? "down" : "connecting");
    for (const name of names.split(",").filter(Boolean) as (keyof LiveEvents)[]) {
      source.addEventListener(name, (ev: MessageEvent) => {
        let data: never;
        try {
          // The server sends each event as its payload type: the map both sides import.
          data = JSON.parse(ev.data) as never;
        } catch {
          return;
        }
        ref.current[name]?.(data);
      });
    }
    return () => source.close();
  }, [url, names]);
  return status;
}

/** Calls `fn` every `ms` while mounted (and once at once when `immediate`). */
export function useInterval(fn: () => void, ms: number | null, immediate = false): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (ms === null) return;
    if (immediate) ref.current();
    const t = setInterval(() => ref.current(), ms);
    return () => clearInterval(t);
  }, [ms, immediate]);
}

/** The current time, ticking every `ms` in the browser; `initial` on the server and at hydration. */
export function useNow(initial: number, ms = 1000): number {
  const [now, setNow] = useState(initial);
  useInterval(() => setNow(Date.now()), ms, true);
  return now;
}

/** Sends a JSON POST; resolves to the parsed body, throws with the API's error message. */
export async function postJson(url: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data: Record<string, unknown> = {};
  try {
    data = await res.json();
  } catch {
    // An empty or non-JSON body: the status says enough.
  }
  if (!res.ok) {
    throw new Error(typeof data.error === "string" ? data.error : `HTTP ${res.status}`);
  }
  return data;
}

/** Copies text to the clipboard; resolves false where the page may not. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}

/** The slice of a long list to render: the rows in view plus a margin. */
export interface RowWindow {
  /** Attach to the scrolling element. */
  ref: RefObject<HTMLDivElement>;
  onScroll: () => void;
  /** First row to render. */
  start: number;
  /** One past the last row to render. */
  end: number;
  /** Pixels above and below the rendered rows, for spacer rows. */
  padTop: number;
  padBottom: number;
}

/** Options of {@linkcode useRowWindow}. */
export interface RowWindowOptions {
  /** Rows rendered before the viewport is measured (and on the server). @default 60 */
  initialRows?: number;
  /** Rows rendered beyond each edge of the viewport. @default 20 */
  overscan?: number;
  /** The window moves in steps of this many rows, so small scrolls do not re-render. @default 10 */
  step?: number;
}

/**
 * Windowed rendering for a list of `count` rows of `rowHeight` pixels in a
 * scrolling element: only what is in view (plus `overscan`) reaches the DOM.
 */
export function useRowWindow(
  count: number,
  rowHeight: number,
  options: RowWindowOptions = {},
): RowWindow {
  const { initialRows = 60, overscan = 20, step = 10 } = options;
  const ref = useRef<HTMLDivElement>(null);
  const [start, setStart] = useState(0);
  const [visible, setVisible] = useState(initialRows);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const measure = () => setVisible(Math.ceil(el.clientHeight / rowHeight) + 1);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, [rowHeight]);
  const onScroll = () => {
    const el = ref.current;
    if (el === null) return;
    const first = Math.floor(el.scrollTop / rowHeight);
    setStart(Math.max(0, Math.floor((first - overscan) / step) * step));
  };
  // A list that shrank under the scroll position: show its end until the scroll event comes.
  const from = Math.max(0, Math.min(start, Math.floor((count - visible - overscan) / step) * step));
  const end = Math.min(count, from + visible + overscan * 2 + step);
  return {
    ref,
    onScroll,
    start: from,
    end,
    padTop: from * rowHeight,
    padBottom: (count - end) * rowHeight,
  };
}

/**
 * Keeps a scrolling box at its end as content grows, as a terminal or Wireshark's live capture
 * does, until the user scrolls up; scrolling back to the end follows again. Starts at the end.
 * `size` is what grows (e.g. the number of rows).
 */
export function useFollowEnd<T extends HTMLElement>(
  size: number,
): { ref: RefObject<T>; onScroll: () => void } {
  const ref = useRef<T>(null);
  const stick = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el !== null && stick.current) el.scrollTop = el.scrollHeight;
  }, [size]);
  const onScroll = () => {
    const el = ref.current;
    if (el !== null) stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
  };
  return { ref, onScroll };
}
