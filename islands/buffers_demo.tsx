/**
 * The sink demonstration (seed 003's buffer test): a writer fills the
 * sink, which does not read, so the sink's Recv-Q and the writer's Send-Q
 * climb until the writer blocks; draining makes them fall. Kernel numbers
 * and the process's own numbers side by side.
 */
import { useRef, useState } from "preact/hooks";
import type { Address, KernelStatus, SocketRecord } from "../lib/view/api_types.ts";
import { island } from "../lib/web/island.tsx";
import { Chart, COLORS, Samples } from "./_chart.tsx";
import { fmtAddr, fmtBytes, fmtInt } from "../lib/view/format.ts";
import { postJson, useEventStream } from "./_hooks.ts";
import { KernelNotice, LiveDot } from "./_ui.tsx";
import { RunList, type RunView } from "./multiconn_launcher.tsx";

/** Props of the buffers island. */
export interface BuffersDemoProps {
  sink: Address | null;
  /** How the CLI is spelled where the service runs (`deno task client`, or through npx). */
  client: string;
  draining: boolean;
  kernel: KernelStatus;
  /** The sink's connections and their writers. */
  sockets: SocketRecord[];
  runs: RunView[];
  now: number;
}

/** The figures the page shows, summed over the sink's connections and their writers. */
export interface BufferFigures {
  sinkConns: number;
  writers: number;
  sinkRecvQ: number | null;
  writerSendQ: number | null;
  sinkRx: number | null;
  writerTx: number | null;
  sinkIn: number;
  writerOut: number;
  /** Every writer connected now, the service's own runs and outside programs alike. */
  writerRows: WriterRow[];
}

/** One writer connected to the sink, with the sink's side of its connection. */
export interface WriterRow {
  id: string;
  /** The writer's own address. */
  local: string;
  /** True for the service's own writer run, false for another program (a peer row). */
  ours: boolean;
  state: string;
  sendQ: number | null;
  /** Data bytes the sink's kernel acknowledged (a peer row's SYN and FIN left out). */
  bytesOut: number;
  /** The sink connection's Recv-Q: what it holds unread of this writer's bytes. */
  sinkRecvQ: number | null;
}

function sum(values: (number | undefined | null)[]): number | null {
  let n: number | null = null;
  for (const v of values) if (typeof v === "number") n = (n ?? 0) + v;
  return n;
}

/** The sink's server-side sockets and the writers talking to it (ours or a peer's), pure. */
export function bufferFigures(sockets: readonly SocketRecord[], sinkPort: number): BufferFigures {
  const sinks = sockets.filter((s) => s.endpoint === "sink" && s.kind === "conn");
  const writers = new Map<string, SocketRecord>();
  for (const s of sockets) {
    if (s.remote?.port !== sinkPort || s.state === "LISTEN") continue;
    const ours = s.ours && s.role === "client";
    const peer = !s.ours && s.endpoint === "sink";
    if (!ours && !peer) continue;
    const key = fmtAddr(s.local);
    // Our own writer also shows in the kernel's table: keep the richer row.
    if (!writers.has(key) || ours) writers.set(key, s);
  }
  const w = [...writers.values()];
  const sinkByPeer = new Map(sinks.map((s) => [s.remote?.port, s]));
  const writerRows = w.map((s): WriterRow => ({
    id: s.id,
    local: fmtAddr(s.local),
    ours: s.ours,
    state: s.state,
    sendQ: s.kernel?.sendQ ?? null,
    bytesOut: s.bytesOut,
    sinkRecvQ: sinkByPeer.get(s.local.port)?.kernel?.recvQ ?? null,
  }));
  return {
    sinkConns: sinks.length,
    writers: w.length,
    sinkRecvQ: sum(sinks.map((s) => s.kernel?.recvQ)),
    writerSendQ: sum(w.map((s) => s.kernel?.sendQ)),
    sinkRx: sum(sinks.map((s) => s.app?.rxBuffered)),
    writerTx: sum(w.map((s) => s.app?.txBuffered)),
    sinkIn: sinks.reduce((n, s) => n + s.bytesIn, 0),
    writerOut: w.reduce((n, s) => n + s.bytesOut, 0),
    writerRows,
  };
}

function Metric(
  { id, label, value, color, children }: {
    id: string;
    label: string;
    value: number | null;
    color: string;
    children: string;
  },
) {
  return (
    <div class="metric">
      <div class="metric-label">
        <span class="sw-line" style={`background:${color}`} aria-hidden="true" />
        {label}
      </div>
      <output class="metric-value mono" data-metric={id} data-value={value ?? ""}>
        {value === null ? "—" : `${fmtInt(value)} B`}
      </output>
      <div class="muted small">{value === null ? "" : fmtBytes(value)}</div>
      <p class="explain">{children}</p>
    </div>
  );
}

/** Every writer on the sink now, whoever started it: an outside program is a peer row. */
function WriterTable({ rows }: { rows: WriterRow[] }) {
  if (rows.length === 0) {
    return <p class="muted small" data-writers="0">No writer connected to the sink.</p>;
  }
  return (
    <table class="grid writers" data-writers={rows.length}>
      <thead>
        <tr>
          <th>Writer</th>
          <th>Started by</th>
          <th>State</th>
          <th class="num" title="The writer's kernel: bytes not yet acknowledged by the sink">
            Writer Send-Q
          </th>
          <th class="num" title="The sink's kernel: bytes received, not yet read">Sink Recv-Q</th>
          <th class="num" title="Data bytes the sink's kernel acknowledged">Delivered</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((w) => (
          <tr key={w.id} data-writer={w.local} data-ours={String(w.ours)}>
            <td class="mono">
              <a href={`/sockets/${encodeURIComponent(w.id)}`}>{w.local}</a>
            </td>
            <td>{w.ours ? "this service (a run below)" : "another program (a peer)"}</td>
            <td class="mono">{w.state}</td>
            <td class="num mono">{w.sendQ === null ? "—" : fmtInt(w.sendQ)}</td>
            <td class="num mono">{w.sinkRecvQ === null ? "—" : fmtInt(w.sinkRecvQ)}</td>
            <td class="num mono">{fmtBytes(w.bytesOut)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function BuffersDemo(props: BuffersDemoProps) {
  const sinkPort = props.sink?.port ?? -1;
  const [fig, setFig] = useState(() => bufferFigures(props.sockets, sinkPort));
  const [kernel, setKernel] = useState(props.kernel);
  const [draining, setDraining] = useState(props.draining);
  const [runs, setRuns] = useState(props.runs);
  const [now, setNow] = useState(props.now);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const samples = useRef(new Samples(4, 600));
  const [series, setSeries] = useState<(number | null)[][]>([[], [], [], [], []]);

  // The sockets four times a second; the sink's runs and switch whenever they change.
  const status = useEventStream("/api/events?packets=0&socketsMs=250&clients=1", {
    sockets(data) {
      const f = bufferFigures(data.sockets, sinkPort);
      setFig(f);
      setKernel(data.kernel);
      setSeries(
        samples.current.push(Date.now(), [f.sinkRecvQ, f.writerSendQ, f.sinkRx, f.writerTx]),
      );
    },
    clients(data) {
      setRuns(data.runs.filter((r) => r.kind === "sink"));
      setDraining(data.sink.draining);
      setNow(Date.now());
    },
  });

  const act = async (url: string, body: unknown) => {
    setBusy(true);
    setError("");
    try {
      const res = await postJson(url, body);
      if (typeof res.draining === "boolean") setDraining(res.draining);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const running = runs.filter((r) => r.status === "running");
  const blocked = running.some((r) => r.progress?.phase === "holding") ||
    (fig.writerTx !== null && fig.writerTx > 0);
  const phase = fig.writers === 0
    ? "No writer connected."
    : draining
    ? "The sink is reading: the queues drain."
    : blocked
    ? "The writer is blocked: both kernel queues are full and write() waits."
    : "The writer is filling the queues…";

  return (
    <section class="buffers">
      <p class="banner info nojs-only">
        The controls need JavaScript; these are the numbers as the page was loaded.
      </p>
      <div class="toolbar">
        <button
          type="button"
          class="btn btn-primary js-only"
          disabled={busy || running.length > 0}
          onClick={() => act("/api/clients/sink", { action: "start" })}
          data-action="start"
        >
          ▶ Start writing to the sink
        </button>
        <button
          type="button"
          class="btn js-only"
          disabled={busy || running.length === 0}
          onClick={() => act("/api/clients/sink", { action: "stop" })}
          data-action="stop"
        >
          ■ Stop the writer
        </button>
        <span class="sep" />
        <button
          type="button"
          class={draining ? "btn js-only" : "btn btn-primary js-only"}
          disabled={busy}
          onClick={() => act("/api/sink/drain", { drain: !draining })}
          data-action="drain"
        >
          {draining ? "Stop draining" : "⇣ Drain the sink"}
        </button>
        <span class={`pill ${draining ? "ok" : "warn"}`}>
          sink {draining ? "reading" : "not reading"}
        </span>
        <span class="spacer" />
        <span class="muted small mono">
          sink {props.sink ? fmtAddr(props.sink) : "—"} · {fig.sinkConns} conn · {fig.writers}{" "}
          writer
        </span>
        <LiveDot status={status} />
      </div>
      {error && <p class="banner bad">{error}</p>}
      <KernelNotice kernel={kernel} />
      <p class={`phase ${blocked && !draining ? "phase-blocked" : ""}`} data-phase="">{phase}</p>
      <div class="card">
        <Chart
          height={220}
          unit="bytes"
          window={120}
          series={[
            { label: "sink Recv-Q (kernel)", color: COLORS.recvQ, fill: true },
            { label: "writer Send-Q (kernel)", color: COLORS.sendQ, fill: true },
            { label: "sink app rx (process)", color: COLORS.appRx, dash: [5, 3] },
            { label: "writer app tx (process)", color: COLORS.appTx, dash: [5, 3] },
          ]}
          data={series}
        />
      </div>
      <div class="columns">
        <div class="card">
          <h2>
            Kernel{" "}
            <span class="muted small">
              what <code>ss</code> shows
            </span>
          </h2>
          <div class="metrics">
            <Metric id="sink-recvq" label="Sink Recv-Q" value={fig.sinkRecvQ} color={COLORS.recvQ}>
              Bytes the sink's kernel has received and acknowledged but the sink process has not
              read; when it reaches the receive buffer's size the sink advertises a zero window.
            </Metric>
            <Metric
              id="writer-sendq"
              label="Writer Send-Q"
              value={fig.writerSendQ}
              color={COLORS.sendQ}
            >
              Bytes the writer handed to its kernel that the sink has not acknowledged yet; they
              pile up once the sink's window is closed.
            </Metric>
          </div>
        </div>
        <div class="card">
          <h2>
            Process <span class="muted small">what sockscope itself holds</span>
          </h2>
          <div class="metrics">
            <Metric id="sink-rx" label="Sink app rx" value={fig.sinkRx} color={COLORS.appRx}>
              Bytes the sink process has read but not yet handled; it stays at zero because the sink
              does not read at all until you drain it.
            </Metric>
            <Metric id="writer-tx" label="Writer app tx" value={fig.writerTx} color={COLORS.appTx}>
              Bytes the writer process still wants to write that its kernel would not take: a
              blocked write() waits with these.
            </Metric>
          </div>
          <p class="muted small mono">
            writer wrote {fmtBytes(fig.writerOut)} · sink read {fmtBytes(fig.sinkIn)}
          </p>
        </div>
      </div>
      <div class="card">
        <h2>Writers connected now</h2>
        <WriterTable rows={fig.writerRows} />
        <h2>Writer runs started here</h2>
        <RunList runs={runs} now={now} />
        <p class="muted small">
          Or write from a shell: <code>{props.client} sink --port {props.sink?.port ?? 65436}</code>
          {" "}
          — its socket then shows as a peer row of the sink.
        </p>
      </div>
    </section>
  );
}

export default island("buffers_demo", BuffersDemo);
