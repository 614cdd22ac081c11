/**
 * The chat protocol of the threaded server in seed 003: each message is a
 * 64-byte header holding the message length as ASCII digits padded with
 * spaces, then the UTF-8 message. The server answers every message with the
 * bare bytes `Msg received`, and `!DISCONNECT` ends the session.
 *
 * Beyond the seed, a participant that sends `!JOIN` gets the room: every
 * message the others send, relayed framed the same way as `[name] text`; a
 * relay starts with a digit, the acknowledgement with `M`, so a client tells
 * them apart by the first byte. The seed's client never sends `!JOIN`, so it
 * reads only acknowledgements, as from the seed's server. A `!NAME <name>`
 * message renames the sender. Pure: no I/O, no `Deno.*`.
 *
 * @module
 */

import { concat } from "../bytes.ts";

/** Bytes of the length header. */
export const CHAT_HEADER_LENGTH = 64;
/** The server's acknowledgement, sent bare (no header), as the seed's server does. */
export const CHAT_ACK = "Msg received";
/** The message that ends a session. */
export const CHAT_DISCONNECT = "!DISCONNECT";
/** The message that asks for the room's relays (not in the seed, whose client reads only acks). */
export const CHAT_JOIN = "!JOIN";
/** The message prefix that renames the sender (not in the seed). */
export const CHAT_NAME_COMMAND = "!NAME ";
/** Largest message the server accepts by default. */
export const CHAT_MAX_MESSAGE = 65_536;

/** Malformed input; the decoder is dead afterwards. */
export interface ChatProtocolError {
  kind: "header" | "too-large";
  message: string;
}

/** What one push decoded. */
export interface ChatDecodeResult {
  /** Message bodies completed by this push, in order; owned copies. */
  messages: readonly Uint8Array[];
  error: ChatProtocolError | null;
}

/** Limits for {@linkcode ChatMessageDecoder}. */
export interface ChatDecoderOptions {
  /**
   * Largest message length a header may declare.
   *
   * @default {65536}
   */
  maxMessage?: number;
}

/** One thing the server sent a client. */
export type ChatEvent =
  | { kind: "ack" }
  | { kind: "relay"; name: string; text: string }
  /** Bytes that are neither (an error line before the server closes). */
  | { kind: "text"; text: string };

const encoder = new TextEncoder();
const utf8 = new TextDecoder();
const NO_MESSAGES: readonly Uint8Array[] = Object.freeze([]);
const ACK_BYTES = encoder.encode(CHAT_ACK);
const NAME_PATTERN = /^[\p{L}\p{N}_.:@-]{1,32}$/u;
const SPACE = 0x20;

/** Encodes one message: the 64-byte space-padded length header, then the UTF-8 text. */
export function encodeChatMessage(message: string | Uint8Array): Uint8Array {
  const body = typeof message === "string" ? encoder.encode(message) : message;
  const digits = String(body.length);
  const out = new Uint8Array(CHAT_HEADER_LENGTH + body.length).fill(SPACE, 0, CHAT_HEADER_LENGTH);
  for (let i = 0; i < digits.length; i++) out[i] = digits.charCodeAt(i);
  out.set(body, CHAT_HEADER_LENGTH);
  return out;
}

/** The acknowledgement as bytes; a fresh copy each call so callers may keep it. */
export function chatAck(): Uint8Array {
  return ACK_BYTES.slice();
}

/** Encodes a relay of `text` from `name`: a framed `[name] text`. */
export function encodeChatRelay(name: string, text: string): Uint8Array {
  return encodeChatMessage(`[${name}] ${text}`);
}

/** Whether `name` may name a participant: 1 to 32 letters, digits or `_ . : @ -`. */
export function isChatName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

/**
 * Incremental decoder for client-to-server messages: push each read and get
 * back the message bodies it completed.
 */
export class ChatMessageDecoder {
  #maxMessage: number;
  #header = new Uint8Array(CHAT_HEADER_LENGTH);
  #headerFilled = 0;
  /** Length of the body being read, once its header is complete. */
  #need: number | null = null;
  #body: Uint8Array | null = null;
  #bodyFilled = 0;
  #error: ChatProtocolError | null = null;

  /** Creates a decoder with the given limit. */
  constructor(options: ChatDecoderOptions = {}) {
    const max = options.maxMessage ?? CHAT_MAX_MESSAGE;
    if (!Number.isInteger(max) || max < 0 || max > 1 << 30) {
      throw new RangeError(`Invalid maxMessage: "${max}" is not an integer in 0..${1 << 30}`);
    }
    this.#maxMessage = max;
  }

  /** Bytes held for the message in progress. */
  get buffered(): number {
    return this.#headerFilled + this.#bodyFilled;
  }

  /** True while a message has started but not finished. */
  get pending(): boolean {
    return this.#error === null && this.buffered > 0;
  }

  /**
   * Where the message in progress stands, for the packet log: `header 20 of
   * 64 B` or `body 3 of 5 B`; null between messages.
   */
  get progress(): string | null {
    if (this.#error !== null || this.buffered === 0) return null;
    if (this.#need === null) return `header ${this.#headerFilled} of ${CHAT_HEADER_LENGTH} B`;
    return `header complete (length ${this.#need}), body ${this.#bodyFilled} of ${this.#need} B`;
  }

  /** Consumes one read; the chunk may be reused afterwards. */
  push(chunk: Uint8Array): ChatDecodeResult {
    if (this.#error !== null) return { messages: NO_MESSAGES, error: this.#error };
    let messages: Uint8Array[] | null = null;
    let pos = 0;
    while (this.#error === null) {
      if (this.#need === null) {
        const take = Math.min(CHAT_HEADER_LENGTH - this.#headerFilled, chunk.length - pos);
        this.#header.set(chunk.subarray(pos, pos + take), this.#headerFilled);
        this.#headerFilled += take;
        pos += take;
        if (this.#headerFilled < CHAT_HEADER_LENGTH) break;
        this.#parseHeader();
        continue;
      }
      const take = Math.min(this.#need - this.#bodyFilled, chunk.length - pos);
      this.#body!.set(chunk.subarray(pos, pos + take), this.#bodyFilled);
      this.#bodyFilled += take;
      pos += take;
      if (this.#bodyFilled < this.#need) break;
      (messages ??= []).push(this.#body!);
      this.#need = null;
      this.#body = null;
      this.#bodyFilled = 0;
      this.#headerFilled = 0;
      if (pos === chunk.length) break;
    }
    return { messages: messages ?? NO_MESSAGES, error: this.#error };
  }

  #parseHeader(): void {
    let text = "";
    for (const b of this.#header) text += String.fromCharCode(b);
    // Python's int() accepts the seed's left-aligned digits with any whitespace around them.
    const match = /^[ \t\r\n\0]*(\d+)[ \t\r\n\0]*$/.exec(text);
    if (match === null) {
      this.#error = {
        kind: "header",
        message: `Cannot parse chat header: ${
          JSON.stringify(text.trimEnd().slice(0, 40))
        } is not a length in ASCII digits padded to 64 bytes`,
      };
      return;
    }
    const length = Number(match[1]);
    if (length > this.#maxMessage) {
      this.#error = {
        kind: "too-large",
        message: `Cannot parse chat header: length "${
          match[1]
        }" exceeds the limit of ${this.#maxMessage}`,
      };
      return;
    }
    this.#need = length;
    this.#body = new Uint8Array(length);
  }
}

/**
 * Incremental decoder for what the server sends a client: acknowledgements,
 * relays and any other text (an error line).
 */
export class ChatEventDecoder {
  #buf: Uint8Array = new Uint8Array(0);

  /** Consumes one read and returns the events it completed. */
  push(chunk: Uint8Array): ChatEvent[] {
    this.#buf = concat([this.#buf, chunk]);
    const events: ChatEvent[] = [];
    while (this.#buf.length > 0) {
      const first = this.#buf[0];
      if (first === ACK_BYTES[0]) {
        const n = Math.min(this.#buf.length, ACK_BYTES.length);
        if (!startsWith(this.#buf, ACK_BYTES.subarray(0, n))) {
          if (!this.#takeLine(events, false)) break;
          continue;
        }
        if (n < ACK_BYTES.length) break;
        events.push({ kind: "ack" });
        this.#buf = this.#buf.subarray(ACK_BYTES.length);
      } else if (first >= 0x30 && first <= 0x39) {
        if (this.#buf.length < CHAT_HEADER_LENGTH) break;
        let header = "";
        for (let i = 0; i < CHAT_HEADER_LENGTH; i++) header += String.fromCharCode(this.#buf[i]);
        const length = /^\d+\s*$/.test(header) ? Number(header.trim()) : NaN;
        if (Number.isNaN(length)) {
          if (!this.#takeLine(events, false)) break;
          continue;
        }
        if (this.#buf.length < CHAT_HEADER_LENGTH + length) break;
        const body = utf8.decode(
          this.#buf.subarray(CHAT_HEADER_LENGTH, CHAT_HEADER_LENGTH + length),
        );
        this.#buf = this.#buf.subarray(CHAT_HEADER_LENGTH + length);
        const m = /^\[([^\]]*)\] ([\s\S]*)$/.exec(body);
        events.push(
          m === null ? { kind: "relay", name: "", text: body } : {
            kind: "relay",
            name: m[1],
            text: m[2],
          },
        );
      } else if (!this.#takeLine(events, false)) {
        break;
      }
    }
    return events;
  }

  /** The stream ended: whatever is left is returned as text. */
  end(): ChatEvent[] {
    const events: ChatEvent[] = [];
    this.#takeLine(events, true);
    return events;
  }

  /** Takes one newline-terminated line (or everything, at the end) as a text event. */
  #takeLine(events: ChatEvent[], atEnd: boolean): boolean {
    const nl = this.#buf.indexOf(0x0a);
    if (nl === -1 && !atEnd) return false;
    const stop = nl === -1 ? this.#buf.length : nl + 1;
    if (stop === 0) return false;
    events.push({ kind: "text", text: utf8.decode(this.#buf.subarray(0, stop)).trimEnd() });
    this.#buf = this.#buf.subarray(stop);
    return true;
  }
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}
