/**
 * Launches the multiconn client from the page (through the server's own
 * client, so its connections show up in the table as endpoint "clients")
 * and lists the runs with their status and result.
 */
import { useState } from "preact/hooks";
import type { ClientRun } from "../lib/view/api_types.ts";
import { island } from "../lib/web/island.tsx";
import { fmtAge, fmtBytes, fmtInt } from "../lib/view/format.ts";
import { postJson, useEventStream } from "./_hooks.ts";

/** One run as `GET /api/clients` lists it. */
export type RunView = ClientRun;

/** Props of the launcher island. */
export interface MulticonnLauncherProps {
  /** TCP endpoints that echo, the launcher's targets. */
  endpoints: string[];
  runs: RunView[];
  now: number;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function summary(run: RunView): string {
  const r = (run.result ?? run.progress) as Record<string, unknown> | null;
  if (r === null) return "";
  const parts: string[] = [];
  if (run.kind === "multiconn") {
    const connected = num(r.connected);
    if (connected !== null) {
      parts.push(`${fmtInt(connected)}/${fmtInt(num(r.conns) ?? 0)} connected`);
    }
    const active = num(r.active);
    if (active !== null) parts.push(`${fmtInt(active)} active`);
    if (num(r.messages) !== null) parts.push(`${fmtInt(num(r.messages)!)} round trips`);
    if (num(r.bytes) !== null) parts.push(fmtBytes(num(r.bytes)!));
    const lat = r.latencyMs as { p50?: number; p99?: number } | null | undefined;
    if (lat && typeof lat.p50 === "number") {
      parts.push(`rtt p50 ${lat.p50.toFixed(2)} ms, p99 ${(lat.p99 ?? 0).toFixed(2)} ms`);
    }
    const failed = num(r.failedConns);
    if (failed) parts.push(`${fmtInt(failed)} failed`);
  } else {
    if (typeof r.phase === "string") parts.push(r.phase);
    if (num(r.bytes) !== null) parts.push(`${fmtBytes(num(r.bytes)!)} written`);
    if (r.stalled === true) parts.push("stalled: buffers full");
  }
  return parts.join(" · ");
}

/** The runs list, shared with the buffers page. */
export function RunList({ runs, now }: { runs: RunView[]; now: number }) {
  if (runs.length === 0) return <p class="muted small">No runs yet.</p>;
  return (
    <table class="grid runs">
      <thead>
        <tr>
          <th>Run</th>
          <th>Client</th>
          <th>Target</th>
          <th>Status</th>
          <th class="num">Time</th>
          <th>Result</th>
        </tr>
      </thead>
      <tbody>
        {[...runs].reverse().map((run) => (
          <tr key={run.id} data-run={run.id} data-status={run.status}>
            <td class="mono">{run.id}</td>
            <td>
              {run.kind}
              {run.kind === "multiconn" && (
                <span class="muted">
                  {" "}
                  {String(run.options.conns)}×{String(run.options.messages)}
                  {run.options.size ? ` × ${fmtBytes(Number(run.options.size))}` : ""}
                </span>
              )}
            </td>
            <td class="mono">{run.target.hostname}:{run.target.port}</td>
            <td>
              <span
                class={`pill ${
                  run.status === "running" ? "warn" : run.status === "done" ? "ok" : "bad"
                }`}
              >
                {run.status}
              </span>
            </td>
            <td class="num">{fmtAge((run.endedAt ?? now) - run.startedAt)}</td>
            <td class="small">
              {summary(run)}
              {run.error && <span class="c-bad">{run.error}</span>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function MulticonnLauncher(props: MulticonnLauncherProps) {
  const [endpoint, setEndpoint] = useState(
    props.endpoints.includes("multiconn") ? "multiconn" : props.endpoints[0] ?? "",
  );
  const [conns, setConns] = useState(10);
  const [messages, setMessages] = useState(20);
  const [size, setSize] = useState("");
  const [runs, setRuns] = useState(props.runs);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(props.now);

  // The runs come whenever one starts, progresses or ends (lib/live/event_source.ts).
  useEventStream("/api/events?sockets=0&packets=0&clients=1", {
    clients(data) {
      setRuns(data.runs.filter((r) => r.kind === "multiconn"));
      setNow(Date.now());
    },
  });

  const launch = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      const body: Record<string, unknown> = { endpoint, conns, messages };
      if (size.trim() !== "") body.size = Number(size);
      await postJson("/api/clients/multiconn", body);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <details class="panel launcher js-only" open={runs.length > 0 || undefined}>
      <summary>
        <strong>Launch the multiconn client</strong>{" "}
        <span class="muted small">
          the server opens the connections itself; watch them appear below as client rows
        </span>
      </summary>
      <form class="toolbar" onSubmit={launch}>
        <label>
          Endpoint{" "}
          <select value={endpoint} onChange={(e) => setEndpoint(e.currentTarget.value)}>
            {props.endpoints.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
        <label>
          Connections{" "}
          <input
            type="number"
            min={1}
            max={1000}
            value={conns}
            onInput={(e) => setConns(e.currentTarget.valueAsNumber)}
          />
        </label>
        <label>
          Messages each{" "}
          <input
            type="number"
            min={1}
            max={100000}
            value={messages}
            onInput={(e) => setMessages(e.currentTarget.valueAsNumber)}
          />
        </label>
        <label>
          Size (bytes){" "}
          <input
            type="number"
            min={1}
            max={1048576}
            placeholder="tutorial text"
            value={size}
            onInput={(e) => setSize(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="btn btn-primary" disabled={busy}>
          {busy ? "Starting…" : "Launch"}
        </button>
        {error && <span class="c-bad small">{error}</span>}
      </form>
      <RunList runs={runs} now={now} />
    </details>
  );
}

export default island("multiconn_launcher", MulticonnLauncher);
