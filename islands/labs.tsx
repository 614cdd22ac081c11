/**
 * The labs: one section per endpoint built from a tutorial, with its lesson,
 * the seed it comes from, its address, the lines to try it and its live
 * counters. The framing endpoints also show their recent reads, each drawn
 * as a bar cut where message boundaries fell, so messages split across
 * reads and merged into one read are plain to see.
 */
import { useState } from "preact/hooks";
import { island } from "../lib/web/island.tsx";
import type { EndpointView, PacketEntry } from "../lib/view/wire.ts";
import { FaultBadge } from "./_fault_control.tsx";
import { fmtAddr, fmtBytes, fmtInt, fmtTime, fromBase64 } from "../lib/view/format.ts";
import { useEventStream } from "./_hooks.ts";
import { DirMark } from "./_packets.tsx";
import { type ReadPiece, readPieces } from "./_read_pieces.ts";
import { CopyLine, LiveDot } from "./_ui.tsx";

/** Which part of the page a lab sits in. */
export type LabGroup = "protocols" | "framing" | "throughput";

/** What the page says about a lab endpoint. */
export interface LabInfo {
  name: string;
  group: LabGroup;
  /** Where the system comes from: a seed tutorial or an RFC. */
  seed: string;
  /** The lesson, in one or two sentences. */
  lesson: string;
}

/** The lab endpoints in the order the page shows them. */
export const LABS: readonly LabInfo[] = [
  {
    name: "chat",
    group: "protocols",
    seed: "seed 003 · the threaded chat server",
    lesson: "A stream keeps no message boundaries, so each message travels behind a fixed " +
      "64-byte header that holds its length; the server reads the header, then exactly that " +
      'many bytes, and answers "Msg received", and nothing else: the seed\'s client reads one ' +
      "recv() per message, so anything more would be read as its acknowledgement. Send !JOIN " +
      "to have the room's messages relayed to you too; the chat page shows them all.",
  },
  {
    name: "clients",
    group: "protocols",
    seed: "seed 004 · the server that returns its client list",
    lesson: "Send a name and get back the JSON list of every client seen so far. The list soon " +
      "outgrows one 1,024-byte recv(), so a client that reads once gets half a document: read " +
      "until the server closes.",
  },
  {
    name: "reverse",
    group: "protocols",
    seed: "seed 002 · the reverse-echo server",
    lesson: "One read is not one message. Like the seed's server, it calls recv(1024) once, " +
      "sends those bytes back reversed and closes: a message that arrives in two reads (typed " +
      "into nc, or written in two parts) comes back cut to the first. It reverses bytes, not " +
      "characters, so multi-byte UTF-8 comes back scrambled.",
  },
  {
    name: "http-hello",
    group: "protocols",
    seed: "seed 002 · a raw socket answering a browser",
    lesson: "HTTP is text on a TCP socket: the server reads the request up to the blank line " +
      "and writes a status line, headers and a page by hand. Open it in a browser, then find " +
      "the browser's request bytes in the packet log.",
  },
  {
    name: "frame-fixed",
    group: "framing",
    seed: "seeds 001, 002 · fixed-length messages",
    lesson: "Every message is exactly 30 bytes, padded with # as in the seed: the reader always " +
      "knows how much to wait for, at the cost of padding, a hard size limit, and losing any # " +
      "that really ended the message.",
  },
  {
    name: "frame-delimited",
    group: "framing",
    seed: "seeds 001, 002 · delimited messages",
    lesson: "#*# ends each message, as in the seed. The reader scans for it, even when it is " +
      "split across two reads, and must keep whatever follows: the next message may already sit " +
      "in the same read. A message may never contain the delimiter.",
  },
  {
    name: "frame-prefixed",
    group: "framing",
    seed: "seeds 001, 002 · length-prefixed messages",
    lesson: "Five ASCII digits give the length, then the message follows; the reader waits for " +
      "the prefix, then for exactly that many bytes.",
  },
  {
    name: "frame-close",
    group: "framing",
    seed: "seeds 001, 002 · the message ends at the close",
    lesson: "The sender half-closes to say the message is complete: one message per " +
      "connection, and the only framing that needs no parsing at all.",
  },
  {
    name: "discard",
    group: "throughput",
    seed: "RFC 863 · for seed 001's send and recv",
    lesson: "Reads everything and drops it. Push bytes at it to see how fast the loopback " +
      "moves them, and that send() returns long before the peer has read anything.",
  },
  {
    name: "chargen",
    group: "throughput",
    seed: "RFC 864 · for seed 001's send and recv",
    lesson: "Writes the rotating 72-character pattern as fast as the reader takes it. Each " +
      "write waits for the kernel, so a reader that stops stops the generator: watch its " +
      "Send-Q fill instead of the process growing.",
  },
];

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
];

/** Reads shown per framing endpoint. */
export const READS = 12;

/** One lab as the page gets it: the endpoint, its try-it lines, and for framing its packets. */
export interface LabView extends EndpointView {
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

function Lab({ info, lab }: { info: LabInfo; lab: LabView }) {
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
        <span class={`pill ${lab.listening ? "ok" : "bad"}`}>
          {lab.listening ? "listening" : "not listening"}
        </span>
        <FaultBadge fault={lab.fault} />
        <span class="spacer" />
        <span class="muted small lab-seed">{info.seed}</span>
      </header>
      <p class="lesson">{info.lesson}</p>
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
        <a href={`/sockets?endpoint=${encodeURIComponent(lab.name)}`}>sockets →</a>
        <a href={`/packets?endpoint=${encodeURIComponent(lab.name)}`}>packets →</a>
      </footer>
    </section>
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

  const byName = new Map(labs.map((l) => [l.name, l]));
  return (
    <div class="labs">
      <nav class="toolbar lab-index" aria-label="Labs on this page">
        {LABS.filter((i) => byName.has(i.name)).map((i) => (
          <a key={i.name} class="chip" href={`#${i.name}`}>{i.name}</a>
        ))}
        <span class="spacer" />
        <LiveDot status={status} />
      </nav>
      {GROUPS.map(({ group, title, intro }) => (
        <div key={group} class="lab-group" data-group={group}>
          <h2 class="group-title">{title}</h2>
          <p class="explain">{intro}</p>
          <div class={`lab-grid lab-grid-${group}`}>
            {LABS.filter((i) =>
              i.group === group && byName.has(i.name)
            ).map((info) => <Lab key={info.name} info={info} lab={byName.get(info.name)!} />)}
          </div>
        </div>
      ))}
    </div>
  );
}

export default island("labs", Labs);
