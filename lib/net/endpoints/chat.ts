/**
 * The chat endpoint (seed 003, the threaded server at its top): 64-byte
 * length headers, "Msg received" for every message and nothing else,
 * "!DISCONNECT" to leave, so any number of the seed's clients at once each
 * read exactly their acknowledgements. Going beyond the seed, the room keeps
 * a bounded history (the dashboard shows it), relays each message (framed
 * like a message, as `[name] text`) to the sockets that asked for the room
 * with `!JOIN`, lets a participant rename itself with `!NAME <name>`, and
 * takes posts from the dashboard as participants of its own.
 */
import type { PacketNote } from "../../capture/packet_log.ts";
import {
  CHAT_DISCONNECT,
  CHAT_JOIN,
  CHAT_MAX_MESSAGE,
  CHAT_NAME_COMMAND,
  chatAck,
  ChatMessageDecoder,
  encodeChatRelay,
  isChatName,
} from "../../protocol/chat.ts";
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import { type ConnHandler, nowMs, type ObservedConn } from "../observed_conn.ts";
import type { TcpBehaviour } from "../tcp_endpoint.ts";
import type { Address } from "../types.ts";
import { concat } from "../../bytes.ts";

/** Defaults of {@linkcode ChatRoomOptions}' limits, declared once: `main.ts`'s flags show them. */
export const CHAT_ROOM_DEFAULTS = {
  maxMessage: CHAT_MAX_MESSAGE,
  history: 200,
  maxBacklog: 1_048_576,
} as const;

/** Limits of the chat room. */
export interface ChatRoomOptions {
  /**
   * Largest message a header may declare, in bytes.
   *
   * @default {65536}
   */
  maxMessage?: number;
  /**
   * Messages kept for the dashboard.
   *
   * @default {200}
   */
  history?: number;
  /**
   * Bytes a participant may have waiting unsent before relays to it are dropped.
   *
   * @default {1048576}
   */
  maxBacklog?: number;
  /**
   * Dashboard participants remembered; the one that posted least recently goes first.
   *
   * @default {100}
   */
  maxWebParticipants?: number;
  /** How long the server drains after !DISCONNECT or an error before it closes. @default 1000 */
  lingerMs?: number;
}

/** A participant as the API shows it. */
export interface ChatParticipant {
  name: string;
  /** `tcp`: a socket on the chat endpoint; `web`: someone posting from the dashboard. */
  kind: "tcp" | "web";
  /** The connection id (tcp only). */
  conn: string | null;
  remote: Address | null;
  /** Epoch ms it connected (tcp) or first posted (web). */
  since: number;
  messages: number;
  /** True once it sent `!JOIN` and gets the room's relays (tcp); web participants read the page. */
  joined: boolean;
}

/** A message in the room's history. */
export interface ChatMessage {
  seq: number;
  ts: number;
  name: string;
  from: "tcp" | "web";
  /** The connection id the message came in on (tcp only). */
  conn: string | null;
  /** The text, cut to its first 2,000 characters for the history (relays carry it whole). */
  text: string;
  /** Bytes of the whole message. */
  bytes: number;
  /** Participants it was relayed to. */
  relayedTo: number;
}

/** What `GET /api/chat` shows. */
export interface ChatSnapshot {
  participants: ChatParticipant[];
  messages: ChatMessage[];
}

interface Member {
  participant: ChatParticipant;
  conn: ObservedConn | null;
  decoder: ChatMessageDecoder | null;
  leaving: boolean;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();
const HISTORY_TEXT = 2000;

function preview(text: string): string {
  const flat = text.replaceAll(/[\r\n]+/g, " ");
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat;
}

/** The chat room: the endpoint's behaviour and the state the dashboard reads. */
export class ChatRoom implements TcpBehaviour {
  readonly handler: ConnHandler;
  #members = new Map<ObservedConn, Member>();
  #web = new Map<string, Member>();
  #history: ChatMessage[] = [];
  #seq = 0;
  #version = 0;
  #maxMessage: number;
  #historySize: number;
  #maxBacklog: number;
  #maxWeb: number;
  #lingerMs: number;

  /** Creates an empty room with the given limits. */
  constructor(options: ChatRoomOptions = {}) {
    this.#maxMessage = options.maxMessage ?? CHAT_ROOM_DEFAULTS.maxMessage;
    this.#historySize = options.history ?? CHAT_ROOM_DEFAULTS.history;
    this.#maxBacklog = options.maxBacklog ?? CHAT_ROOM_DEFAULTS.maxBacklog;
    this.#maxWeb = options.maxWebParticipants ?? 100;
    this.#lingerMs = options.lingerMs ?? 1000;
    this.handler = { data: (conn, chunk) => this.#data(conn, chunk) };
  }

  /**
   * Counts the room's changes (participants, names, messages): while it stays
   * the same, so does {@linkcode ChatRoom.snapshot}, so a watcher sends only news.
   */
  get version(): number {
    return this.#version;
  }

  /** A new connection joins under its address as name. */
  opened(conn: ObservedConn): void {
    this.#version++;
    this.#members.set(conn, {
      participant: {
        name: `${conn.remote.hostname}:${conn.remote.port}`,
        kind: "tcp",
        conn: conn.id,
        remote: conn.remote,
        since: nowMs(),
        messages: 0,
        joined: false,
      },
      conn,
      decoder: new ChatMessageDecoder({ maxMessage: this.#maxMessage }),
      leaving: false,
    });
  }

  /** A closed connection leaves the room. */
  closed(conn: ObservedConn): void {
    if (this.#members.delete(conn)) this.#version++;
  }

  /** Participants (sockets first, then dashboard posters) and the newest `limit` messages. */
  snapshot(limit = 50): ChatSnapshot {
    return {
      // A participant that sent !DISCONNECT has left, even while its socket drains.
      participants: [...this.#members.values(), ...this.#web.values()].filter((m) => !m.leaving)
        .map((m) => ({ ...m.participant })),
      messages: this.#history.slice(Math.max(0, this.#history.length - limit)),
    };
  }

  /**
   * Posts `text` as the dashboard participant `name`: recorded and relayed
   * to every socket that joined the room. Throws RangeError for an invalid name or text.
   */
  post(name: string, text: string): ChatMessage {
    if (!isChatName(name)) {
      throw new RangeError(
        `Invalid name: ${
          JSON.stringify(name)
        } must be 1 to 32 letters, digits or the characters _ . : @ -`,
      );
    }
    const bytes = encoder.encode(text).length;
    if (bytes === 0 || bytes > this.#maxMessage) {
      throw new RangeError(`Invalid text: ${bytes} bytes is not in 1..${this.#maxMessage}`);
    }
    this.#version++;
    let member = this.#web.get(name);
    if (member === undefined) {
      member = {
        participant: {
          name,
          kind: "web",
          conn: null,
          remote: null,
          since: nowMs(),
          messages: 0,
          joined: true,
        },
        conn: null,
        decoder: null,
        leaving: false,
      };
    }
    // Re-inserting keeps the most recent poster at the end; the least recent is forgotten first.
    this.#web.delete(name);
    this.#web.set(name, member);
    if (this.#web.size > this.#maxWeb) this.#web.delete(this.#web.keys().next().value!);
    member.participant.messages++;
    return this.#say(member, text);
  }

  #data(conn: ObservedConn, chunk: Uint8Array): void | Promise<unknown> {
    const member = this.#members.get(conn);
    if (member === undefined || member.leaving) return;
    const decoder = member.decoder!;
    const { messages, error } = decoder.push(chunk);
    conn.rxBuffered = decoder.buffered;
    conn.trackMessage(decoder.pending, messages.length > 0);
    const progress = decoder.progress;
    if (messages.length === 0 && error === null) {
      if (progress !== null) {
        conn.annotate({ kind: "chat", summary: `message in progress: ${progress}` });
      }
      return;
    }
    // Messages, !JOIN, !NAME, !DISCONNECT or an error: each changes what the room shows.
    this.#version++;
    let acks = 0;
    let leaving = false;
    for (const body of messages) {
      const text = utf8.decode(body);
      const name = member.participant.name;
      acks++;
      if (text === CHAT_DISCONNECT) {
        conn.annotate({ kind: "chat", summary: `${name}: ${CHAT_DISCONNECT}, the session ends` });
        leaving = true;
        break;
      }
      if (text === CHAT_JOIN) {
        member.participant.joined = true;
        conn.annotate({
          kind: "chat",
          summary: `${name}: ${CHAT_JOIN}, relays from the room follow`,
        });
        continue;
      }
      if (text.startsWith(CHAT_NAME_COMMAND)) {
        this.#rename(conn, member, text.slice(CHAT_NAME_COMMAND.length).trim());
        continue;
      }
      member.participant.messages++;
      const said = this.#say(member, text);
      conn.annotate({
        kind: "chat",
        summary: `message ${said.seq} from ${name} (${body.length} B): ${preview(text)}`,
      });
    }
    if (progress !== null && !leaving) {
      conn.annotate({ kind: "chat", summary: `next message in progress: ${progress}` });
    }
    const notes: PacketNote[] = [{
      kind: "chat",
      summary: acks === 1 ? '"Msg received"' : `"Msg received" × ${acks}`,
    }];
    const parts: Uint8Array[] = [];
    for (let i = 0; i < acks; i++) parts.push(chatAck());
    if (error !== null) {
      leaving = true;
      if (error.kind === "too-large") conn.countLimit("chat-message-bytes");
      else conn.countError("protocol");
      conn.annotate({ kind: "chat-error", summary: error.message, error: true });
      parts.push(encoder.encode(`Error: ${error.message}\n`));
      notes.push({ kind: "chat-error", summary: "error line, then close", error: true });
    }
    const written = parts.length === 0 ? Promise.resolve(0) : conn.write(concat(parts), notes);
    if (!leaving) return written;
    member.leaving = true;
    return written.then(() =>
      conn.closeGracefully(error === null ? "!DISCONNECT" : "chat protocol error", this.#lingerMs)
    );
  }

  #rename(conn: ObservedConn, member: Member, wanted: string): void {
    const old = member.participant.name;
    let taken = false;
    for (const m of this.#members.values()) {
      if (m !== member && m.participant.name === wanted) taken = true;
    }
    if (!isChatName(wanted) || taken) {
      conn.annotate({
        kind: "chat",
        summary: `${old}: cannot rename to ${JSON.stringify(wanted.slice(0, 40))}: ${
          taken ? "taken" : "not 1 to 32 letters, digits or _ . : @ -"
        }`,
        error: true,
      });
      return;
    }
    member.participant.name = wanted;
    conn.annotate({ kind: "chat", summary: `${old} is now ${wanted}` });
  }

  /** Records a message and relays it to every other socket that joined the room. */
  #say(from: Member, text: string): ChatMessage {
    const name = from.participant.name;
    const relay = encodeChatRelay(name, text);
    const notes: PacketNote[] = [{ kind: "chat", summary: `relay from ${name}: ${preview(text)}` }];
    let relayedTo = 0;
    for (const m of this.#members.values()) {
      // Only to sockets that asked: the seed's client reads one recv() per message, its ack.
      if (m === from || !m.participant.joined || m.leaving || m.conn === null || m.conn.closed) {
        continue;
      }
      const conn = m.conn;
      // A participant that does not read must not make the process hold unbounded bytes.
      if (conn.txBuffered + relay.length > this.#maxBacklog) {
        conn.countLimit("chat-relay-backlog");
        continue;
      }
      relayedTo++;
      // Not awaited: one slow reader must not hold back the sender. A failed write
      // means the connection is broken, which its own serve loop reports.
      conn.write(relay, notes).catch(() => {});
    }
    const message: ChatMessage = {
      seq: ++this.#seq,
      ts: nowMs(),
      name,
      from: from.participant.kind,
      conn: from.conn?.id ?? null,
      text: text.length > HISTORY_TEXT ? `${text.slice(0, HISTORY_TEXT)}…` : text,
      bytes: encoder.encode(text).length,
      relayedTo,
    };
    this.#history.push(message);
    if (this.#history.length > this.#historySize) this.#history.shift();
    return message;
  }
}

/** The chat endpoint: it serves the service's room, which the dashboard reads and posts into. */
export const chat = defineTcpEndpoint({
  name: "chat",
  transport: "tcp",
  defaultPort: 65437,
  description: 'Chat room: 64-byte length header, "Msg received", !DISCONNECT; !JOIN for relays',
  tryIt: [
    "deno task client chat --port {port}",
    "printf '%-64s%s' 5 hello | nc {host} {port}",
    "(printf '%-64s%s' 5 '!JOIN'; cat) | nc {host} {port}",
  ],
  lab: {
    group: "protocols",
    seed: "seed 003 · the threaded chat server",
    lesson: "A stream keeps no message boundaries, so each message travels behind a fixed " +
      "64-byte header that holds its length; the server reads the header, then exactly that " +
      'many bytes, and answers "Msg received", and nothing else: the seed\'s client reads one ' +
      "recv() per message, so anything more would be read as its acknowledgement. Send !JOIN " +
      "to have the room's messages relayed to you too; the chat page shows them all.",
  },
  behaviour: ({ chat }: { chat: ChatRoom }) => chat,
});
