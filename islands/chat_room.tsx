/**
 * The chat room: its participants (sockets on the chat endpoint and people
 * posting from the dashboard), the messages as they arrive, a form to post
 * as a named participant, and the lines to join from a shell. Names and
 * texts come from whoever connects: they reach the page only as text nodes,
 * inside `<bdi>` so right-to-left overrides cannot reorder what surrounds them.
 */
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import type { Address, ChatMessage, ChatParticipant } from "../lib/view/api_types.ts";
import { island } from "../lib/web/island.tsx";
import { fmtAddr, fmtAge, fmtInt, fmtTime, visibleControls } from "../lib/view/format.ts";
import { postJson, useEventStream, useNow } from "./_hooks.ts";
import { CopyLine, LiveDot } from "./_ui.tsx";

/** Messages the page shows (and asks the API for). */
export const HISTORY = 100;
const NAME_KEY = "sockscope.chat.name";

/** Props of the chat room island. */
export interface ChatRoomProps {
  /** The chat endpoint's address, null when it is not listening. */
  address: Address | null;
  /** Shell lines to join, with the real address filled in. */
  tryIt: string[];
  participants: ChatParticipant[];
  messages: ChatMessage[];
  now: number;
}

/** A stable colour per name, the same on the server and in the browser. */
function nameColor(name: string): string {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return `color:hsl(${h % 360} 55% 34%)`;
}

function Via({ p }: { p: { from?: string; kind?: string; conn: string | null } }) {
  const kind = p.kind ?? p.from;
  if (kind === "tcp" && p.conn !== null) {
    return (
      <a class="mono" href={`/sockets/${encodeURIComponent(p.conn)}`} title="The socket it uses">
        {p.conn}
      </a>
    );
  }
  return <span class="badge st-other" title="Posted from the dashboard">web</span>;
}

function Participants({ list, now }: { list: ChatParticipant[]; now: number }) {
  return (
    <table class="grid chat-people">
      <thead>
        <tr>
          <th>Name</th>
          <th>Address</th>
          <th>Via</th>
          <th class="num">Joined</th>
          <th class="num">Msgs</th>
        </tr>
      </thead>
      <tbody>
        {list.map((p) => (
          <tr key={`${p.kind}:${p.conn ?? p.name}`} data-participant={p.name} data-kind={p.kind}>
            <td class="chat-name" style={nameColor(p.name)}>
              <bdi>{p.name}</bdi>
            </td>
            <td class="mono">{p.remote === null ? "dashboard" : fmtAddr(p.remote)}</td>
            <td>
              <Via p={p} />
              {p.kind === "tcp" && (
                <span
                  class="muted small"
                  title={p.joined
                    ? "Sent !JOIN: the room's messages are relayed to it"
                    : "Gets only its acknowledgements, as from the seed's server; !JOIN for the room"}
                >
                  {p.joined ? " · in the room" : " · acks only"}
                </span>
              )}
            </td>
            <td class="num" title={new Date(p.since).toISOString()}>
              {fmtAge(now - p.since)} ago
            </td>
            <td class="num">{fmtInt(p.messages)}</td>
          </tr>
        ))}
        {list.length === 0 && (
          <tr>
            <td colSpan={5} class="empty">
              Nobody here yet: join from a shell, or post below.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function Message({ m }: { m: ChatMessage }) {
  return (
    <li class="msg" data-seq={m.seq} data-from={m.from}>
      <span class="msg-time mono muted">{fmtTime(m.ts)}</span>
      <span class="msg-name" style={nameColor(m.name)}>
        <bdi>{m.name}</bdi>
      </span>
      <span class="msg-text">
        <bdi>{visibleControls(m.text)}</bdi>
      </span>
      <span class="msg-meta muted small">
        <Via p={m} /> <span class="mono">{fmtInt(m.bytes)} B</span> ·{" "}
        <span title="Sockets in the room it was relayed to">
          relayed to {fmtInt(m.relayedTo)}
        </span>
      </span>
    </li>
  );
}

function ChatRoom(props: ChatRoomProps) {
  const [participants, setParticipants] = useState(props.participants);
  const [messages, setMessages] = useState(props.messages);
  const [name, setName] = useState("");
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const now = useNow(props.now);
  const list = useRef<HTMLOListElement>(null);
  // Follow new messages while the list is scrolled to its end, as a terminal does.
  const stick = useRef(true);

  // The room comes whenever it changes (lib/live/event_source.ts), a post included.
  const status = useEventStream(
    `/api/events?sockets=0&packets=0&chat=1&chatLimit=${HISTORY}`,
    {
      chat(room) {
        setParticipants(room.participants);
        setMessages((old) => {
          const next = room.messages;
          return old.length === next.length && old.at(-1)?.seq === next.at(-1)?.seq ? old : next;
        });
      },
    },
  );

  useLayoutEffect(() => {
    const saved = localStorage.getItem(NAME_KEY);
    if (saved) setName(saved);
  }, []);

  useLayoutEffect(() => {
    const el = list.current;
    if (el !== null && stick.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const post = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      await postJson("/api/chat", { name: name.trim(), text });
      localStorage.setItem(NAME_KEY, name.trim());
      setText("");
      setError("");
      stick.current = true;
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const sockets = participants.filter((p) => p.kind === "tcp").length;
  return (
    <section class="chat">
      <div class="toolbar">
        <span class="mono">
          {props.address === null ? "not listening" : fmtAddr(props.address)}
        </span>
        <span class="muted">
          {fmtInt(participants.length)} participant{participants.length === 1 ? "" : "s"} (
          {fmtInt(sockets)} on sockets) · last {fmtInt(messages.length)} messages
        </span>
        <span class="spacer" />
        <a class="small" href="/packets?endpoint=chat">packets →</a>
        <a class="small" href="/sockets?endpoint=chat">sockets →</a>
        <LiveDot status={status} />
      </div>
      <div class="chat-grid">
        <div class="card chat-log">
          <ol
            class="msgs"
            ref={list}
            onScroll={(e) => {
              const el = e.currentTarget;
              stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
            }}
            aria-live="polite"
          >
            {messages.map((m) => <Message key={m.seq} m={m} />)}
            {messages.length === 0 && <li class="empty muted">No messages yet.</li>}
          </ol>
          <form class="chat-form js-only" onSubmit={post}>
            <input
              name="name"
              aria-label="Your name"
              placeholder="your name"
              maxLength={32}
              size={14}
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
              required
            />
            <input
              name="text"
              class="chat-text"
              aria-label="Message"
              placeholder="Message: relayed to every socket that sent !JOIN"
              value={text}
              onInput={(e) => setText(e.currentTarget.value)}
              required
            />
            <button type="submit" class="btn btn-primary" disabled={busy}>Send</button>
          </form>
          {error && <p class="c-bad small chat-error" role="alert">{error}</p>}
          <p class="muted small nojs-only">Posting from the page needs JavaScript.</p>
        </div>
        <div>
          <div class="card">
            <h2>Participants</h2>
            <Participants list={participants} now={now} />
          </div>
          <div class="card">
            <h2>Join from a shell</h2>
            <p class="explain">
              The CLI frames each line for you, joins the room and prints relays as they come. With
              plain{" "}
              <code>nc</code>, frame each line yourself: the loop below pads its byte length to 64
              bytes. Replies show raw: <code>Msg received</code> for each message. Type{" "}
              <code>!JOIN</code>{" "}
              to get everyone's messages too, each behind a 64-byte header (the seed's client never
              does, so it reads only its acknowledgements), and <code>!NAME alice</code>{" "}
              to take a name.
            </p>
            <div class="tryit">
              {props.tryIt.map((line) => <CopyLine key={line} text={line} />)}
            </div>
          </div>
        </div>
      </div>
    </section>
  );
}

export default island("chat_room", ChatRoom);
