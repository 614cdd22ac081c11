/**
 * The socket table's model, pure and shared by the page (server render), the
 * island and its worker: filtering, sorting, and the bookkeeping that
 * highlights new and changed rows. No DOM, no Deno.
 */
import { type SocketFilter, socketMatcher } from "./socket_filter.ts";
import type { KernelStatus, SocketRecord } from "./api_types.ts";
import type { SocketState } from "../net/types.ts";

/** Columns the table sorts by. */
export type SortKey =
  | "id"
  | "endpoint"
  | "state"
  | "local"
  | "remote"
  | "recvQ"
  | "sendQ"
  | "rx"
  | "tx"
  | "bytesIn"
  | "bytesOut"
  | "age"
  | "owner"
  | OptionalColumn;

/**
 * The columns a view may add, off by default (`?cols=rtt,retrans,cwnd`): the kernel's
 * tcp_info for each TCP socket, as `ss -ti` prints it.
 */
export type OptionalColumn = "rtt" | "retrans" | "cwnd";

/** The optional columns in the order the table shows them. */
export const OPTIONAL_COLUMNS: readonly OptionalColumn[] = ["rtt", "retrans", "cwnd"];

/** The table's filter and sort, as the page's query string carries them. */
export interface TableView {
  endpoint: string;
  state: string;
  q: string;
  sort: SortKey;
  desc: boolean;
  /**
   * Lists the TIME_WAIT sockets only the kernel holds (peers' and our leftovers, 0 bytes each,
   * dozens after a few `nc` runs); otherwise they fold into a count. The TIME_WAIT state filter
   * lists them too.
   */
  timeWait: boolean;
  /** The optional columns shown, in {@linkcode OPTIONAL_COLUMNS} order; none by default. */
  cols: OptionalColumn[];
}

/** Pixel height of one row; the stylesheet fixes it so the window can be computed. */
export const ROW_HEIGHT = 24;
/** Rows rendered before the browser measures the viewport (and on the server). */
export const FIRST_ROWS = 60;
/** Rendering is throttled to this interval however fast events come. */
export const MIN_UPDATE_MS = 500;
/** A row counts as new this long after it first appears. */
export const NEW_MS = 3000;
/** A changed row is highlighted this long. */
export const CHANGED_MS = 1500;
/**
 * The states the filter offers before any socket is in them, in the order a
 * connection meets them (any other state is offered while a row has it).
 */
export const STATES: readonly SocketState[] = [
  "LISTEN",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "CLOSE_WAIT",
  "LAST_ACK",
  "CLOSING",
  "TIME_WAIT",
  "UNCONN",
];

/** One column of the table: sort key, heading, what it means, its width class. */
export interface Column {
  key: SortKey;
  label: string;
  title: string;
  /** Right-aligned numbers, sorted largest first on the first click. */
  num?: boolean;
  /** The `<col>` class that sizes it (static/styles.css). */
  width: string;
  /** Shown only when the view asks for it. */
  optional?: boolean;
}

/** The table's columns, every one, optional ones included (see {@linkcode viewColumns}). */
export const COLUMNS: readonly Column[] = [
  { key: "id", width: "w-id", label: "ID", title: "Connection id: open its detail" },
  {
    key: "endpoint",
    width: "w-ep",
    label: "Endpoint",
    title: "The service endpoint the socket belongs to",
  },
  { key: "state", width: "w-state", label: "State", title: "TCP state as the kernel names it" },
  { key: "local", width: "w-addr", label: "Local", title: "The socket's own address" },
  { key: "remote", width: "w-addr", label: "Remote", title: "The address it talks to" },
  {
    key: "recvQ",
    width: "w-q",
    label: "Recv-Q",
    num: true,
    title: "Kernel: bytes received but not yet read by the process (LISTEN: accept queue)",
  },
  {
    key: "sendQ",
    width: "w-q",
    label: "Send-Q",
    num: true,
    title: "Kernel: bytes written but not yet acknowledged by the peer (LISTEN: backlog)",
  },
  {
    key: "rx",
    width: "w-app",
    label: "App rx",
    num: true,
    title: "Process: bytes read from the socket but not yet parsed or handled",
  },
  {
    key: "tx",
    width: "w-app",
    label: "App tx",
    num: true,
    title: "Process: bytes it wants to write that the kernel has not taken yet",
  },
  { key: "bytesIn", width: "w-n", label: "In", num: true, title: "Bytes read by this socket" },
  { key: "bytesOut", width: "w-n", label: "Out", num: true, title: "Bytes written by this socket" },
  {
    key: "age",
    width: "w-age",
    label: "Age",
    num: true,
    title: "Time since the connection opened",
  },
  {
    key: "rtt",
    width: "w-rtt",
    label: "RTT ms",
    num: true,
    optional: true,
    title: "Kernel tcp_info: smoothed round-trip time ± its variation, ms (ss -ti rtt:)",
  },
  {
    key: "retrans",
    width: "w-rtx",
    label: "Retrans",
    num: true,
    optional: true,
    title: "Kernel tcp_info: segments retransmitted over the connection's life (ss -ti retrans:)",
  },
  {
    key: "cwnd",
    width: "w-cwnd",
    label: "cwnd",
    num: true,
    optional: true,
    title: "Kernel tcp_info: congestion window, in segments (ss -ti cwnd:)",
  },
  {
    key: "owner",
    width: "w-owner",
    label: "Owner",
    title: "Its role (ours: server, client, listener; a peer's; kernel-only) and the process " +
      "holding it, as ss -p names it",
  },
];

/** The columns a view shows: the fixed ones and the optional ones it asks for. */
export function viewColumns(view: Pick<TableView, "cols">): Column[] {
  return COLUMNS.filter((c) => !c.optional || view.cols.includes(c.key as OptionalColumn));
}

/** A socket's role: ours (server, client, listener, …), a peer's, or one only the kernel holds. */
export function roleOf(s: SocketRecord): string {
  if (!s.ours) return "peer";
  if (s.kernelOnly) return "kernel only";
  return s.role ?? (s.kind === "listener" ? "listener" : s.kind);
}

/** The process holding a socket as the Owner column names it (`nc (pid 12345)`), or "". */
export function processOf(s: SocketRecord): string {
  const p = s.process;
  return p === undefined ? "" : `${p.command} (pid ${p.pid})`;
}

/** Who holds a socket, as the Owner column says it: its role, and its process where known. */
export function ownerOf(s: SocketRecord): string {
  const role = roleOf(s);
  return s.process === undefined ? role : `${role} · ${processOf(s)}`;
}

/**
 * The retransmits the Retrans column shows: tcp_info's total over the connection's life
 * where the source has it, else the current run of timeouts (/proc/net/tcp's `retrnsmt`).
 */
export function retransOf(s: SocketRecord): number | undefined {
  const info = s.kernel?.info;
  return info?.totalRetrans ?? info?.retransmits;
}

/** The id column's text: kernel and peer rows have long ids, shown by their local port. */
export function shortId(s: SocketRecord): string {
  if (s.kind === "peer") return `peer:${s.local.port}`;
  if (s.kind === "kernel") return `kern:${s.local.port}`;
  return s.id;
}

function addrSortKey(a: SocketRecord["local"] | null): string {
  return a === null ? "" : `${a.hostname}:${String(a.port).padStart(5, "0")}`;
}

function sortValue(s: SocketRecord, key: SortKey, now: number): number | string {
  switch (key) {
    case "id":
      return s.id;
    case "endpoint":
      return s.endpoint;
    case "state":
      return s.state;
    case "local":
      return addrSortKey(s.local);
    case "remote":
      return addrSortKey(s.remote);
    case "recvQ":
      return s.kernel?.recvQ ?? -1;
    case "sendQ":
      return s.kernel?.sendQ ?? -1;
    case "rx":
      return s.app?.rxBuffered ?? -1;
    case "tx":
      return s.app?.txBuffered ?? -1;
    case "bytesIn":
      return s.bytesIn;
    case "bytesOut":
      return s.bytesOut;
    case "age":
      return s.openedAt === null ? -1 : now - s.openedAt;
    case "owner":
      return ownerOf(s);
    // Rows without tcp_info (UDP, listeners before any RTT, no kernel view) sort below zero.
    case "rtt":
      return s.kernel?.info?.rttMs ?? -1;
    case "retrans":
      return retransOf(s) ?? -1;
    case "cwnd":
      return s.kernel?.info?.cwnd ?? -1;
    default: {
      const never: never = key;
      throw new TypeError(`Unknown sort key "${never}"`);
    }
  }
}

// Listeners first, then by when they opened: the order `ss` roughly keeps.
function baseOrder(a: SocketRecord, b: SocketRecord): number {
  const la = a.kind === "listener" || a.kind === "udp" ? 0 : 1;
  const lb = b.kind === "listener" || b.kind === "udp" ? 0 : 1;
  if (la !== lb) return la - lb;
  return (a.openedAt ?? Infinity) - (b.openedAt ?? Infinity) || (a.id < b.id ? -1 : 1);
}

/** A TIME_WAIT socket only the kernel holds: a peer's, or ours after we closed. */
export function isLeftover(s: SocketRecord): boolean {
  return s.state === "TIME_WAIT" && (s.kind === "peer" || s.kind === "kernel");
}

function folds(view: TableView): boolean {
  return !view.timeWait && view.state !== "TIME_WAIT";
}

/** The view's filter as {@linkcode socketMatcher} takes it (the fold aside). */
export function viewFilter(view: TableView): SocketFilter {
  return {
    endpoint: view.endpoint === "" ? undefined : view.endpoint,
    states: view.state === "" ? undefined : [view.state],
    text: view.q,
  };
}

/**
 * The rows a view shows, filtered and sorted (pure: the page and the island share it);
 * TIME_WAIT leftovers fold away unless the view lists them (see {@linkcode foldedCount}).
 */
export function viewRows(
  sockets: readonly SocketRecord[],
  view: TableView,
  now: number,
): SocketRecord[] {
  const matches = socketMatcher(viewFilter(view));
  const fold = folds(view);
  const rows = sockets.filter((s) => matches(s) && !(fold && isLeftover(s)));
  const dir = view.desc ? -1 : 1;
  const keyed = rows.map((s) => ({ s, k: sortValue(s, view.sort, now) }));
  keyed.sort((a, b) => a.k < b.k ? -dir : a.k > b.k ? dir : baseOrder(a.s, b.s));
  return keyed.map((x) => x.s);
}

/** How many TIME_WAIT leftovers the view's other filters match but {@linkcode viewRows} folds away. */
export function foldedCount(sockets: readonly SocketRecord[], view: TableView): number {
  if (!folds(view)) return 0;
  const matches = socketMatcher(viewFilter(view));
  let n = 0;
  for (const s of sockets) if (isLeftover(s) && matches(s)) n++;
  return n;
}

/**
 * The optional columns a query string asks for: `cols=rtt,retrans` as a link writes it, or
 * `cols=rtt&cols=retrans` as the page's form sends its checkboxes without script; names
 * matched case-insensitively, unknown ones ignored, in {@linkcode OPTIONAL_COLUMNS} order.
 */
export function parseCols(params: URLSearchParams): OptionalColumn[] {
  const asked = new Set(
    params.getAll("cols").flatMap((v) => v.split(",")).map((c) => c.trim().toLowerCase()),
  );
  return OPTIONAL_COLUMNS.filter((c) => asked.has(c));
}

/** The view with one optional column shown or hidden; sorting by a column it hides resets. */
export function toggleColumn(view: TableView, col: OptionalColumn, on: boolean): TableView {
  const cols = OPTIONAL_COLUMNS.filter((c) => c === col ? on : view.cols.includes(c));
  const hidesSort = !on && view.sort === col;
  return {
    ...view,
    cols,
    sort: hidesSort ? "endpoint" : view.sort,
    desc: hidesSort ? false : view.desc,
  };
}

/** Parses the table's view from a page URL, with defaults for anything missing or unknown. */
export function parseView(url: URL): TableView {
  const sort = url.searchParams.get("sort") ?? "endpoint";
  const cols = parseCols(url.searchParams);
  // A sort by a column the view does not show would order rows by something invisible.
  const known = viewColumns({ cols }).some((c) => c.key === sort);
  return {
    endpoint: url.searchParams.get("endpoint") ?? "",
    state: (url.searchParams.get("state") ?? "").toUpperCase(),
    q: url.searchParams.get("q") ?? "",
    sort: known ? sort as SortKey : "endpoint",
    desc: url.searchParams.get("dir") === "desc",
    timeWait: url.searchParams.get("tw") === "show",
    cols,
  };
}

/** The view as the page's query string, defaults left out (empty, or starting with `?`). */
export function viewQuery(view: TableView): string {
  const p = new URLSearchParams();
  if (view.endpoint) p.set("endpoint", view.endpoint);
  if (view.state) p.set("state", view.state);
  if (view.q) p.set("q", view.q);
  if (view.sort !== "endpoint") p.set("sort", view.sort);
  if (view.desc) p.set("dir", "desc");
  if (view.timeWait) p.set("tw", "show");
  if (view.cols.length > 0) p.set("cols", view.cols.join(","));
  // Commas stay as written, so the link reads ?cols=rtt,retrans,cwnd.
  const s = p.toString().replaceAll("%2C", ",");
  return s ? `?${s}` : "";
}

/** Above this many rows the table asks for a snapshot every 2 s instead of every second. */
export const LARGE_TABLE = 1500;

/** What the table remembers about a row between snapshots. */
interface RowMeta {
  seenAt: number;
  changedAt: number;
  /** Bumped on every change, so a memoised row knows to render again. */
  version: number;
  /** Bumped on the changes that highlight the row; its parity alternates the highlight. */
  flashes: number;
  /** The snapshot generation that last listed it; older ones are forgotten. */
  gen: number;
  state: string;
  bytesIn: number;
  bytesOut: number;
  recvQ: number | undefined;
  sendQ: number | undefined;
  rx: number | undefined;
  tx: number | undefined;
  rtt: number | undefined;
  retrans: number | undefined;
  cwnd: number | undefined;
  pid: number | undefined;
  /** The diagnoses' kinds, joined. */
  diag: string | undefined;
}

function differs(m: RowMeta, s: SocketRecord): boolean {
  return m.state !== s.state || m.bytesIn !== s.bytesIn || m.bytesOut !== s.bytesOut ||
    m.recvQ !== s.kernel?.recvQ || m.sendQ !== s.kernel?.sendQ ||
    m.rx !== s.app?.rxBuffered || m.tx !== s.app?.txBuffered;
}

// Changes the row shows but that do not highlight it: tcp_info moves on every ACK, the
// owner appears once the kernel view's scan finds it, a diagnosis badge comes and goes.
function differsQuietly(m: RowMeta, s: SocketRecord): boolean {
  const info = s.kernel?.info;
  return m.rtt !== info?.rttMs || m.retrans !== retransOf(s) || m.cwnd !== info?.cwnd ||
    m.pid !== s.process?.pid || m.diag !== s.diagnoses?.join();
}

function remember(m: RowMeta, s: SocketRecord): void {
  m.state = s.state;
  m.bytesIn = s.bytesIn;
  m.bytesOut = s.bytesOut;
  m.recvQ = s.kernel?.recvQ;
  m.sendQ = s.kernel?.sendQ;
  m.rx = s.app?.rxBuffered;
  m.tx = s.app?.txBuffered;
  m.rtt = s.kernel?.info?.rttMs;
  m.retrans = retransOf(s);
  m.cwnd = s.kernel?.info?.cwnd;
  m.pid = s.process?.pid;
  m.diag = s.diagnoses?.join();
}

/** How a row is drawn beyond its data: its version (for memoising) and its highlight. */
export interface RowFlags {
  /** -1 for rows the server rendered before any snapshot. */
  version: number;
  /** `" is-new"`, `" chg-a"`, `" chg-b"` (alternating, so a repeated change flashes again) or `""`. */
  flash: string;
}

/** Tracks rows across snapshots: which are new, which changed, and when. */
export class RowTracker {
  #meta = new Map<string, RowMeta>();
  #gen = 0;
  #version = 0;

  /** Takes a snapshot taken at `now` (epoch ms). */
  update(sockets: readonly SocketRecord[], now: number): void {
    const g = ++this.#gen;
    for (const s of sockets) {
      const m = this.#meta.get(s.id);
      if (m === undefined) {
        const fresh = {
          // Rows there when the page opened are not "new".
          seenAt: g === 1 ? 0 : now,
          changedAt: 0,
          version: ++this.#version,
          flashes: 0,
          gen: g,
        } as RowMeta;
        remember(fresh, s);
        this.#meta.set(s.id, fresh);
      } else {
        m.gen = g;
        if (differs(m, s)) {
          remember(m, s);
          m.changedAt = now;
          m.version = ++this.#version;
          m.flashes++;
        } else if (differsQuietly(m, s)) {
          remember(m, s);
          m.version = ++this.#version;
        }
      }
    }
    for (const [id, m] of this.#meta) if (m.gen !== g) this.#meta.delete(id);
  }

  /** The flags of one row as of `now`. */
  flags(id: string, now: number): RowFlags {
    const m = this.#meta.get(id);
    if (m === undefined) return { version: -1, flash: "" };
    const flash = now - m.seenAt < NEW_MS
      ? " is-new"
      : now - m.changedAt < CHANGED_MS
      ? (m.flashes % 2 ? " chg-a" : " chg-b")
      : "";
    return { version: m.version, flash };
  }
}

/** The state filter's counts: rows per state, most first; and every endpoint seen. */
export function summarise(
  sockets: readonly SocketRecord[],
  known: readonly string[],
): { byState: [string, number][]; endpoints: string[] } {
  const states = new Map<string, number>();
  const endpoints = new Set(known);
  for (const s of sockets) {
    states.set(s.state, (states.get(s.state) ?? 0) + 1);
    endpoints.add(s.endpoint);
  }
  return { byState: [...states].sort((a, b) => b[1] - a[1]), endpoints: [...endpoints] };
}

/** What the table shows: the counts, and the rows of one window of the sorted, filtered list. */
export interface TableState {
  kernel: KernelStatus;
  /** When the snapshot was taken (epoch ms); ages count from it. */
  updatedAt: number;
  total: number;
  matching: number;
  /** TIME_WAIT leftovers folded into a count rather than listed. */
  folded: number;
  byState: [string, number][];
  endpoints: string[];
  /** Index of `rows[0]` in the matching rows. */
  start: number;
  rows: SocketRecord[];
  flags: RowFlags[];
  /** Snapshots come every 2 s rather than 1 s. */
  large: boolean;
  /**
   * The server's interval between snapshots, ms: what was asked for, or longer when a
   * snapshot of a table this large costs more than the server's budget for them.
   */
  intervalMs: number;
  /** False while only the server's first rows are known. */
  live: boolean;
}
