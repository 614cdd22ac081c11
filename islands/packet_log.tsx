/**
 * The packet log, as `tshark` or `socat -x` would show it: recent history
 * from the server, then a live tail (newest on top) with pause and resume,
 * filters by endpoint, connection and direction, text or hex, decoded app
 * frames and framing errors, and a bytes pane for the selected packet.
 */
import { useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import type { PacketEntry } from "../lib/view/api_types.ts";
import { island } from "../lib/web/island.tsx";
import { asciiLine, fmtInt, fmtTime, fromBase64, hexLine } from "../lib/view/format.ts";
import { useEventStream, useRowWindow } from "./_hooks.ts";
import { DirMark, Notes, PacketPane } from "./_packets.tsx";
import { LiveDot } from "./_ui.tsx";

/** The log's filter, as the page's query string carries it. */
export interface PacketFilter {
  endpoint: string;
  conn: string;
  dir: "" | "in" | "out";
}

/** Props of the packet log island. */
export interface PacketLogProps {
  /** Recent packets, oldest first (as the API returns them). */
  packets: PacketEntry[];
  /** The log's newest seq when the page was rendered: the live tail starts after it. */
  lastSeq: number;
  filter: PacketFilter;
  endpoints: string[];
  previewBytes: number;
  capacity: number;
  dropped: number;
}

/** Rows kept in the page; older ones leave as new ones come. */
export const KEEP = 2000;
/** Packets fetched when the filter changes. */
export const HISTORY = 500;
/** Pixel height of one row. */
export const PACKET_ROW = 22;

function query(filter: PacketFilter): string {
  const p = new URLSearchParams();
  if (filter.endpoint) p.set("endpoint", filter.endpoint);
  if (filter.conn) p.set("conn", filter.conn);
  if (filter.dir) p.set("dir", filter.dir);
  return p.toString();
}

/** The capture download for a filter: endpoint and connection apply, direction does not. */
function pcapngHref(filter: PacketFilter): string {
  const p = new URLSearchParams();
  if (filter.endpoint) p.set("endpoint", filter.endpoint);
  if (filter.conn) p.set("conn", filter.conn);
  const q = p.toString();
  return `/api/capture.pcapng${q ? `?${q}` : ""}`;
}

function PacketRow(
  { p, odd, hex, selected, onSelect }: {
    p: PacketEntry;
    odd: boolean;
    hex: boolean;
    selected: boolean;
    onSelect: (seq: number) => void;
  },
) {
  const bytes = fromBase64(p.data);
  const err = p.decoded?.some((n) => n.error) ?? false;
  const cls = `row${odd ? " odd" : ""}${selected ? " selected" : ""}${err ? " has-err" : ""}`;
  return (
    <tr class={cls} data-seq={p.seq} data-dir={p.dir} onClick={() => onSelect(p.seq)}>
      <td class="num mono">{p.seq}</td>
      <td class="mono">{fmtTime(p.ts)}</td>
      <td>{p.endpoint}</td>
      <td class="mono">
        <a href={`/sockets/${encodeURIComponent(p.conn)}`} onClick={(e) => e.stopPropagation()}>
          {p.conn}
        </a>
      </td>
      <td>
        <DirMark dir={p.dir} />
      </td>
      <td class="num mono">{fmtInt(p.len)}</td>
      <td class={`mono data dir-${p.dir}-fg`}>
        {hex ? hexLine(bytes, 24) : asciiLine(bytes)}
        {p.truncated && <span class="muted">…</span>}
      </td>
      <td class="decoded">
        <Notes notes={p.decoded} />
      </td>
    </tr>
  );
}

function PacketLog(props: PacketLogProps) {
  // Newest first: the server render shows the latest traffic at the top.
  const [list, setList] = useState<PacketEntry[]>(() => props.packets.slice().reverse());
  const [filter, setFilter] = useState(props.filter);
  const [since, setSince] = useState(props.lastSeq);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [skipped, setSkipped] = useState(0);
  const [hex, setHex] = useState(false);
  const [selected, setSelected] = useState<number | null>(
    props.packets.length > 0 ? props.packets[props.packets.length - 1].seq : null,
  );
  const [error, setError] = useState("");
  const newest = useRef(props.lastSeq);
  const pending = useRef<PacketEntry[]>([]);
  const added = useRef(0);
  const win = useRowWindow(list.length, PACKET_ROW, { initialRows: 40 });

  const url = useMemo(
    () => `/api/events?sockets=0&after=${since}&${query(filter)}`,
    [since, filter],
  );

  const flush = (incoming: PacketEntry[]) => {
    if (incoming.length === 0) return;
    added.current += incoming.length;
    setList((old) => incoming.slice().reverse().concat(old).slice(0, KEEP));
  };

  const status = useEventStream(url, {
    packets(data) {
      // EventSource reconnects with the URL it started with: drop what we have.
      const fresh = data.packets.filter((p) => p.seq > newest.current);
      if (fresh.length > 0) newest.current = fresh[fresh.length - 1].seq;
      if (data.skipped > 0) setSkipped((n) => n + data.skipped);
      if (paused) {
        pending.current = pending.current.concat(fresh).slice(-KEEP);
        setHeld((n) => n + fresh.length);
      } else {
        flush(fresh);
      }
    },
  });

  // Rows added on top push the rest down: keep a reader who scrolled down where they were.
  useLayoutEffect(() => {
    const el = win.ref.current;
    const n = added.current;
    added.current = 0;
    if (el !== null && n > 0 && el.scrollTop > 0) el.scrollTop += n * PACKET_ROW;
  }, [list]);

  const resume = () => {
    flush(pending.current);
    pending.current = [];
    setHeld(0);
    setPaused(false);
  };

  const changeFilter = async (patch: Partial<PacketFilter>) => {
    const next = { ...filter, ...patch };
    setFilter(next);
    const q = query(next);
    history.replaceState(null, "", `${location.pathname}${q ? `?${q}` : ""}`);
    try {
      const res = await fetch(`/api/packets?limit=${HISTORY}&${q}`);
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
      pending.current = [];
      setHeld(0);
      setSkipped(0);
      newest.current = body.lastSeq;
      setList((body.packets as PacketEntry[]).slice().reverse());
      setSince(body.lastSeq);
      setError("");
      if (win.ref.current) win.ref.current.scrollTop = 0;
    } catch (err) {
      setError(`Cannot load packets: ${(err as Error).message}`);
    }
  };

  const shown = list.slice(win.start, win.end);
  const sel = selected === null ? undefined : list.find((p) => p.seq === selected);
  const endpoints = [...new Set([...props.endpoints, ...list.map((p) => p.endpoint)])];

  return (
    <section class="packets">
      <form
        class="toolbar filters"
        method="get"
        action="/packets"
        onSubmit={(e) => e.preventDefault()}
      >
        <label>
          Endpoint{" "}
          <select
            name="endpoint"
            value={filter.endpoint}
            onChange={(e) => changeFilter({ endpoint: e.currentTarget.value })}
          >
            <option value="">all</option>
            {endpoints.map((e) => <option key={e} value={e}>{e}</option>)}
          </select>
        </label>
        <label>
          Connection{" "}
          <input
            name="conn"
            type="search"
            size={10}
            placeholder="e.g. c12"
            value={filter.conn}
            onChange={(e) => changeFilter({ conn: e.currentTarget.value.trim() })}
          />
        </label>
        <label>
          Direction{" "}
          <select
            name="dir"
            value={filter.dir}
            onChange={(e) => changeFilter({ dir: e.currentTarget.value as PacketFilter["dir"] })}
          >
            <option value="">both</option>
            <option value="in">in (read)</option>
            <option value="out">out (written)</option>
          </select>
        </label>
        <button type="submit" class="btn nojs-only">Apply</button>
        <span class="seg js-only" role="group" aria-label="Data as">
          <button type="button" class={hex ? "btn" : "btn on"} onClick={() => setHex(false)}>
            text
          </button>
          <button type="button" class={hex ? "btn on" : "btn"} onClick={() => setHex(true)}>
            hex
          </button>
        </span>
        {paused
          ? (
            <button
              type="button"
              class="btn btn-primary js-only"
              onClick={resume}
              data-action="resume"
            >
              ▶ Resume{held > 0 ? ` (${fmtInt(held)} new)` : ""}
            </button>
          )
          : (
            <button
              type="button"
              class="btn js-only"
              onClick={() => setPaused(true)}
              data-action="pause"
            >
              ❚❚ Pause
            </button>
          )}
        <a
          class="btn"
          href={pcapngHref(filter)}
          download
          data-action="pcapng"
          title="Full payloads of what the filter shows (endpoint, connection) as pcapng, for Wireshark"
        >
          Download pcapng
        </a>
        <span class="spacer" />
        <span class="muted small mono">
          {fmtInt(list.length)} shown · ring {fmtInt(props.capacity)} × {props.previewBytes} B
          {props.dropped > 0 && ` · ${fmtInt(props.dropped)} overwritten before this page`}
          {skipped > 0 && ` · ${fmtInt(skipped)} skipped (tail fell behind)`}
        </span>
        <LiveDot status={paused ? "connecting" : status} />
      </form>
      {error && <p class="banner bad">{error}</p>}
      <div class="table-scroll packet-scroll" ref={win.ref} onScroll={win.onScroll}>
        <table class="grid packet-table">
          <colgroup>
            <col class="w-seq" />
            <col class="w-time" />
            <col class="w-ep" />
            <col class="w-id" />
            <col class="w-dir" />
            <col class="w-len" />
            <col class="w-data" />
            <col class="w-dec" />
          </colgroup>
          <thead>
            <tr>
              <th class="num">No.</th>
              <th>Time</th>
              <th>Endpoint</th>
              <th>Conn</th>
              <th>Dir</th>
              <th class="num">Len</th>
              <th>Data ({hex ? "hex" : "text"})</th>
              <th>Decoded</th>
            </tr>
          </thead>
          <tbody>
            {win.padTop > 0 && (
              <tr class="spacer-row" aria-hidden="true" style={`height:${win.padTop}px`} />
            )}
            {shown.map((p, i) => (
              <PacketRow
                key={p.seq}
                p={p}
                odd={(win.start + i) % 2 === 1}
                hex={hex}
                selected={p.seq === selected}
                onSelect={setSelected}
              />
            ))}
            {win.padBottom > 0 && (
              <tr class="spacer-row" aria-hidden="true" style={`height:${win.padBottom}px`} />
            )}
            {list.length === 0 && (
              <tr>
                <td colSpan={8} class="empty">
                  No packets yet. Try <code>nc</code> against an endpoint (see the overview).
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {sel
        ? <PacketPane p={sel} previewBytes={props.previewBytes} />
        : <p class="muted small">Select a packet to see its bytes.</p>}
    </section>
  );
}

export default island("packet_log", PacketLog);
