/**
 * Pieces of the packet views (the packet log, a connection's packets): the
 * direction mark, decoded notes, and the bytes pane. Payload bytes are
 * attacker-controlled, so they only ever reach the page as text nodes.
 */
import type { PacketEntry, PacketNote } from "../lib/view/api_types.ts";
import {
  fmtInt,
  fmtTime,
  fromBase64,
  hexDump,
  streamText,
  visibleControls,
} from "../lib/view/format.ts";

/** Direction of a packet as seen from the process: `in` was read, `out` was written. */
export function DirMark({ dir }: { dir: "in" | "out" }) {
  return (
    <span
      class={`dir dir-${dir}`}
      title={dir === "in" ? "read by the process" : "written by the process"}
    >
      {dir === "in" ? "◀ in" : "out ▶"}
    </span>
  );
}

/** The decoded notes of a packet: app frames, framing errors. */
export function Notes({ notes }: { notes: PacketNote[] | undefined }) {
  if (notes === undefined || notes.length === 0) return null;
  return (
    <>
      {notes.map((n, i) => (
        <span
          key={i}
          class={n.error ? "note note-err" : "note"}
          title={visibleControls(`${n.kind}: ${n.summary}`)}
        >
          <b>{n.kind}</b> {visibleControls(n.summary)}
        </span>
      ))}
    </>
  );
}

/** A packet's bytes as a hex dump and as text, with its decoded notes (Wireshark's bytes pane). */
export function PacketPane({ p, previewBytes }: { p: PacketEntry; previewBytes: number }) {
  const bytes = fromBase64(p.data);
  return (
    <div class="pane" data-seq={p.seq}>
      <div class="pane-head">
        <span class="mono">#{p.seq}</span>
        <span class="mono">{fmtTime(p.ts)}</span>
        <DirMark dir={p.dir} />
        <a class="mono" href={`/sockets/${encodeURIComponent(p.conn)}`}>{p.conn}</a>
        <span>{p.endpoint}</span>
        <span class="mono">{fmtInt(p.len)} bytes</span>
        {p.truncated && (
          <span class="muted small">
            first {fmtInt(bytes.length)} kept (--log-preview {previewBytes})
          </span>
        )}
      </div>
      {p.decoded && p.decoded.length > 0 && (
        <div class="pane-notes">
          <Notes notes={p.decoded} />
        </div>
      )}
      <div class="pane-body">
        <pre class="hexdump">
          {hexDump(bytes).map((r) => (
            <div key={r.offset}>
              <span class="off">{r.offset}</span>  {r.hex.padEnd(49)}  <span class="asc">{r.ascii}</span>
            </div>
          ))}
          {bytes.length === 0 && <span class="muted">(no bytes kept)</span>}
        </pre>
        <pre class={`stream-text dir-${p.dir}-bg`}>{streamText(bytes)}</pre>
      </div>
    </div>
  );
}
