/**
 * One connection: its counters and queues over time, its packets, and a
 * follow-stream view (both directions interleaved and coloured, as text or
 * hex) like Wireshark's "Follow TCP Stream": the latest whole payloads the
 * capture holds, marked where it evicted bytes, else (capture off) the packet
 * log's previews. Closed connections keep their final counters and whatever
 * packets the log still holds.
 */
import { Fragment } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type {
  ConnStream,
  KernelStatus,
  PacketEntry,
  SocketRecord,
  WireSegment,
} from "../lib/view/api_types.ts";
import { ladder, type QueueSample } from "../lib/view/ladder.ts";
import { Ladder } from "./_ladder.tsx";
import { island } from "../lib/web/island.tsx";
import { Chart, COLORS, Samples } from "./_chart.tsx";
import {
  fmtAddr,
  fmtAge,
  fmtBytes,
  fmtInt,
  fmtTime,
  fromBase64,
  hexDump,
  streamText,
} from "../lib/view/format.ts";
import { postJson, useEventStream, useFollowEnd, useInterval } from "./_hooks.ts";
import { DirMark, Notes, PacketPane } from "./_packets.tsx";
import { DiagnosesPanel } from "./_diagnoses_panel.tsx";
import { KernelNotice, LiveDot, StateBadge } from "./_ui.tsx";
import { ownerOf, shortId } from "../lib/view/sockets_table.ts";

/** Props of the connection detail island. */
export interface ConnDetailProps {
  socket: SocketRecord;
  kernel: KernelStatus;
  /** Its packets still in the log, oldest first. */
  packets: PacketEntry[];
  /** The log's newest seq when the page was rendered. */
  lastSeq: number;
  previewBytes: number;
  /** The other end of the same connection, where both ends are on this host. */
  counterpart: SocketRecord | null;
  /** The wire ladder's first batch (a TCP connection), or null: no ladder for this socket. */
  wire?: ConnWire | null;
  now: number;
}

/** What the page hands the ladder: the wire view's state and the segments it had. */
export interface ConnWire {
  available: boolean;
  /** Why the wire view is off; null when on. */
  reason: string | null;
  /** Which line our socket is. */
  side: "server" | "client";
  /** Its segments, oldest first. */
  segments: WireSegment[];
}

/** Segments the page keeps (the ladder draws the latest 1,000 items of all kinds). */
const KEEP_SEGMENTS = 2000;
/** Queue samples the ladder keeps (those that changed). */
const KEEP_LADDER_SAMPLES = 600;

/**
 * The connection's segments: the page's first batch, then those after the last seq, fetched
 * when `version` (the socket's counters and state, from its live event) moves: no polling,
 * one request at a time, a missed change caught by the next.
 */
function useWireSegments(
  id: string,
  initial: ConnWire | null | undefined,
  version: string,
): WireSegment[] {
  const [segments, setSegments] = useState(initial?.segments ?? []);
  const last = useRef(initial?.segments.at(-1)?.seq ?? 0);
  const busy = useRef(false);
  const pending = useRef(false);
  const on = initial?.available === true;
  useEffect(() => {
    if (!on) return;
    const load = async (): Promise<void> => {
      if (busy.current) {
        pending.current = true;
        return;
      }
      busy.current = true;
      try {
        const res = await fetch(
          `/api/sockets/${encodeURIComponent(id)}/wire?after=${last.current}`,
        );
        if (!res.ok) return;
        const body = await res.json() as { segments: WireSegment[] };
        const fresh = body.segments.filter((s) => s.seq > last.current);
        if (fresh.length > 0) {
          last.current = fresh[fresh.length - 1].seq;
          setSegments((old) => old.concat(fresh).slice(-KEEP_SEGMENTS));
        }
      } catch {
        // The next change asks again.
      } finally {
        busy.current = false;
        if (pending.current) {
          pending.current = false;
          void load();
        }
      }
    };
    void load();
  }, [id, on, version]);
  return segments;
}

const KEEP_PACKETS = 5000;

function Field({ label, children, title }: { label: string; children: unknown; title?: string }) {
  return (
    <div class="field" title={title}>
      <dt>{label}</dt>
      <dd>{children as never}</dd>
    </div>
  );
}

/** Cumulative bytes in and out, rebuilt from the packets, anchored at the socket's totals. */
function byteHistory(socket: SocketRecord, packets: PacketEntry[]): (number | null)[][] {
  let sumIn = 0;
  let sumOut = 0;
  for (const p of packets) p.dir === "in" ? sumIn += p.len : sumOut += p.len;
  // The ring may have dropped the oldest packets: start from what they must have added up to.
  let cin = Math.max(0, socket.bytesIn - sumIn);
  let cout = Math.max(0, socket.bytesOut - sumOut);
  const xs: number[] = [];
  const ins: number[] = [];
  const outs: number[] = [];
  if (socket.openedAt !== null) {
    xs.push(socket.openedAt / 1000);
    ins.push(cin);
    outs.push(cout);
  }
  for (const p of packets) {
    if (p.dir === "in") cin += p.len;
    else cout += p.len;
    const x = p.ts / 1000;
    if (xs.length > 0 && xs[xs.length - 1] >= x) {
      ins[ins.length - 1] = cin;
      outs[outs.length - 1] = cout;
    } else {
      xs.push(x);
      ins.push(cin);
      outs.push(cout);
    }
  }
  const end = (socket.closedAt ?? Date.now()) / 1000;
  if (xs.length === 0 || xs[xs.length - 1] < end) {
    xs.push(end);
    ins.push(Math.max(cin, socket.bytesIn));
    outs.push(Math.max(cout, socket.bytesOut));
  }
  return [xs, ins, outs];
}

/** Payload the follow stream asks the capture for, its latest: in hex, 16,384 rows to draw. */
const STREAM_BYTES = 256 * 1024;

/** Where the follow stream's bytes come from: the capture, whole, or the packet log's previews. */
type StreamSource =
  | { kind: "capture"; stream: ConnStream }
  | { kind: "previews"; why: string };

/** One read or write as the follow stream draws it. */
interface Chunk {
  seq: number;
  ts: number;
  dir: "in" | "out";
  /** Bytes of this direction before it, for the hex dump's offsets. */
  offset: number;
  /** Bytes of this direction the capture evicted just before it. */
  gap: number;
  len: number;
  bytes: Uint8Array;
}

/**
 * The connection's latest payloads from the capture: fetched once the page
 * runs, then again when `version` (its byte counters, polled every second
 * while it is open) has moved, one request at a time, so it follows the
 * stream's end whatever the capture evicted. An error (the capture is off,
 * the socket unknown) settles it for good.
 */
function useCaptureStream(id: string, version: string): StreamSource {
  const [source, setSource] = useState<StreamSource>({ kind: "previews", why: "" });
  const fetched = useRef<string | null>(null);
  const busy = useRef(false);
  const settled = useRef(false);
  useInterval(
    async () => {
      if (busy.current || settled.current || fetched.current === version) return;
      busy.current = true;
      const asked = version;
      try {
        const res = await fetch(
          `/api/sockets/${encodeURIComponent(id)}/stream?tail=1&maxBytes=${STREAM_BYTES}`,
        );
        const body = await res.json() as ConnStream & { error?: string };
        fetched.current = asked;
        if (!res.ok) {
          settled.current = true;
          setSource({ kind: "previews", why: body.error ?? `HTTP ${res.status}` });
        } else {
          setSource({ kind: "capture", stream: body });
        }
      } catch {
        // The next tick tries again.
      } finally {
        busy.current = false;
      }
    },
    1000,
    true,
  );
  return source;
}

/** The packet log's previews as chunks, offsets counted from the first entry the log still has. */
function previewChunks(packets: PacketEntry[]): Chunk[] {
  const offsets = { in: 0, out: 0 };
  return packets.map((p) => {
    const offset = offsets[p.dir];
    offsets[p.dir] += p.len;
    const bytes = fromBase64(p.data);
    return { seq: p.seq, ts: p.ts, dir: p.dir, offset, gap: 0, len: p.len, bytes };
  });
}

/** What the follow stream shows of what the capture holds, and what it evicted. */
function captureLabel(stream: ConnStream, shownBytes: number): string {
  const held = fmtBytes(stream.total.in + stream.total.out);
  const lost = fmtBytes(stream.lost.in + stream.lost.out);
  const skipped = stream.skipped.records > 0;
  const parts: string[] = [];
  if (skipped) parts.push(`the latest ${fmtBytes(shownBytes)} of the ${held} it holds`);
  else if (stream.evicted) parts.push(`all ${held} it holds`);
  // Where the evicted bytes were is marked in the stream unless tail left that part out.
  if (stream.evicted) {
    // Not "older": the capture keeps each connection's first bytes, so what it lost may be a middle.
    parts.push(`${lost} were evicted${skipped ? "" : ", marked where they are missing"}`);
  }
  const download = skipped ? " (Download pcapng for all it holds)" : "";
  return `Full payloads from the capture${parts.length > 0 ? ": " : ""}${
    parts.join("; ")
  }${download}`;
}

/** Where the capture is missing bytes of one direction, drawn in the stream. */
function GapMarker({ bytes, dir, arrow }: { bytes: number; dir: "in" | "out"; arrow: string }) {
  return (
    <div
      class="stream-gap"
      data-gap={bytes}
      data-dir={dir}
      title="The capture is bounded: beyond each connection's first and latest bytes it evicts the oldest first"
    >
      [{fmtInt(bytes)} bytes of {arrow} evicted from the capture]
    </div>
  );
}

function FollowStream(
  { packets, socket, previewBytes }: {
    packets: PacketEntry[];
    socket: SocketRecord;
    previewBytes: number;
  },
) {
  const [mode, setMode] = useState<"text" | "hex">("text");
  const [show, setShow] = useState<"both" | "in" | "out">("both");
  const source = useCaptureStream(socket.id, `${socket.bytesIn}/${socket.bytesOut}`);
  const chunks = useMemo<Chunk[]>(
    () =>
      source.kind === "capture"
        ? source.stream.records.map((r) => ({ ...r, bytes: fromBase64(r.data) }))
        : previewChunks(packets),
    [source, source.kind === "capture" ? null : packets],
  );
  const shown = show === "both" ? chunks : chunks.filter((c) => c.dir === show);
  // The stream shows its latest bytes: it opens at the end and follows it.
  const follow = useFollowEnd<HTMLDivElement>(shown.length);
  let inBytes = 0;
  let outBytes = 0;
  for (const c of chunks) c.dir === "in" ? inBytes += c.len : outBytes += c.len;
  const local = fmtAddr(socket.local);
  const remote = socket.remote === null ? "*:*" : fmtAddr(socket.remote);
  const label = source.kind === "capture"
    ? captureLabel(source.stream, inBytes + outBytes)
    : `Previews: the first ${
      fmtInt(previewBytes)
    } bytes of each read and write, from the packet log${source.why ? ` (${source.why})` : ""}`;
  const arrow = { in: `${remote} → ${local}`, out: `${local} → ${remote}` };
  // A direction the capture holds nothing of has no record to mark a gap before: mark it first.
  const allLost: ["in" | "out", number][] = [];
  if (source.kind === "capture") {
    const { total, lost } = source.stream;
    for (const dir of ["in", "out"] as const) {
      if ((show === "both" || show === dir) && total[dir] === 0 && lost[dir] > 0) {
        allLost.push([dir, lost[dir]]);
      }
    }
  }
  return (
    <div class="follow">
      <div class="toolbar">
        <h2>Follow stream</h2>
        <span class="seg js-only" role="group" aria-label="Show as">
          <button
            type="button"
            class={mode === "text" ? "btn on" : "btn"}
            onClick={() => setMode("text")}
          >
            text
          </button>
          <button
            type="button"
            class={mode === "hex" ? "btn on" : "btn"}
            onClick={() => setMode("hex")}
          >
            hex
          </button>
        </span>
        <label>
          Show{" "}
          <select value={show} onChange={(e) => setShow(e.currentTarget.value as typeof show)}>
            <option value="both">entire conversation</option>
            <option value="in">{remote} → {local} only</option>
            <option value="out">{local} → {remote} only</option>
          </select>
        </label>
        <span class="spacer" />
        <span class="legend mono small">
          <span class="dir-in-bg sw">{remote} → {local}: {fmtBytes(inBytes)}</span>
          <span class="dir-out-bg sw">{local} → {remote}: {fmtBytes(outBytes)}</span>
        </span>
      </div>
      <p class="muted small" data-stream-source={source.kind}>{label}</p>
      <div
        class={`stream stream-${mode}`}
        data-follow-stream=""
        data-source={source.kind}
        ref={follow.ref}
        onScroll={follow.onScroll}
      >
        {allLost.map(([dir, bytes]) => (
          <GapMarker key={dir} bytes={bytes} dir={dir} arrow={arrow[dir]} />
        ))}
        {shown.length === 0 && allLost.length === 0 && (
          <p class="muted">
            No payload in the {source.kind === "capture" ? "capture" : "log"} for this connection.
          </p>
        )}
        {shown.map((c) => {
          const missing = c.len - c.bytes.length;
          return (
            <Fragment key={c.seq}>
              {c.gap > 0 && <GapMarker bytes={c.gap} dir={c.dir} arrow={arrow[c.dir]} />}
              <div
                class={`chunk dir-${c.dir}-bg`}
                data-seq={c.seq}
                title={`#${c.seq} ${fmtTime(c.ts)} ${c.dir} ${c.len} bytes`}
              >
                {mode === "text"
                  ? <span class="chunk-text">{streamText(c.bytes)}</span>
                  : (
                    <pre class="hexdump">
                    {hexDump(c.bytes, c.offset).map((r) => (
                      <div key={r.offset}>
                        <span class="off">{r.offset}</span>  {r.hex.padEnd(49)}  <span class="asc">{r.ascii}</span>
                      </div>
                    ))}
                    </pre>
                  )}
                {missing > 0 && (
                  <span
                    class="gap"
                    title={`Only the first ${previewBytes} bytes of each read or write are kept`}
                  >
                    [{fmtInt(missing)} more bytes not kept]
                  </span>
                )}
              </div>
            </Fragment>
          );
        })}
      </div>
    </div>
  );
}

function ConnDetail(props: ConnDetailProps) {
  const [socket, setSocket] = useState(props.socket);
  const [kernel, setKernel] = useState(props.kernel);
  const [packets, setPackets] = useState(props.packets);
  const [gone, setGone] = useState(false);
  const [selected, setSelected] = useState<number | null>(null);
  const [error, setError] = useState("");
  const [now, setNow] = useState(props.now);
  const newest = useRef(props.lastSeq);
  const queues = useRef(new Samples(4, 600));
  const [queueData, setQueueData] = useState<(number | null)[][]>([[], [], [], [], []]);
  const [ladderSamples, setLadderSamples] = useState<QueueSample[]>([]);
  const open = socket.closedAt === null && !gone;
  const id = socket.id;

  // One stream: the socket every second while it is open, and a connection's new packets.
  const packetQuery = socket.kind === "conn"
    ? `&conn=${encodeURIComponent(id)}&after=${props.lastSeq}`
    : "&packets=0";
  const status = useEventStream(
    open ? `/api/events?sockets=0&socket=${encodeURIComponent(id)}${packetQuery}` : null,
    {
      socket(data) {
        const s = data.socket;
        if (s === null) {
          setGone(true);
          return;
        }
        setSocket(s);
        setKernel(data.kernel);
        setNow(Date.now());
        setQueueData(queues.current.push(Date.now(), [
          s.kernel?.recvQ ?? null,
          s.kernel?.sendQ ?? null,
          s.app?.rxBuffered ?? null,
          s.app?.txBuffered ?? null,
        ]));
        // The ladder marks the kernel queues where they changed, not every second.
        if (s.kernel) {
          const q = { ts: Date.now(), recvQ: s.kernel.recvQ, sendQ: s.kernel.sendQ };
          setLadderSamples((old) => {
            const prev = old.at(-1);
            return prev !== undefined && prev.recvQ === q.recvQ && prev.sendQ === q.sendQ
              ? old
              : old.concat(q).slice(-KEEP_LADDER_SAMPLES);
          });
        }
      },
      packets(data) {
        const fresh = data.packets.filter((p) => p.seq > newest.current);
        if (fresh.length === 0) return;
        newest.current = fresh[fresh.length - 1].seq;
        setPackets((old) => old.concat(fresh).slice(-KEEP_PACKETS));
      },
    },
  );

  const bytes = useMemo(() => byteHistory(socket, packets), [socket, packets]);
  const wireVersion =
    `${socket.bytesIn}/${socket.bytesOut}/${socket.state}/${socket.closedAt}/${gone}`;
  const segments = useWireSegments(id, props.wire, wireVersion);
  const side = props.wire?.side ?? "server";
  const ladderModel = useMemo(
    () => ladder(segments, packets, ladderSamples, { side }),
    [segments, packets, ladderSamples, side],
  );
  // Oldest first, opened at the newest and following them, as the follow stream.
  const table = useFollowEnd<HTMLDivElement>(packets.length);
  const close = async () => {
    try {
      await postJson(`/api/sockets/${encodeURIComponent(id)}/close`);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  const sel = selected === null ? undefined : packets.find((p) => p.seq === selected);
  const info = socket.kernel?.info;
  const other = props.counterpart;
  const canClose = open && socket.kind === "conn" && socket.ours && !socket.kernelOnly;
  const listen = socket.state === "LISTEN";
  // Connections and UDP flows carry payload; listeners, kernel-only and peer rows do not.
  const hasStream = packets.length > 0 || socket.kind === "conn" || socket.kind === "flow";

  return (
    <section class="detail" data-socket={id}>
      <div class="toolbar">
        <h1 class="mono">{id}</h1>
        <StateBadge state={gone ? "CLOSED" : socket.state} />
        <span class="mono">
          {fmtAddr(socket.local)} ⇄ {socket.remote === null ? "*:*" : fmtAddr(socket.remote)}
        </span>
        <span class="muted">
          {socket.endpoint} · {ownerOf(socket)}
        </span>
        <span class="spacer" />
        {socket.ours && !socket.kernelOnly && (socket.kind === "conn" || socket.kind === "flow") &&
          (
            <a
              class="btn"
              href={`/api/capture.pcapng?conn=${encodeURIComponent(id)}`}
              download
              data-action="pcapng"
              title="This connection's full payloads as pcapng: open it in Wireshark and Follow TCP stream"
            >
              Download pcapng
            </a>
          )}
        {canClose && (
          <button type="button" class="btn btn-danger js-only" onClick={close}>
            Close connection
          </button>
        )}
        {open
          ? <LiveDot status={socket.kind === "conn" ? status : "live"} />
          : <span class="pill">{gone ? "gone" : "closed"}</span>}
      </div>
      {error && <p class="banner bad">{error}</p>}
      {socket.closedAt !== null && (
        <p class="banner info">
          Closed {fmtTime(socket.closedAt)} after{" "}
          {fmtAge(socket.closedAt - (socket.openedAt ?? socket.closedAt))}
          {socket.closeReason && <>: {socket.closeReason}</>}. Final counters below.
        </p>
      )}
      {gone && socket.closedAt === null && (
        <p class="banner info">
          The kernel no longer lists this socket; the numbers below are the last seen.
        </p>
      )}
      <KernelNotice kernel={kernel} />
      <DiagnosesPanel socket={id} />
      <div class="detail-grid">
        <dl class="fields card">
          <Field label="endpoint">{socket.endpoint}</Field>
          <Field label="transport">{socket.transport.toUpperCase()} · {socket.kind}</Field>
          <Field label="opened">{socket.openedAt === null ? "—" : fmtTime(socket.openedAt)}</Field>
          <Field label="age">
            {socket.openedAt === null ? "—" : fmtAge((socket.closedAt ?? now) - socket.openedAt)}
          </Field>
          <Field label="bytes in / out">
            <span class="c-in">{fmtBytes(socket.bytesIn)}</span> /{" "}
            <span class="c-out">{fmtBytes(socket.bytesOut)}</span>
          </Field>
          <Field label="messages in / out">
            {fmtInt(socket.messagesIn)} / {fmtInt(socket.messagesOut)}
          </Field>
          <Field
            label={listen ? "accept queue / backlog" : "kernel Recv-Q / Send-Q"}
            title="Bytes the kernel holds for the process to read / for the peer to acknowledge"
          >
            {socket.kernel
              ? `${fmtInt(socket.kernel.recvQ)} / ${fmtInt(socket.kernel.sendQ)}`
              : "—"}
          </Field>
          <Field
            label="app rx / tx buffered"
            title="Bytes the process holds unparsed / not yet written"
          >
            {socket.app
              ? `${fmtBytes(socket.app.rxBuffered)} / ${fmtBytes(socket.app.txBuffered)}`
              : "—"}
            {socket.app?.paused && <span class="pill warn">not reading</span>}
          </Field>
          {info?.rttMs !== undefined && (
            <Field label="rtt / var">
              {info.rttMs.toFixed(3)} / {(info.rttVarMs ?? 0).toFixed(3)} ms
            </Field>
          )}
          {info?.cwnd !== undefined && (
            <Field label="cwnd · mss">{info.cwnd} · {info.mss ?? "—"}</Field>
          )}
          {info?.retransmits !== undefined && (
            <Field label="retransmits · lost">{info.retransmits} · {info.lostPackets ?? 0}</Field>
          )}
          {info?.timer && (
            <Field label="timer">
              {info.timer} {info.timerMs !== undefined ? fmtAge(info.timerMs) : ""}
            </Field>
          )}
          {other && (
            <Field label="other end" title="The peer's socket on this host, as the kernel lists it">
              <a class="mono" href={`/sockets/${encodeURIComponent(other.id)}`} title={other.id}>
                {shortId(other)}
              </a>{" "}
              <StateBadge state={other.state} /> {other.kernel && (
                <span class="mono small">
                  Recv-Q {fmtInt(other.kernel.recvQ)} · Send-Q {fmtInt(other.kernel.sendQ)}
                </span>
              )}
            </Field>
          )}
        </dl>
        <div class="card">
          <h2>Bytes over time</h2>
          {bytes[0].length < 2
            ? (
              <p class="muted small">
                No byte history: nothing of this socket is in the packet log.
              </p>
            )
            : (
              <Chart
                height={160}
                unit="bytes"
                series={[
                  { label: "in (read)", color: COLORS.in, stepped: true },
                  { label: "out (written)", color: COLORS.out, stepped: true },
                ]}
                data={bytes}
              />
            )}
        </div>
        <div class="card">
          <h2>Queues {open ? "(sampled every second while this page is open)" : ""}</h2>
          {queueData[0].length < 2
            ? (
              <p class="muted small">
                {open
                  ? "Sampling: the chart starts with the second sample, a second from now."
                  : "Queues are sampled while the page is open; this socket was already gone. " +
                    "Its last values are in the table on the left."}
              </p>
            )
            : (
              <Chart
                height={160}
                unit={listen ? "count" : "bytes"}
                series={[
                  {
                    label: listen ? "accept queue" : "kernel Recv-Q",
                    color: COLORS.recvQ,
                    stepped: true,
                  },
                  {
                    label: listen ? "backlog" : "kernel Send-Q",
                    color: COLORS.sendQ,
                    stepped: true,
                  },
                  { label: "app rx", color: COLORS.appRx, stepped: true, dash: [4, 3] },
                  { label: "app tx", color: COLORS.appTx, stepped: true, dash: [4, 3] },
                ]}
                data={queueData}
              />
            )}
        </div>
      </div>
      {props.wire && (
        <div class="card" data-wire-ladder="">
          <div class="toolbar">
            <h2>On the wire</h2>
            <span class="muted small">
              the captured segments as a ladder, with the app's reads and writes and the kernel
              queues where they changed, on one time axis (quiet stretches compressed)
            </span>
          </div>
          {!props.wire.available
            ? (
              <p class="muted" data-wire-off="">
                The wire view is off:{" "}
                {props.wire.reason ?? "unknown reason"}. The packets below are the app's reads and
                writes only.
              </p>
            )
            : segments.length === 0
            ? <p class="muted small">No segments of this connection were captured (yet).</p>
            : <Ladder model={ladderModel} />}
        </div>
      )}
      {!hasStream && (
        <p class="muted">
          {listen
            ? "A listening socket carries no payload: its connections do (see the socket table)."
            : "The packet log records the service's own connections; this socket is the kernel's or a peer's."}
          {other && socket.kind === "peer" && (
            <>
              {" "}Its other end,{" "}
              <a href={`/sockets/${encodeURIComponent(other.id)}`}>{shortId(other)}</a>, has the
              packets.
            </>
          )}
        </p>
      )}
      {hasStream && (
        <div class="card">
          <div class="toolbar">
            <h2>Packets</h2>
            <span class="muted small">
              the latest {fmtInt(packets.length)} in the log (the first {props.previewBytes}{" "}
              bytes of each), oldest first, opened at the newest and following it as the stream
              below does; scroll up for older ones, or see{" "}
              <a href={`/packets?conn=${encodeURIComponent(socket.id)}`}>all in the log →</a>
            </span>
          </div>
          <div
            class="table-scroll short"
            data-packet-table=""
            ref={table.ref}
            onScroll={table.onScroll}
          >
            <table class="grid packet-table">
              <colgroup>
                <col class="w-seq" />
                <col class="w-time" />
                <col class="w-dir" />
                <col class="w-len" />
                <col class="w-data" />
                <col class="w-dec" />
              </colgroup>
              <thead>
                <tr>
                  <th class="num">No.</th>
                  <th>Time</th>
                  <th>Dir</th>
                  <th class="num">Len</th>
                  <th>Data</th>
                  <th>Decoded</th>
                </tr>
              </thead>
              <tbody>
                {packets.map((p, i) => (
                  <tr
                    key={p.seq}
                    class={`row${i % 2 ? " odd" : ""}${p.seq === selected ? " selected" : ""}`}
                    onClick={() => setSelected(p.seq)}
                    data-seq={p.seq}
                  >
                    <td class="num mono">{p.seq}</td>
                    <td class="mono">{fmtTime(p.ts)}</td>
                    <td>
                      <DirMark dir={p.dir} />
                    </td>
                    <td class="num mono">{fmtInt(p.len)}</td>
                    <td class={`mono data dir-${p.dir}-fg`}>
                      {streamText(fromBase64(p.data)).replace(/\n/g, "↵")}
                    </td>
                    <td class="decoded">
                      <Notes notes={p.decoded} />
                    </td>
                  </tr>
                ))}
                {packets.length === 0 && (
                  <tr>
                    <td colSpan={6} class="empty">No packets in the log (yet, or any more).</td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
          {sel && <PacketPane p={sel} previewBytes={props.previewBytes} />}
        </div>
      )}
      {hasStream && (
        <div class="card">
          <FollowStream packets={packets} socket={socket} previewBytes={props.previewBytes} />
        </div>
      )}
    </section>
  );
}

export default island("conn_detail", ConnDetail);
