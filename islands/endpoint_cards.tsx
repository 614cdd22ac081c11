/**
 * The overview: one card per endpoint with its address, whether it listens,
 * live connections, bytes/s in and out on a small live chart, errors and
 * limit hits, the lines to try it, and on TCP endpoints the fault in force
 * with a control to switch it.
 */
import { useRef, useState } from "preact/hooks";
import type { EndpointView, Fault, KernelStatus } from "../lib/view/api_types.ts";
import { island } from "../lib/web/island.tsx";
import { Chart, COLORS, Samples } from "./_chart.tsx";
import { FaultBadge, FaultControl } from "./_fault_control.tsx";
import { fmtAddr, fmtAge, fmtBytes, fmtInt, fmtRate } from "../lib/view/format.ts";
import { useEventStream, useNow } from "./_hooks.ts";
import { CopyLine, KernelNotice, LiveDot } from "./_ui.tsx";

/** Props of the overview island. */
export interface EndpointCardsProps {
  endpoints: EndpointView[];
  kernel: KernelStatus;
  startedAt: number;
  now: number;
  draining: boolean;
}

interface Rate {
  in: number | null;
  out: number | null;
}

const HISTORY_S = 60;

// The table's endpoints first (they have try-it lines), the service's own clients after.
function byKind(a: EndpointView, b: EndpointView): number {
  return Number(a.tryIt === undefined) - Number(b.tryIt === undefined);
}

function Counts({ label, counts }: { label: string; counts: Record<string, number> }) {
  const entries = Object.entries(counts).filter(([, n]) => n > 0);
  return (
    <div class="kv-line">
      <span class="muted">{label}</span>
      {entries.length === 0
        ? <span class="muted">none</span>
        : entries.map(([k, n]) => (
          <span class="badge st-bad" key={k}>
            {k} <b>{fmtInt(n)}</b>
          </span>
        ))}
    </div>
  );
}

function Card(
  { ep, rate, series, draining, onFault }: {
    ep: EndpointView;
    rate: Rate;
    series: (number | null)[][] | undefined;
    draining: boolean;
    onFault: (name: string, fault: Fault) => void;
  },
) {
  const unit = ep.transport === "udp" ? "flows" : ep.transport === "link" ? "frames" : "conns";
  const faulted = ep.fault != null && ep.fault.mode !== "none";
  return (
    <article class={faulted ? "card endpoint faulted" : "card endpoint"} data-endpoint={ep.name}>
      <header class="card-head">
        <h2>
          <a href={`/sockets?endpoint=${encodeURIComponent(ep.name)}`}>{ep.name}</a>
        </h2>
        <span class="badge st-other">{ep.transport.toUpperCase()}</span>
        {ep.address && <span class="mono addr">{fmtAddr(ep.address)}</span>}
        {ep.link && (
          <span class="mono addr" data-link="">
            {ep.link.interface || "any interface"} · type {ep.link.etherType}
          </span>
        )}
        {ep.tryIt === undefined && ep.address === null && ep.link === null
          ? (
            <span class="pill" title="Not an endpoint: connections this service opens itself">
              outgoing
            </span>
          )
          : (
            <span
              class={`pill ${ep.listening ? "ok" : "bad"}`}
              title={ep.reason ?? undefined}
            >
              {ep.listening
                ? (ep.transport === "udp"
                  ? "bound"
                  : ep.transport === "link"
                  ? "receiving"
                  : "listening")
                : "not listening"}
            </span>
          )}
        {ep.name === "sink" && (
          <span class={`pill ${draining ? "ok" : "warn"}`}>
            {draining ? "draining" : "not reading"}
          </span>
        )}
        <FaultBadge fault={ep.fault} />
      </header>
      <p class="desc">{ep.description}</p>
      {!ep.listening && ep.reason !== null && (
        <p class="desc small c-bad" data-reason="">Not receiving: {ep.reason}</p>
      )}
      {ep.tryIt === undefined && (
        <p class="desc small" data-outgoing-note>
          Not an endpoint to connect to: these are the service's own client runs, started from{" "}
          <a href="/sockets">Launch the multiconn client</a> on Sockets and{" "}
          <a href="/buffers">Start writing to the sink</a>{" "}
          on Buffers. Their sockets show as client rows, next to the endpoint they talk to.
        </p>
      )}
      <dl class="stats">
        <div>
          <dt>{ep.transport === "link" ? unit : `live ${unit}`}</dt>
          <dd class="big">
            {fmtInt(ep.transport === "link" ? ep.messagesIn : ep.connections)}
          </dd>
        </div>
        <div>
          <dt>in</dt>
          <dd class="big c-in">{fmtRate(rate.in)}</dd>
        </div>
        <div>
          <dt>out</dt>
          <dd class="big c-out">{fmtRate(rate.out)}</dd>
        </div>
        <div>
          <dt>accepted / closed</dt>
          <dd>
            {fmtInt(ep.accepted)} / {fmtInt(ep.closed)}
          </dd>
        </div>
      </dl>
      <Chart
        compact
        height={44}
        unit="rate"
        window={HISTORY_S}
        label={`${ep.name}: bytes per second in and out, last minute`}
        series={[
          { label: "in", color: COLORS.in, fill: true },
          { label: "out", color: COLORS.out },
        ]}
        data={series ?? [[], [], []]}
      />
      <div class="kv-line mono small">
        <span>
          <span class="muted">total</span> <span class="c-in">{fmtBytes(ep.bytesIn)} in</span> ·
          {" "}
          <span class="c-out">{fmtBytes(ep.bytesOut)} out</span>
        </span>
        <span>
          <span class="muted">msgs</span> {fmtInt(ep.messagesIn)} / {fmtInt(ep.messagesOut)}
        </span>
      </div>
      <Counts label="errors" counts={ep.errors} />
      <Counts
        label="limit hits"
        counts={{ ...ep.limitHits, ...(ep.refused > 0 ? { refused: ep.refused } : {}) }}
      />
      {ep.fault != null && ep.tryIt !== undefined && (
        <FaultControl
          endpoint={ep.name}
          transport={ep.transport === "udp" ? "udp" : "tcp"}
          fault={ep.fault}
          acted={ep.faults ?? {}}
          onApplied={(fault) => onFault(ep.name, fault)}
        />
      )}
      {ep.tryIt && ep.tryIt.length > 0 && (
        <div class="tryit">
          <div class="muted small">try it</div>
          {ep.tryIt.map((line) => <CopyLine key={line} text={line} />)}
        </div>
      )}
      <footer class="card-links small">
        <a href={`/sockets?endpoint=${encodeURIComponent(ep.name)}`}>sockets →</a>
        <a href={`/packets?endpoint=${encodeURIComponent(ep.name)}`}>packets →</a>
        {ep.name === "sink" && <a href="/buffers">buffer demo →</a>}
      </footer>
    </article>
  );
}

function EndpointCards(props: EndpointCardsProps) {
  const [endpoints, setEndpoints] = useState(() => props.endpoints.slice().sort(byKind));
  const [rates, setRates] = useState<Record<string, Rate>>({});
  const [series, setSeries] = useState<Record<string, (number | null)[][]>>({});
  const history = useRef(new Map<string, { ts: number; in: number; out: number }>());
  const samples = useRef(new Map<string, Samples>());
  const now = useNow(props.now);
  const tryIt = new Map(props.endpoints.map((e) => [e.name, e.tryIt]));

  const [draining, setDraining] = useState(props.draining);
  const status = useEventStream("/api/events?sockets=0&packets=0&clients=1", {
    endpoints(list) {
      const ts = Date.now();
      const nextRates: Record<string, Rate> = {};
      const nextSeries: Record<string, (number | null)[][]> = {};
      for (const ep of list) {
        const prev = history.current.get(ep.name);
        const dt = prev ? (ts - prev.ts) / 1000 : 0;
        const rate = prev && dt > 0.2
          ? {
            in: Math.max(0, (ep.bytesIn - prev.in) / dt),
            out: Math.max(0, (ep.bytesOut - prev.out) / dt),
          }
          : { in: null, out: null };
        history.current.set(ep.name, { ts, in: ep.bytesIn, out: ep.bytesOut });
        nextRates[ep.name] = rate;
        if (rate.in !== null) {
          let s = samples.current.get(ep.name);
          if (s === undefined) samples.current.set(ep.name, s = new Samples(2, HISTORY_S + 5));
          nextSeries[ep.name] = s.push(ts, [rate.in, rate.out]);
        }
      }
      setEndpoints(list.map((ep) => ({ ...ep, tryIt: tryIt.get(ep.name) })).sort(byKind));
      setRates(nextRates);
      setSeries((old) => ({ ...old, ...nextSeries }));
    },
    // The sink's switch comes with the client runs, whenever it flips.
    clients(data) {
      setDraining(data.sink.draining);
    },
  });
  const live = endpoints.reduce((n, e) => n + e.connections, 0);
  // The launcher's card counts the service's own outgoing runs, not an endpoint.
  const served = endpoints.filter((e) => e.tryIt !== undefined).length;
  const own = endpoints.length - served;
  // The API's answer shows at once; the next event confirms it.
  const onFault = (name: string, fault: Fault) =>
    setEndpoints((list) => list.map((e) => e.name === name ? { ...e, fault } : e));

  return (
    <section>
      <div class="toolbar">
        <h1>Endpoints</h1>
        <span class="muted">
          {served} endpoints{own > 0 ? ` + the service's own client runs` : ""} · {fmtInt(live)}
          {" "}
          live connection{live === 1 ? "" : "s"} · up {fmtAge(now - props.startedAt)}
        </span>
        <span class="spacer" />
        <LiveDot status={status} />
      </div>
      <KernelNotice kernel={props.kernel} />
      <div class="cards">
        {endpoints.map((ep) => (
          <Card
            key={ep.name}
            ep={ep}
            rate={rates[ep.name] ?? { in: null, out: null }}
            series={series[ep.name]}
            draining={draining}
            onFault={onFault}
          />
        ))}
      </div>
    </section>
  );
}

export default island("endpoint_cards", EndpointCards);
