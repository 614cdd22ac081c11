/**
 * The diagnoses' view model, pure and shared by the pages (server render) and
 * the islands: what each kind means in plain words, how the `diagnoses` event
 * of `/api/events` updates a list, and what the badges, panels and the
 * /diagnoses page show. No DOM, no Deno.
 */
import type { Diagnosis, DiagnosisKind, ScenarioRun, Severity, SocketRecord } from "./api_types.ts";
import type { DiagnosesEvent } from "./live_events.ts";

/** What a kind means, for people who have not met it yet. */
export interface KindInfo {
  /** A short name, a few words. */
  title: string;
  /** The situation in plain words, and what the service looks at. */
  explanation: string;
  /** Its usual severity (time-wait-pileup turns `problem` at half the port range). */
  severity: Severity;
}

/** Every kind in plain words, in the order lib/diagnoses/types.ts lists them. */
export const KIND_INFO: Readonly<Record<DiagnosisKind, KindInfo>> = {
  "peer-not-reading": {
    title: "The other end stopped reading",
    explanation: "We keep writing but the peer does not read: its receive window closes to " +
      "zero, our Send-Q fills and stays full, and our writes block. Seen from the kernel's " +
      "queues and tcp_info (zero send window, persist timer) and the app's unsent bytes.",
    severity: "warning",
  },
  "service-not-reading": {
    title: "The service stopped reading",
    explanation: "Bytes arrive but our side does not read them: the Recv-Q grows to its " +
      "limit and we advertise a zero window, so the sender stalls. The stall fault and a " +
      "busy handler cause it.",
    severity: "problem",
  },
  "accept-queue-overflow": {
    title: "Connects arrive faster than they are accepted",
    explanation: "A listener's accept queue is full at its backlog, so the kernel drops " +
      "new SYNs (ListenOverflows / ListenDrops in /proc/net/netstat) and clients retry " +
      "after a second or more.",
    severity: "problem",
  },
  "nagle-delayed-ack": {
    title: "Nagle meets the delayed ACK (~40 ms stalls)",
    explanation: "A client writes a request in two small writes with Nagle on: the second " +
      "waits until the first is acknowledged, and the receiver delays that ACK by ~40 ms. " +
      "Requests take ~40 ms instead of well under one.",
    severity: "warning",
  },
  "peer-vanished": {
    title: "The peer is gone without a goodbye",
    explanation: "The other end vanished without FIN or RST (cable pulled, host down): our " +
      "retransmissions or probes go unanswered and the kernel backs off, until it gives up " +
      "minutes later.",
    severity: "warning",
  },
  "retransmissions": {
    title: "Segments are lost on the path",
    explanation: "The kernel resends segments the peer did not acknowledge in time: loss or " +
      "congestion on the way. Counted from tcp_info (total retransmits less D-SACKed " +
      "duplicates) against the data segments sent.",
    severity: "warning",
  },
  "reset-with-unread-data": {
    title: "A close with unread data became a reset",
    explanation: "A socket closed while received data was still unread, so the kernel sent " +
      'RST instead of FIN: the other side gets "connection reset" and may lose what it ' +
      "sent last. The classic client that sends and closes at once.",
    severity: "warning",
  },
  "time-wait-pileup": {
    title: "TIME_WAIT sockets pile up",
    explanation: "Many short connections closed from this side leave TIME_WAIT sockets for " +
      "60 s each; enough of them use up the ephemeral port range and new connects fail.",
    severity: "warning",
  },
  "udp-receive-drops": {
    title: "UDP datagrams dropped before they were read",
    explanation: "Datagrams arrive faster than the socket is read, its receive buffer fills " +
      "and the kernel drops the rest (SK_MEMINFO_DROPS, Udp RcvbufErrors). UDP says nothing " +
      "to the sender.",
    severity: "problem",
  },
};

/** Every kind, in {@linkcode KIND_INFO}'s order (the engine's; a unit test holds them equal). */
export const KINDS: readonly DiagnosisKind[] = Object.keys(KIND_INFO) as DiagnosisKind[];

/** Most cleared diagnoses a page keeps (the engine keeps 200). */
export const KEEP_CLEARED = 200;

/** How much a severity weighs, for sorting and for a badge's colour. */
const WEIGHT: Record<Severity, number> = { info: 0, warning: 1, problem: 2 };

/** The worse of the severities given; `info` for none. */
export function worstSeverity(severities: Iterable<Severity>): Severity {
  let worst: Severity = "info";
  for (const s of severities) if (WEIGHT[s] > WEIGHT[worst]) worst = s;
  return worst;
}

/** The stylesheet's class for a severity (`sev-info`, `sev-warning`, `sev-problem`). */
export function severityClass(severity: Severity): string {
  return `sev-${severity}`;
}

/**
 * Applies one `diagnoses` event to a list of diagnoses (active and cleared): a snapshot
 * replaces the active ones and keeps the cleared ones, `appear` adds, `clear` replaces by
 * id. Cleared ones beyond `keepCleared` go, oldest first. Returns a new list, oldest first,
 * or `list` itself when nothing changed.
 */
export function applyDiagnosesEvent(
  list: readonly Diagnosis[],
  event: DiagnosesEvent,
  keepCleared = KEEP_CLEARED,
): readonly Diagnosis[] {
  const byId = new Map(list.map((d) => [d.id, d]));
  if (event.change === "snapshot") {
    const fresh = new Set(event.diagnoses.map((d) => d.id));
    // An active one the snapshot no longer has cleared while the stream was away.
    for (const [id, d] of byId) if (d.until === null && !fresh.has(id)) byId.delete(id);
  } else if (event.diagnoses.length === 0) {
    return list;
  }
  for (const d of event.diagnoses) byId.set(d.id, d);
  const all = [...byId.values()].sort((a, b) => a.since - b.since || cmp(a.id, b.id));
  let cleared = all.filter((d) => d.until !== null).length;
  return all.filter((d) => d.until === null || cleared-- <= keepCleared);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The active ones of a list, worst first, then newest first. */
export function activeOf(list: readonly Diagnosis[]): Diagnosis[] {
  return list.filter((d) => d.until === null).sort((a, b) =>
    WEIGHT[b.severity] - WEIGHT[a.severity] || b.since - a.since
  );
}

/** The active diagnoses of each socket (diagnoses of a whole endpoint have none). */
export function bySocket(list: readonly Diagnosis[]): Map<string, Diagnosis[]> {
  const out = new Map<string, Diagnosis[]>();
  for (const d of activeOf(list)) {
    if (d.socket === null) continue;
    const l = out.get(d.socket);
    if (l === undefined) out.set(d.socket, [d]);
    else l.push(d);
  }
  return out;
}

/**
 * The diagnoses a connection page shows for socket `id`: the active ones first (worst
 * first), then the cleared ones, newest first, at most `limit` of those.
 */
export function forSocket(list: readonly Diagnosis[], id: string, limit = 20): Diagnosis[] {
  const mine = list.filter((d) => d.socket === id);
  const active = activeOf(mine);
  const cleared = mine.filter((d) => d.until !== null).sort((a, b) => b.until! - a.until!);
  return [...active, ...cleared.slice(0, limit)];
}

/** What a socket row's badge shows. */
export interface RowBadge {
  /** The kinds, the worst first. */
  kinds: DiagnosisKind[];
  /** The badge's text: the first kind, and `+N` for the others. */
  label: string;
  severity: Severity;
  /** The tooltip: each diagnosis's kind and summary, one a line. */
  title: string;
}

/**
 * The badge of a socket row, from the active diagnoses the event stream told about it and
 * the kinds the row itself carries (the snapshot's, e.g. before the stream is up); null when
 * neither has any.
 */
export function rowBadge(
  s: Pick<SocketRecord, "diagnoses">,
  active: readonly Diagnosis[] | undefined,
): RowBadge | null {
  const diags = active ?? [];
  const kinds: DiagnosisKind[] = [];
  const lines: string[] = [];
  const severities: Severity[] = [];
  for (const d of diags) {
    if (!kinds.includes(d.kind)) kinds.push(d.kind);
    lines.push(`${d.kind} (${d.severity}): ${d.summary}`);
    severities.push(d.severity);
  }
  for (const k of s.diagnoses ?? []) {
    if (kinds.includes(k)) continue;
    kinds.push(k);
    lines.push(`${k}: ${KIND_INFO[k].title}`);
    severities.push(KIND_INFO[k].severity);
  }
  if (kinds.length === 0) return null;
  return {
    kinds,
    label: kinds.length === 1 ? kinds[0] : `${kinds[0]} +${kinds.length - 1}`,
    severity: worstSeverity(severities),
    title: `${lines.join("\n")}\nOpen the socket for the evidence and advice.`,
  };
}

/** An evidence value as a table cell shows it: numbers grouped, text as given. */
export function evidenceValue(value: number | string): string {
  if (typeof value === "string") return value;
  if (!Number.isFinite(value)) return String(value);
  return Number.isInteger(value)
    ? value.toLocaleString("en-US").replaceAll(",", " ")
    : String(Math.round(value * 100) / 100);
}

/** One kind's line on the /diagnoses page. */
export interface KindRow {
  kind: DiagnosisKind;
  info: KindInfo;
  /** Its active diagnoses, worst and newest first. */
  active: Diagnosis[];
  /** The severity to colour it with: the worst active one's, else the kind's usual one. */
  severity: Severity;
  /** Its diagnoses that cleared, newest first, at most `historyLimit`. */
  history: Diagnosis[];
  /** Its scenario and latest run, or null when the server did not list one. */
  scenario: ScenarioRun | null;
}

/** Every kind's line on the /diagnoses page, in `kinds` order. */
export function kindRows(
  kinds: readonly DiagnosisKind[],
  list: readonly Diagnosis[],
  scenarios: readonly ScenarioRun[],
  historyLimit = 5,
): KindRow[] {
  return kinds.map((kind) => {
    const mine = list.filter((d) => d.kind === kind);
    const active = activeOf(mine);
    return {
      kind,
      info: KIND_INFO[kind],
      active,
      severity: active.length > 0 ? active[0].severity : KIND_INFO[kind].severity,
      history: mine.filter((d) => d.until !== null).sort((a, b) => b.until! - a.until!)
        .slice(0, historyLimit),
      scenario: scenarios.find((s) => s.kind === kind) ?? null,
    };
  });
}

/** Where a diagnosis points: its socket's page, or the socket table of its endpoint. */
export function diagnosisHref(d: Pick<Diagnosis, "socket" | "endpoint">): string | null {
  if (d.socket !== null) return `/sockets/${encodeURIComponent(d.socket)}`;
  if (d.endpoint !== null) return `/sockets?endpoint=${encodeURIComponent(d.endpoint)}`;
  return null;
}

/** How a reproduce run went, as the /diagnoses page tells it. */
export interface RunProgress {
  /** Its kind's diagnoses since the run started, oldest first. */
  seen: Diagnosis[];
  /** Milliseconds from the start to the first appearance, null before it. */
  appearedAfterMs: number | null;
  /** Milliseconds from the start until all of them cleared, null while any is active or none came. */
  clearedAfterMs: number | null;
  /** A line for the page: where the run stands. */
  text: string;
}

/**
 * Where a reproduce run stands against the diagnoses of its kind: waiting for the evidence,
 * appeared (after how long), cleared. The diagnosis appears once its condition held 1 s
 * and clears 3 s after it ends (lib/diagnoses/engine.ts), so it outlives the run a little.
 */
export function runProgress(run: ScenarioRun, list: readonly Diagnosis[]): RunProgress | null {
  if (run.startedAt === null) return null;
  const started = run.startedAt;
  // A diagnosis still active when the run started counts too: the run keeps it going.
  const seen = list.filter((d) =>
    d.kind === run.kind && (d.until === null || d.until >= started) && d.since >= started - 60_000
  ).sort((a, b) => a.since - b.since);
  const first = seen.length > 0 ? Math.max(0, seen[0].since - started) : null;
  const active = seen.some((d) => d.until === null);
  const cleared = seen.length > 0 && !active
    ? Math.max(...seen.map((d) => d.until!)) - started
    : null;
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  let text: string;
  if (run.state === "running" && first === null) {
    text = "running: the evidence is building, waiting for the diagnosis…";
  } else if (first === null) {
    text = run.state === "failed"
      ? `failed: ${run.note ?? "no reason given"}`
      : "ended without the diagnosis appearing";
  } else if (active) {
    text = `appeared ${secs(first)} after the start; active` +
      (run.state === "running" ? " while the scenario runs" : ", clearing once the situation ends");
  } else {
    text = `appeared ${secs(first)} after the start, cleared ${secs(cleared!)} after it`;
  }
  return { seen, appearedAfterMs: first, clearedAfterMs: cleared, text };
}
