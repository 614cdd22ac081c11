/**
 * The live socket table, as `ss -tanp` or TCPView would show it: every
 * socket of the service's endpoints with the kernel's queues next to the
 * process's own buffers and counters.
 *
 * It stays smooth with thousands of rows: a worker takes the snapshots off
 * the event stream, parses, filters and sorts them, and sends only the rows
 * in view (plus a margin); only those reach the DOM, and rows that did not
 * change are not rendered again. Snapshots are applied at most every
 * half a second, and every 2 s for tables of more than 1,500 rows.
 */
import { Component } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Diagnosis, KernelStatus, SocketRecord } from "../lib/view/api_types.ts";
import { bySocket, rowBadge } from "../lib/view/diagnoses.ts";
import { island } from "../lib/web/island.tsx";
import { fmtAddr, fmtAge, fmtBytes, fmtInt } from "../lib/view/format.ts";
import { postJson, type StreamStatus, useRowWindow } from "./_hooks.ts";
import {
  COLUMNS,
  FIRST_ROWS,
  OPTIONAL_COLUMNS,
  type OptionalColumn,
  processOf,
  retransOf,
  roleOf,
  ROW_HEIGHT,
  shortId,
  type SortKey,
  STATES,
  summarise,
  type TableState,
  type TableView,
  toggleColumn,
  viewColumns,
  viewQuery,
} from "../lib/view/sockets_table.ts";
import type { FromWorker, ToWorker } from "./_sockets_worker.ts";
import { KernelNotice, LiveDot, StateBadge } from "./_ui.tsx";
import { KindBadge } from "./_diagnoses_ui.tsx";

/** Props of the sockets table island. */
export interface SocketsTableProps {
  /** Rows for the first render, already filtered and sorted (at most a screenful or so). */
  sockets: SocketRecord[];
  /** How many rows match the view in all (the first snapshot brings the rest). */
  matching: number;
  /** TIME_WAIT leftovers the view folds into a count. */
  folded: number;
  /** How many sockets there are in all. */
  total: number;
  kernel: KernelStatus;
  view: TableView;
  /** Endpoint names for the filter. */
  endpoints: string[];
  now: number;
}

/** Rows asked of the worker beyond the ones in view. */
const AHEAD = 40;

function Num(
  { n, bytes, title }: { n: number | null | undefined; bytes?: boolean; title?: string },
) {
  if (n === null || n === undefined) return <td class="num muted" title={title}>—</td>;
  return (
    <td class={n > 0 ? "num" : "num zero"} title={bytes ? `${fmtInt(n)} bytes` : title}>
      {bytes ? fmtBytes(n) : fmtInt(n)}
    </td>
  );
}

/** What the column chooser calls each optional column. */
const CHOOSER: Record<OptionalColumn, string> = { rtt: "RTT", retrans: "Retrans", cwnd: "cwnd" };

// RTTs run from tens of microseconds on loopback to hundreds of ms: three significant digits.
function fmtRtt(ms: number): string {
  return ms < 1 ? ms.toFixed(3) : ms < 100 ? ms.toPrecision(3) : ms.toFixed(0);
}

/** The optional columns' cells, in the order {@linkcode viewColumns} puts their headings. */
function extraCells(s: SocketRecord, cols: readonly OptionalColumn[]) {
  const info = s.kernel?.info;
  return cols.map((c) => {
    switch (c) {
      case "rtt":
        return info?.rttMs === undefined ? <td key={c} data-col={c} class="num muted">—</td> : (
          <td
            key={c}
            data-col={c}
            class="num"
            title={`rtt ${info.rttMs} ± ${info.rttVarMs ?? 0} ms`}
          >
            {fmtRtt(info.rttMs)}
          </td>
        );
      case "retrans": {
        const n = retransOf(s);
        if (n === undefined) return <td key={c} data-col={c} class="num muted">—</td>;
        const title = info?.totalRetrans === undefined
          ? `${n} retransmission timeouts in a row`
          : `${n} segments retransmitted in all, ${info.retransmits ?? 0} timeouts in a row now`;
        return (
          <td key={c} data-col={c} class={n > 0 ? "num warn" : "num zero"} title={title}>
            {fmtInt(n)}
          </td>
        );
      }
      case "cwnd":
        return info?.cwnd === undefined ? <td key={c} data-col={c} class="num muted">—</td> : (
          <td
            key={c}
            data-col={c}
            class="num"
            title={`${info.cwnd} segments of ${info.mss ?? "?"} bytes`}
          >
            {fmtInt(info.cwnd)}
          </td>
        );
      default: {
        const never: never = c;
        throw new TypeError(`Unknown column "${never}"`);
      }
    }
  });
}

interface RowProps {
  s: SocketRecord;
  /** The optional columns shown. */
  cols: readonly OptionalColumn[];
  /** Changes whenever the row's data does (the row is memoised on it). */
  version: number;
  /** Extra classes: zebra, new, changed. */
  flash: string;
  age: string;
  /** Inline opacity for TIME_WAIT rows as their timer runs out. */
  fade: string | undefined;
  closing: boolean;
  kernelReason: string | null;
  /** A LISTEN row whose endpoint has the pause-accept fault on. */
  acceptPaused: boolean;
  /** Its active diagnoses as the `diagnoses` event told them (the row carries only kinds). */
  diags: Diagnosis[] | undefined;
  onClose: (id: string) => void;
}

function sameRow(a: RowProps, b: RowProps): boolean {
  return a.s.id === b.s.id && a.version === b.version && a.flash === b.flash &&
    a.cols === b.cols &&
    a.age === b.age && a.fade === b.fade && a.closing === b.closing &&
    a.kernelReason === b.kernelReason && a.acceptPaused === b.acceptPaused &&
    a.diags === b.diags;
}

/** One row, rendered again only when what it shows changed (scrolling moves it untouched). */
class Row extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    return !sameRow(this.props, next);
  }

  override render() {
    return rowCells(this.props);
  }
}

function rowCells(
  { s, cols, flash, age, fade, closing, onClose, kernelReason, acceptPaused, diags }: RowProps,
) {
  const badge = rowBadge(s, diags);
  let cls = `row${flash}`;
  if (!s.ours) cls += " is-peer";
  if (s.state === "TIME_WAIT") cls += " is-timewait";
  if (closing) cls += " is-closing";
  const listen = s.state === "LISTEN";
  const canClose = s.kind === "conn" && s.ours && !s.kernelOnly && s.closedAt === null;
  const noKernel = kernelReason === null ? undefined : `Kernel view unavailable: ${kernelReason}`;
  return (
    <tr class={cls} style={fade} data-id={s.id} data-state={s.state} data-ours={String(s.ours)}>
      <td class="mono">
        <a href={`/sockets/${encodeURIComponent(s.id)}`} title={s.id}>{shortId(s)}</a>
      </td>
      <td>{s.endpoint}</td>
      <td>
        <StateBadge state={s.state} />
      </td>
      <td class="mono">{fmtAddr(s.local)}</td>
      <td class="mono">{s.remote === null ? "*:*" : fmtAddr(s.remote)}</td>
      {listen
        ? (
          <td
            class="num listen-q"
            colSpan={2}
            title="Connections waiting in the accept queue / the backlog it may hold"
          >
            {acceptPaused && (
              <span
                class="badge st-closing"
                data-accept-paused=""
                title="pause-accept fault: connects wait in the accept queue"
              >
                accept paused
              </span>
            )}
            {s.kernel
              ? (
                <>
                  {acceptPaused ? "" : "accept "}
                  {fmtInt(s.kernel.recvQ)} / {fmtInt(s.kernel.sendQ)}
                </>
              )
              : "—"}
          </td>
        )
        : (
          <>
            <Num n={s.kernel?.recvQ} title={noKernel} />
            <Num n={s.kernel?.sendQ} title={noKernel} />
          </>
        )}
      <Num n={s.app?.rxBuffered} bytes />
      <Num n={s.app?.txBuffered} bytes />
      <Num n={s.bytesIn} bytes />
      <Num n={s.bytesOut} bytes />
      <td class="num">{age}</td>
      {extraCells(s, cols)}
      <td
        class={s.ours ? "owner" : "owner peer"}
        title={s.process === undefined
          ? undefined
          : `Held open by ${processOf(s)}, as ss -p names it`}
      >
        {badge !== null && (
          <KindBadge kind={badge.label} severity={badge.severity} title={badge.title} />
        )}
        {roleOf(s)}
        {s.process !== undefined && (
          <>
            {" · "}
            <span class="proc" data-pid={s.process.pid}>{processOf(s)}</span>
          </>
        )}
      </td>
      <td class="act">
        {canClose && (
          <button
            type="button"
            class="btn btn-small btn-danger js-only"
            disabled={closing}
            onClick={() => onClose(s.id)}
            title="Close this connection (as TCPView can)"
          >
            close
          </button>
        )}
      </td>
    </tr>
  );
}

function initialState(props: SocketsTableProps): TableState {
  return {
    kernel: props.kernel,
    updatedAt: props.now,
    total: props.total,
    matching: props.matching,
    folded: props.folded,
    ...summarise(props.sockets, props.endpoints),
    start: 0,
    rows: props.sockets,
    flags: props.sockets.map(() => ({ version: -1, flash: "" })),
    large: false,
    intervalMs: 1000,
    live: false,
  };
}

function SocketsTable(props: SocketsTableProps) {
  const [table, setTable] = useState(() => initialState(props));
  const [view, setView] = useState(props.view);
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [closing, setClosing] = useState<ReadonlySet<string>>(new Set());
  const [error, setError] = useState("");
  const [renderMs, setRenderMs] = useState<number | null>(null);
  const worker = useRef<Worker | null>(null);
  const received = useRef<number | null>(null);
  const asked = useRef({ start: 0, end: 0 });
  const win = useRowWindow(table.matching, ROW_HEIGHT, { initialRows: FIRST_ROWS });
  // Faults are per endpoint, not per socket: the worker reads them from the endpoints event.
  const [paused, setPaused] = useState<ReadonlySet<string>>(new Set());
  // The socket rows carry the kinds; the worker's `diagnoses` events add severity and summary.
  const [diags, setDiags] = useState<ReadonlyMap<string, Diagnosis[]>>(new Map());

  const send = (msg: ToWorker) => worker.current?.postMessage(msg);

  useEffect(() => {
    // The worker sits next to this bundle in static/build/.
    const w = new Worker(new URL("./_sockets_worker.js", import.meta.url), { type: "module" });
    worker.current = w;
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const msg = ev.data;
      if (msg.type === "status") {
        setStatus(msg.status);
        return;
      }
      if (msg.type === "paused") {
        setPaused(new Set(msg.endpoints));
        return;
      }
      if (msg.type === "diagnoses") {
        setDiags(bySocket(msg.active));
        return;
      }
      received.current = performance.now();
      performance.measure("sockscope:sockets-work", {
        start: received.current - msg.workMs,
        duration: msg.workMs,
      });
      setTable(msg.state);
      setClosing((old) =>
        old.size === 0
          ? old
          : new Set([...old].filter((id) => msg.state.rows.some((s) => s.id === id)))
      );
    };
    w.onerror = (ev) => {
      setStatus("down");
      setError(`The table's worker failed: ${ev.message}`);
    };
    const onVisibility = () => send({ type: "visible", visible: !document.hidden });
    document.addEventListener("visibilitychange", onVisibility);
    asked.current = { start: win.start, end: win.end + AHEAD };
    send({ type: "init", view, endpoints: props.endpoints, ...asked.current });
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      w.terminate();
      worker.current = null;
    };
  }, []);

  // Ask for more rows when the window leaves what the worker sent.
  useEffect(() => {
    const have = { start: table.start, end: table.start + table.rows.length };
    const covered = win.start >= have.start && Math.min(win.end, table.matching) <= have.end;
    if (covered || (asked.current.start === win.start && asked.current.end === win.end + AHEAD)) {
      return;
    }
    asked.current = { start: Math.max(0, win.start - AHEAD), end: win.end + AHEAD };
    send({ type: "window", ...asked.current });
  }, [win.start, win.end, table]);

  // Measures each update from the worker's message to the committed DOM.
  useLayoutEffect(() => {
    const t0 = received.current;
    if (t0 === null) return;
    received.current = null;
    const end = performance.now();
    performance.measure("sockscope:sockets-render", { start: t0, end });
    setRenderMs(end - t0);
  }, [table]);

  const changeView = (patch: Partial<TableView>) => showView({ ...view, ...patch });

  const showView = (next: TableView) => {
    setView(next);
    send({ type: "view", view: next });
    history.replaceState(null, "", `${location.pathname}${viewQuery(next)}`);
    if (win.ref.current) win.ref.current.scrollTop = 0;
  };

  const sortBy = (key: SortKey) => {
    const numeric = COLUMNS.find((c) => c.key === key)?.num ?? false;
    changeView(view.sort === key ? { desc: !view.desc } : { sort: key, desc: numeric });
  };

  const closeSocket = useCallback(async (id: string) => {
    setClosing((old) => new Set([...old, id]));
    try {
      await postJson(`/api/sockets/${encodeURIComponent(id)}/close`);
      setError("");
    } catch (err) {
      setError(`Cannot close ${id}: ${(err as Error).message}`);
      setClosing((old) => new Set([...old].filter((x) => x !== id)));
    }
  }, []);

  const columns = viewColumns(view);
  const { kernel, updatedAt, byState, endpoints } = table;
  const counts = new Map(byState);
  const stateOptions = [...new Set([...STATES, ...counts.keys()])];
  const kernelReason = kernel.available ? null : kernel.reason ?? "unknown reason";
  const cells = [];
  for (let i = win.start; i < win.end; i++) {
    const s = table.rows[i - table.start];
    if (s === undefined) {
      // Not sent yet (a fast scroll): an empty row of the same height holds its place.
      cells.push(
        <tr class="row pending" key={`pending-${i}`}>
          <td colSpan={columns.length + 1} />
        </tr>,
      );
      continue;
    }
    const f = table.flags[i - table.start];
    // TIME_WAIT rows fade as the kernel's timer runs out (60 s on Linux).
    const left = s.state === "TIME_WAIT" ? s.kernel?.info?.timerMs : undefined;
    cells.push(
      <Row
        key={s.id}
        s={s}
        cols={view.cols}
        version={f.version}
        flash={(i % 2 === 1 ? " odd" : "") + f.flash}
        age={s.openedAt === null ? "—" : fmtAge(updatedAt - s.openedAt)}
        fade={left === undefined
          ? undefined
          : `opacity:${(0.3 + 0.55 * Math.min(1, left / 60000)).toFixed(2)}`}
        closing={closing.has(s.id)}
        kernelReason={kernelReason}
        acceptPaused={s.kind === "listener" && paused.has(s.endpoint)}
        diags={diags.get(s.id)}
        onClose={closeSocket}
      />,
    );
  }

  return (
    <section class="sockets">
      <form
        class="toolbar filters"
        method="get"
        action="/sockets"
        onSubmit={(e) => e.preventDefault()}
      >
        <label>
          Endpoint{" "}
          <select
            name="endpoint"
            value={view.endpoint}
            onChange={(e) => changeView({ endpoint: e.currentTarget.value })}
          >
            <option value="">all</option>
            {endpoints.map((e) => <option value={e} key={e}>{e}</option>)}
          </select>
        </label>
        <label>
          State{" "}
          <select
            name="state"
            value={view.state}
            onChange={(e) => changeView({ state: e.currentTarget.value })}
          >
            <option value="">all</option>
            {stateOptions.map((s) => (
              <option value={s} key={s}>
                {s}
                {counts.has(s) ? ` (${counts.get(s)})` : ""}
              </option>
            ))}
          </select>
        </label>
        <label>
          Address or id{" "}
          <input
            name="q"
            type="search"
            value={view.q}
            placeholder="e.g. :65432, nc"
            size={14}
            onInput={(e) => changeView({ q: e.currentTarget.value })}
          />
        </label>
        <fieldset class="col-chooser" title="Optional columns: the kernel's tcp_info, as ss -ti">
          <legend>Columns</legend>
          {OPTIONAL_COLUMNS.map((c) => (
            <label key={c}>
              <input
                type="checkbox"
                name="cols"
                value={c}
                checked={view.cols.includes(c)}
                onChange={(e) => showView(toggleColumn(view, c, e.currentTarget.checked))}
              />{" "}
              {CHOOSER[c]}
            </label>
          ))}
        </fieldset>
        <input type="hidden" name="sort" value={view.sort} />
        {view.desc && <input type="hidden" name="dir" value="desc" />}
        {view.timeWait && <input type="hidden" name="tw" value="show" />}
        <button type="submit" class="btn nojs-only">Apply</button>
        <span class="spacer" />
        <span class="muted small mono" data-row-count={table.live ? table.matching : undefined}>
          {fmtInt(table.matching)} of {fmtInt(table.total)} sockets
          {table.intervalMs > 1000 &&
            ` · every ${Number((table.intervalMs / 1000).toPrecision(2))} s`}
          {renderMs !== null && ` · render ${renderMs.toFixed(1)} ms`}
        </span>
        <LiveDot status={status} />
      </form>
      <div class="chips">
        {byState.map(([st, n]) => (
          <button
            type="button"
            key={st}
            class={view.state === st ? "chip on" : "chip"}
            onClick={() => changeView({ state: view.state === st ? "" : st })}
          >
            <StateBadge state={st} /> {fmtInt(n)}
          </button>
        ))}
      </div>
      {(table.folded > 0 || view.timeWait) && (
        <p class="folded small muted" data-timewait-folded={view.timeWait ? "shown" : table.folded}>
          {view.timeWait
            ? "TIME_WAIT sockets only the kernel holds are listed. "
            : `${fmtInt(table.folded)} TIME_WAIT socket${
              table.folded === 1 ? "" : "s"
            } only the kernel holds (peers' and ours after a close; the kernel keeps no byte counts for them) `}
          <a
            href={`/sockets${viewQuery({ ...view, timeWait: !view.timeWait })}`}
            onClick={(e) => {
              e.preventDefault();
              changeView({ timeWait: !view.timeWait });
            }}
          >
            {view.timeWait ? "(fold)" : "(show)"}
          </a>
        </p>
      )}
      <KernelNotice kernel={kernel} />
      {error && <p class="banner bad">{error}</p>}
      <div class="table-scroll" ref={win.ref} onScroll={win.onScroll}>
        <table
          class={view.cols.length > 0 ? "grid sock-table has-extra" : "grid sock-table"}
          data-cols={view.cols.join(",")}
        >
          <colgroup>
            {columns.map((c) => <col key={c.key} class={c.width} />)}
            <col class="w-act" />
          </colgroup>
          <thead>
            <tr>
              {columns.map((c) => (
                <th
                  key={c.key}
                  class={c.num ? "num" : undefined}
                  data-col={c.key}
                  title={c.title}
                  aria-sort={view.sort === c.key
                    ? (view.desc ? "descending" : "ascending")
                    : undefined}
                >
                  <button type="button" class="th-sort" onClick={() => sortBy(c.key)}>
                    {c.label}
                    <span class="sort-mark" aria-hidden="true">
                      {view.sort === c.key ? (view.desc ? "▼" : "▲") : ""}
                    </span>
                  </button>
                </th>
              ))}
              <th aria-label="Actions" />
            </tr>
          </thead>
          <tbody>
            {win.padTop > 0 && (
              <tr class="spacer-row" aria-hidden="true" style={`height:${win.padTop}px`} />
            )}
            {cells}
            {win.padBottom > 0 && (
              <tr class="spacer-row" aria-hidden="true" style={`height:${win.padBottom}px`} />
            )}
            {table.matching === 0 && (
              <tr>
                <td colSpan={columns.length + 1} class="empty">No sockets match.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {!table.live && table.matching > table.rows.length && (
        <p class="muted small nojs-only">
          Showing the first {fmtInt(table.rows.length)} of {fmtInt(table.matching)}{" "}
          rows; the live table loads the rest.
        </p>
      )}
    </section>
  );
}

export default island("sockets_table", SocketsTable);
