/**
 * The labs: one section per endpoint built from a tutorial, with its lesson,
 * the seed it comes from (both declared by the endpoint's module), its address, the lines to try it and its live
 * counters. The framing endpoints also show their recent reads, each drawn
 * as a bar cut where message boundaries fell, so messages split across
 * reads and merged into one read are plain to see.
 */
import { useState } from "preact/hooks";
import type { LabGroup, LabInfo } from "../lib/net/endpoint_spec.ts";
import { island } from "../lib/web/island.tsx";
import type { EndpointView, PacketEntry } from "../lib/view/api_types.ts";
import { FaultBadge } from "./_fault_control.tsx";
import { fmtAddr, fmtBytes, fmtInt, fmtTime, fromBase64 } from "../lib/view/format.ts";
import { useEventStream } from "./_hooks.ts";
import { DirMark } from "./_packets.tsx";
import { type ReadPiece, readPieces } from "./_read_pieces.ts";
import { CopyLine, LiveDot } from "./_ui.tsx";

const GROUPS: { group: LabGroup; title: string; intro: string }[] = [
  {
    group: "protocols",
    title: "Protocols from the tutorials",
    intro: "Small servers from the seed tutorials, each with the lesson it was written to teach.",
  },
  {
    group: "framing",
    title: "Framing lab: where does a message end?",
    intro: "TCP delivers bytes, not messages: one read may hold the end of one message and the " +
      "start of the next, or a single byte. Each bar below is one read, cut where message " +
      "boundaries fell inside it. A solid edge is a boundary; a dashed edge means the message " +
      "goes on in the read before or after.",
  },
  {
    group: "throughput",
    title: "Throughput",
    intro: "The classic test services, for moving many bytes and watching the queues.",
  },
  {
    group: "link",
    title: "Below IP: raw frames",
    intro: "No port and no connection: whole Ethernet frames, sent and received through " +
      "AF_PACKET sockets. This needs root or CAP_NET_RAW; without it the lab says why and " +
      "everything else works.",
  },
];

/** Reads shown per framing endpoint. */
export const READS = 12;

/**
 * One lab as the page gets it: the endpoint, what it teaches, its try-it lines, and for
 * framing its packets.
 */
export interface LabView extends EndpointView {
  /** Its group, seed and lesson, as the endpoint's module declares them. */
  info: LabInfo;
  /** Recent packets, oldest first (framing endpoints; null for the others). */
  packets: PacketEntry[] | null;
  /** Its packets the packet log dropped for good: with none held, they were evicted. */
  evicted: number;
  /** A URL that opens the endpoint in a browser (http-hello). */
  open: string | null;
}

/** Props of the labs island. */
export interface LabsProps {
  labs: LabView[];
}

/** Bytes as one line: printable ASCII as is, a newline as ⏎, anything else as a dot. */
function visible(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) {
    s += b === 0x0a ? "⏎" : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "·";
  }
  return s;
}

function pieceLabel(p: ReadPiece): string {
  return p.shape === "run" ? `#${p.index}–${p.last}` : `#${p.index}`;
}

/** What part of its message a piece is, in a word (a whole message needs none). */
const SHAPE_WORD: Record<ReadPiece["shape"], string> = {
  whole: "",
  tail: "end · ",
  head: "start · ",
  middle: "part · ",
  run: "",
};

const SHAPE_TITLE: Record<ReadPiece["shape"], string> = {
  whole: "the whole message is in this read",
  tail: "the end of a message that began in an earlier read",
  head: "the start of a message that a later read continues",
  middle: "part of a message that began earlier and goes on after this read",
  run: "several whole messages",
};

/** A read drawn as a bar, one segment per message piece, sized by its bytes. */
function Strip({ pieces }: { pieces: ReadPiece[] }) {
  return (
    <div class="strip" role="img" aria-label={pieces.map(pieceLabel).join(", ")}>
      {pieces.map((p, i) => (
        <span
          key={i}
          class={`piece piece-${p.shape} m${p.index % 4}`}
          style={`flex-grow:${Math.max(1, p.bytes)}`}
          title={`message ${pieceLabel(p).slice(1)}: ${p.bytes} B, ${SHAPE_TITLE[p.shape]}`}
        >
          <b>{pieceLabel(p)}</b>
          <small>{SHAPE_WORD[p.shape]}{fmtInt(p.bytes)} B</small>
        </span>
      ))}
    </div>
  );
}

function Read({ p, connStart }: { p: PacketEntry; connStart: boolean }) {
  const notes = p.decoded ?? [];
  let pieces: ReadPiece[] | null = null;
  if (p.dir === "in") {
    for (const n of notes) {
      if (n.kind === "framing" && (pieces = readPieces(p.len, n.summary)) !== null) break;
    }
  }
  const bytes = fromBase64(p.data);
  return (
    <li
      class={`read read-${p.dir}${connStart ? " conn-start" : ""}`}
      data-seq={p.seq}
      data-conn={p.conn}
    >
      <div class="read-head">
        <span class="mono muted" title={fmtTime(p.ts)}>#{p.seq}</span>
        <DirMark dir={p.dir} />
        <span class="mono read-len">{fmtInt(p.len)} B</span>
        <a class="mono small" href={`/sockets/${encodeURIComponent(p.conn)}`}>{p.conn}</a>
        <code class="read-bytes" title="The bytes, as text (⏎ is a newline)">
          {visible(bytes)}
          {p.truncated ? "…" : ""}
        </code>
      </div>
      {pieces !== null && <Strip pieces={pieces} />}
      {notes.length > 0 && (
        <div class="read-notes">
          {notes.map((n, i) => (
            <span key={i} class={n.error ? "note note-err" : "note"} data-note={n.kind}>
              {n.summary}
              {"payload" in n && typeof n.payload === "string" && (
                <code class="read-bytes" data-payload="">{n.payload}</code>
              )}
            </span>
          ))}
        </div>
      )}
    </li>
  );
}

function Reads(
  { packets, name, evicted }: { packets: PacketEntry[]; name: string; evicted: number },
) {
  if (packets.length === 0 && evicted > 0) {
    return (
      <p class="muted small reads-empty reads-evicted" data-evicted={evicted}>
        Its {fmtInt(evicted)}{" "}
        reads and writes were evicted from the packet log by other traffic (it keeps every
        connection's first and latest entries while space lasts): run one of the lines above to see
        new ones.
      </p>
    );
  }
  if (packets.length === 0) {
    return <p class="muted small reads-empty">No reads yet: run one of the lines above.</p>;
  }
  return (
    <ol class="reads" aria-label={`Recent reads and writes of ${name}`}>
      {packets.map((p, i) => (
        <Read key={p.seq} p={p} connStart={i > 0 && packets[i - 1].conn !== p.conn} />
      ))}
    </ol>
  );
}

function errorCount(counts: Record<string, number>): number {
  let n = 0;
  for (const v of Object.values(counts)) n += v;
  return n;
}

function Lab({ lab }: { lab: LabView }) {
  const { info } = lab;
  const errors = errorCount(lab.errors);
  const limits = errorCount(lab.limitHits);
  return (
    <section class="card lab" id={lab.name} data-lab={lab.name}>
      <header class="card-head">
        <h2>
          <a href={`#${lab.name}`}>{lab.name}</a>
        </h2>
        <span class="badge st-other">{lab.transport.toUpperCase()}</span>
        {lab.address && <span class="mono addr">{fmtAddr(lab.address)}</span>}
        {lab.link && (
          <span class="mono addr" data-link="">
            {lab.link.interface || "any interface"} · type {lab.link.etherType}
          </span>
        )}
        <span class={`pill ${lab.listening ? "ok" : "bad"}`}>
          {lab.listening ? "listening" : "not listening"}
        </span>
        <FaultBadge fault={lab.fault} />
        <span class="spacer" />
        <span class="muted small lab-seed">{info.seed}</span>
      </header>
      <p class="lesson">{info.lesson}</p>
      {!lab.listening && lab.reason !== null && (
        <p class="lab-reason c-bad small" data-reason="">Not receiving: {lab.reason}</p>
      )}
      {lab.transport === "link"
        ? (
          <dl class="lab-stats">
            <div>
              <dt>frames</dt>
              <dd data-frames="">{fmtInt(lab.messagesIn)}</dd>
            </div>
            <div>
              <dt>bytes</dt>
              <dd class="c-in">{fmtBytes(lab.bytesIn)}</dd>
            </div>
          </dl>
        )
        : <LabStats lab={lab} errors={errors} limits={limits} />}
      <div class="tryit">
        {(lab.tryIt ?? []).map((line) => <CopyLine key={line} text={line} />)}
      </div>
      {lab.packets !== null && (
        <Reads packets={lab.packets} name={lab.name} evicted={lab.evicted ?? 0} />
      )}
      <footer class="card-links small">
        {lab.open !== null && (
          <a href={lab.open} target="_blank" rel="noopener noreferrer" data-open-browser="">
            open {lab.open} in the browser ↗
          </a>
        )}
        {lab.name === "chat" && <a href="/chat">the room: participants and messages →</a>}
        {lab.transport !== "link" && (
          <a href={`/sockets?endpoint=${encodeURIComponent(lab.name)}`}>sockets →</a>
        )}
        <a href={`/packets?endpoint=${encodeURIComponent(lab.name)}`}>packets →</a>
      </footer>
    </section>
  );
}

function LabStats({ lab, errors, limits }: { lab: LabView; errors: number; limits: number }) {
  return (
    <dl class="lab-stats">
      <div>
        <dt>live</dt>
        <dd>{fmtInt(lab.connections)}</dd>
      </div>
      <div>
        <dt>accepted</dt>
        <dd>{fmtInt(lab.accepted)}</dd>
      </div>
      <div>
        <dt>in</dt>
        <dd class="c-in">{fmtBytes(lab.bytesIn)}</dd>
      </div>
      <div>
        <dt>out</dt>
        <dd class="c-out">{fmtBytes(lab.bytesOut)}</dd>
      </div>
      <div>
        <dt>msgs in / out</dt>
        <dd>
          {fmtInt(lab.messagesIn)} / {fmtInt(lab.messagesOut)}
        </dd>
      </div>
      <div>
        <dt>errors · limits</dt>
        <dd class={errors + limits > 0 ? "c-bad" : undefined}>
          {fmtInt(errors)} · {fmtInt(limits)}
        </dd>
      </div>
    </dl>
  );
}

function Labs(props: LabsProps) {
  const [labs, setLabs] = useState(props.labs);

  // Framing labs show their newest reads: the stream sends them again whenever they change.
  const withReads = props.labs.filter((l) => l.packets !== null).map((l) => l.name);
  const recent = withReads.length > 0
    ? `&recent=${withReads.map(encodeURIComponent).join(",")}&recentLimit=${READS}`
    : "";
  const status = useEventStream(`/api/events?sockets=0&packets=0${recent}`, {
    endpoints(list) {
      const byName = new Map(list.map((e) => [e.name, e]));
      setLabs((old) =>
        old.map((lab) => {
          const fresh = byName.get(lab.name);
          return fresh === undefined ? lab : {
            ...fresh,
            info: lab.info,
            tryIt: lab.tryIt,
            packets: lab.packets,
            evicted: lab.evicted,
            open: lab.open,
          };
        })
      );
    },
    recent(lists) {
      setLabs((old) =>
        old.map((lab) => {
          const fresh = lists[lab.name];
          return fresh === undefined
            ? lab
            : { ...lab, packets: fresh.packets, evicted: fresh.evicted };
        })
      );
    },
  });

  return (
    <div class="labs">
      <nav class="toolbar lab-index" aria-label="Labs on this page">
        {labs.map((l) => <a key={l.name} class="chip" href={`#${l.name}`}>{l.name}</a>)}
        <span class="spacer" />
        <LiveDot status={status} />
      </nav>
      {GROUPS.map(({ group, title, intro }) => (
        <div key={group} class="lab-group" data-group={group}>
          <h2 class="group-title">{title}</h2>
          <p class="explain">{intro}</p>
          <div class={`lab-grid lab-grid-${group}`}>
            {labs.filter((l) =>
              l.info.group === group
            ).map((l) => <Lab key={l.name} lab={l} />)}
          </div>
        </div>
      ))}
    </div>
  );
}

export default island("labs", Labs);
