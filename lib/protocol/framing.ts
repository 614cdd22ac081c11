/**
 * The four ways to delimit messages on a stream (seeds 001 and 002): fixed
 * length with padding, a delimiter, a length prefix, and end of message by
 * closing. Each decoder also reports where message boundaries fell relative
 * to the reads, so a user sees messages split across reads and merged into
 * one. Pure: no I/O, no `Deno.*`.
 *
 * @module
 */

/** How messages are delimited. */
export type FramingKind = "fixed" | "delimited" | "prefixed" | "close";

/** Every framing kind, in the order the lab lists them. */
export const FRAMING_KINDS: readonly FramingKind[] = ["fixed", "delimited", "prefixed", "close"];

/** Sizes and bytes of the framings; the defaults are seed 002's choices. */
export interface FramingOptions {
  /**
   * Bytes per record for `fixed` (the seed's `LENGTH = 30`).
   *
   * @default {30}
   */
  recordSize?: number;
  /**
   * Padding byte for `fixed`, stripped from the end of each record (the seed's `b"#"`).
   *
   * @default {0x23}
   */
  pad?: number;
  /**
   * Delimiter for `delimited`, 1 to 64 bytes (the seed's `DELIM = b"#*#"`); a
   * string is taken as UTF-8.
   *
   * @default {"#*#"}
   */
  delimiter?: string | Uint8Array;
  /**
   * ASCII digits of the length prefix for `prefixed`.
   *
   * @default {5}
   */
  prefixDigits?: number;
  /**
   * Largest message accepted by `delimited`, `prefixed` and `close`, in bytes.
   *
   * @default {65536}
   */
  maxMessage?: number;
}

/** A message that a read completed, with its place in the stream. */
export interface FramedMessage {
  /** 1-based number of the message on the connection. */
  index: number;
  /** The payload (padding, delimiter and prefix removed); owned, never a view of the chunk. */
  payload: Uint8Array;
  /** Bytes the message took on the wire, framing included. */
  wireLength: number;
  /** True when the message's first byte arrived in an earlier read. */
  startedEarlier: boolean;
}

/** The message a read left unfinished. */
export interface PartialMessage {
  index: number;
  /** Wire bytes of it received so far. */
  have: number;
  /** Wire bytes it will take, or null while unknown (no delimiter or prefix yet). */
  total: number | null;
  /** True when its first byte arrived in this read. */
  startedNow: boolean;
}

/** Malformed input: the decoder is dead afterwards. */
export interface FramingError {
  kind: "prefix" | "too-large" | "truncated";
  message: string;
}

/** What one push (one read) did. */
export interface FramingResult {
  /** Messages completed by this read, in order. */
  messages: readonly FramedMessage[];
  /** The message still open after this read, if any. */
  partial: PartialMessage | null;
  error: FramingError | null;
}

/** The options with defaults applied and the delimiter as bytes. */
type Resolved = Required<Omit<FramingOptions, "delimiter">> & { delimiter: Uint8Array };

/** The framings' defaults (seed 002's), declared once: the flags' help shows them. */
export const FRAMING_DEFAULTS = {
  recordSize: 30,
  pad: 0x23,
  delimiter: "#*#",
  prefixDigits: 5,
  maxMessage: 65_536,
} as const;
/** Longest delimiter accepted: it is searched for across read boundaries byte by byte. */
export const MAX_DELIMITER = 64;
const NO_MESSAGES: readonly FramedMessage[] = Object.freeze([]);
const utf8 = new TextEncoder();

function resolve(options: FramingOptions): Resolved {
  // Field by field, so an option given as undefined takes its default.
  const o = {
    recordSize: options.recordSize ?? FRAMING_DEFAULTS.recordSize,
    pad: options.pad ?? FRAMING_DEFAULTS.pad,
    delimiter: options.delimiter ?? FRAMING_DEFAULTS.delimiter,
    prefixDigits: options.prefixDigits ?? FRAMING_DEFAULTS.prefixDigits,
    maxMessage: options.maxMessage ?? FRAMING_DEFAULTS.maxMessage,
  };
  checkInt("recordSize", o.recordSize, 1, 1 << 20);
  checkInt("pad", o.pad, 0, 255);
  checkInt("prefixDigits", o.prefixDigits, 1, 9);
  checkInt("maxMessage", o.maxMessage, 0, 1 << 30);
  const delimiter = typeof o.delimiter === "string" ? utf8.encode(o.delimiter) : o.delimiter;
  if (delimiter.length < 1 || delimiter.length > MAX_DELIMITER) {
    throw new RangeError(
      `Invalid delimiter: ${delimiter.length} bytes is not in 1..${MAX_DELIMITER}`,
    );
  }
  return { ...o, delimiter };
}

/** Where `needle` first occurs in `haystack` at or after `from`, or -1. */
function indexOfBytes(haystack: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (let at = haystack.indexOf(first, from); at !== -1 && at <= last;) {
    let i = 1;
    while (i < needle.length && haystack[at + i] === needle[i]) i++;
    if (i === needle.length) return at;
    at = haystack.indexOf(first, at + 1);
  }
  return -1;
}

/**
 * Renders framing bytes for messages and labels: printable ASCII as is, the
 * rest as `\n`, `\r`, `\t` or `\xHH`, in double quotes.
 */
export function showBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b === 0x0a) out += "\\n";
    else if (b === 0x0d) out += "\\r";
    else if (b === 0x09) out += "\\t";
    else if (b === 0x5c) out += "\\\\";
    else if (b === 0x22) out += '\\"';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return `"${out}"`;
}

/**
 * Parses framing bytes typed on a command line: UTF-8 text in which `\n`,
 * `\r`, `\t`, `\0`, `\\` and `\xHH` stand for the bytes they name, so a
 * newline delimiter is `\n`. Throws SyntaxError for an unknown escape.
 */
export function parseFramingBytes(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== "\\") {
      const code = text.codePointAt(i)!;
      if (code > 0xffff) i++;
      out.push(...utf8.encode(String.fromCodePoint(code)));
      continue;
    }
    const e = text[++i];
    if (e === "n") out.push(0x0a);
    else if (e === "r") out.push(0x0d);
    else if (e === "t") out.push(0x09);
    else if (e === "0") out.push(0x00);
    else if (e === "\\") out.push(0x5c);
    else if (e === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      throw new SyntaxError(
        `Cannot parse framing bytes: ${JSON.stringify(text)} has an unknown escape at ${i - 1}`,
      );
    }
  }
  return Uint8Array.from(out);
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Invalid ${name}: "${value}" is not an integer in ${min}..${max}`);
  }
}

/**
 * Incremental decoder for one framing: push each read as it arrives and get
 * back the messages it completed and the one it left open.
 */
export class FrameDecoder {
  readonly kind: FramingKind;
  #o: Resolved;
  /** Number of the message being received (1-based). */
  #index = 1;
  /** Wire bytes of the current message received so far. */
  #have = 0;
  /** Wire bytes the current message takes, once known. */
  #total: number | null;
  /** Payload bytes of the current message held across reads. */
  #held: Uint8Array = new Uint8Array(0);
  #heldLength = 0;
  /** The length prefix as received so far. */
  #prefix = "";
  #error: FramingError | null = null;

  /** Creates a decoder for `kind`; throws RangeError for out-of-range options. */
  constructor(kind: FramingKind, options: FramingOptions = {}) {
    if (!FRAMING_KINDS.includes(kind)) {
      throw new TypeError(`Invalid framing: "${kind}" is not one of ${FRAMING_KINDS.join(", ")}`);
    }
    this.kind = kind;
    this.#o = resolve(options);
    this.#total = kind === "fixed" ? this.#o.recordSize : null;
  }

  /** Bytes held for the message in progress (what the process holds unparsed). */
  get buffered(): number {
    return this.#have;
  }

  /** True while a message has started but not finished. */
  get pending(): boolean {
    return this.#error === null && this.#have > 0;
  }

  /** The error that killed the decoder, if any. */
  get error(): FramingError | null {
    return this.#error;
  }

  /** Consumes one read; the chunk may be reused afterwards (whatever is kept is copied). */
  push(chunk: Uint8Array): FramingResult {
    if (this.#error !== null) return { messages: NO_MESSAGES, partial: null, error: this.#error };
    const startIndex = this.#index;
    const startedBefore = this.#have > 0;
    let messages: FramedMessage[] | null = null;
    let pos = 0;
    while (pos < chunk.length && this.#error === null) {
      const before = this.#index;
      const earlier = before === startIndex && startedBefore;
      const done = this.#step(chunk, pos);
      pos = done.pos;
      if (done.payload !== null) {
        (messages ??= []).push({
          index: before,
          payload: done.payload,
          wireLength: done.wire,
          startedEarlier: earlier,
        });
      }
    }
    const partial = this.#have > 0 && this.#error === null
      ? {
        index: this.#index,
        have: this.#have,
        total: this.#total,
        startedNow: !(this.#index === startIndex && startedBefore),
      }
      : null;
    return { messages: messages ?? NO_MESSAGES, partial, error: this.#error };
  }

  /**
   * The peer closed its side: for `close` this completes the message; for
   * the others a message in progress is reported as truncated.
   */
  end(): FramingResult {
    if (this.#error !== null) return { messages: NO_MESSAGES, partial: null, error: this.#error };
    if (this.kind === "close") {
      const message: FramedMessage = {
        index: this.#index,
        payload: this.#take(),
        wireLength: this.#have,
        startedEarlier: this.#have > 0,
      };
      this.#next();
      return { messages: [message], partial: null, error: null };
    }
    if (this.#have > 0) {
      const total = this.#total === null ? "?" : String(this.#total);
      this.#fail(
        "truncated",
        `Cannot frame message ${this.#index}: the stream ended after ${this.#have} of ${total} bytes`,
      );
      return { messages: NO_MESSAGES, partial: null, error: this.#error };
    }
    return { messages: NO_MESSAGES, partial: null, error: null };
  }

  /** Consumes bytes from `pos` for the current message; returns the payload if it completed. */
  #step(chunk: Uint8Array, pos: number): { pos: number; payload: Uint8Array | null; wire: number } {
    const o = this.#o;
    switch (this.kind) {
      case "fixed": {
        const take = Math.min(o.recordSize - this.#have, chunk.length - pos);
        this.#hold(chunk.subarray(pos, pos + take));
        this.#have += take;
        pos += take;
        if (this.#have < o.recordSize) return { pos, payload: null, wire: 0 };
        const record = this.#take();
        let end = record.length;
        while (end > 0 && record[end - 1] === o.pad) end--;
        this.#next();
        return { pos, payload: record.slice(0, end), wire: o.recordSize };
      }
      case "delimited": {
        const delim = o.delimiter;
        const held = this.#heldLength;
        // A delimiter may straddle the reads: its first k bytes held, the rest at pos.
        for (let k = Math.min(delim.length - 1, held); k >= 1; k--) {
          if (this.#straddles(chunk, pos, k)) {
            this.#heldLength = held - k;
            const payload = this.#take();
            this.#next();
            return { pos: pos + delim.length - k, payload, wire: held - k + delim.length };
          }
        }
        const at = indexOfBytes(chunk, delim, pos);
        const stop = at === -1 ? chunk.length : at;
        this.#hold(chunk.subarray(pos, stop));
        this.#have += stop - pos;
        // Held bytes that end in the start of a delimiter are not payload yet.
        const payloadSoFar = this.#heldLength - (at === -1 ? this.#delimiterStart() : 0);
        if (payloadSoFar > o.maxMessage) {
          this.#fail(
            "too-large",
            `Cannot frame message ${this.#index}: no delimiter within ${o.maxMessage} bytes`,
          );
          return { pos: chunk.length, payload: null, wire: 0 };
        }
        if (at === -1) return { pos: chunk.length, payload: null, wire: 0 };
        const wire = this.#have + delim.length;
        const payload = this.#take();
        this.#next();
        return { pos: at + delim.length, payload, wire };
      }
      case "prefixed": {
        const digits = o.prefixDigits;
        if (this.#have < digits) {
          const take = Math.min(digits - this.#have, chunk.length - pos);
          for (let i = 0; i < take; i++) this.#prefix += String.fromCharCode(chunk[pos + i]);
          this.#have += take;
          pos += take;
          if (this.#have < digits) return { pos, payload: null, wire: 0 };
          if (!/^\d+$/.test(this.#prefix)) {
            this.#fail(
              "prefix",
              `Cannot parse length prefix of message ${this.#index}: ${
                JSON.stringify(this.#prefix)
              } is not ${digits} ASCII digits`,
            );
            return { pos: chunk.length, payload: null, wire: 0 };
          }
          const length = Number(this.#prefix);
          if (length > o.maxMessage) {
            this.#fail(
              "too-large",
              `Cannot frame message ${this.#index}: length "${length}" exceeds the limit of ${o.maxMessage}`,
            );
            return { pos: chunk.length, payload: null, wire: 0 };
          }
          this.#total = digits + length;
        }
        const take = Math.min(this.#total! - this.#have, chunk.length - pos);
        this.#hold(chunk.subarray(pos, pos + take));
        this.#have += take;
        pos += take;
        if (this.#have < this.#total!) return { pos, payload: null, wire: 0 };
        const wire = this.#total!;
        const payload = this.#take();
        this.#next();
        return { pos, payload, wire };
      }
      case "close": {
        const take = chunk.length - pos;
        if (this.#have + take > o.maxMessage) {
          this.#fail(
            "too-large",
            `Cannot frame message ${this.#index}: more than ${o.maxMessage} bytes before the close`,
          );
          return { pos: chunk.length, payload: null, wire: 0 };
        }
        this.#hold(chunk.subarray(pos));
        this.#have += take;
        return { pos: chunk.length, payload: null, wire: 0 };
      }
      default: {
        const unreachable: never = this.kind;
        throw new TypeError(`Cannot frame: unknown kind "${unreachable}"`);
      }
    }
  }

  /** Whether the held bytes end in the delimiter's first `k` bytes and the chunk at `pos` holds the rest. */
  #straddles(chunk: Uint8Array, pos: number, k: number): boolean {
    const delim = this.#o.delimiter;
    if (chunk.length - pos < delim.length - k) return false;
    const start = this.#heldLength - k;
    for (let i = 0; i < k; i++) if (this.#held[start + i] !== delim[i]) return false;
    for (let i = k; i < delim.length; i++) if (chunk[pos + i - k] !== delim[i]) return false;
    return true;
  }

  /** How many of the delimiter's first bytes the held bytes end in (fewer than all of them). */
  #delimiterStart(): number {
    const delim = this.#o.delimiter;
    for (let k = Math.min(delim.length - 1, this.#heldLength); k >= 1; k--) {
      const start = this.#heldLength - k;
      let i = 0;
      while (i < k && this.#held[start + i] === delim[i]) i++;
      if (i === k) return k;
    }
    return 0;
  }

  #hold(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const need = this.#heldLength + bytes.length;
    if (need > this.#held.length) {
      const grown = new Uint8Array(Math.max(need, this.#held.length * 2, 64));
      grown.set(this.#held.subarray(0, this.#heldLength));
      this.#held = grown;
    }
    this.#held.set(bytes, this.#heldLength);
    this.#heldLength = need;
  }

  /** The held payload as an owned copy. */
  #take(): Uint8Array {
    const out = this.#held.slice(0, this.#heldLength);
    this.#heldLength = 0;
    // Do not keep a large buffer around after a large message.
    if (this.#held.length > 4096) this.#held = new Uint8Array(0);
    return out;
  }

  #next(): void {
    this.#index++;
    this.#have = 0;
    this.#prefix = "";
    this.#total = this.kind === "fixed" ? this.#o.recordSize : null;
  }

  #fail(kind: FramingError["kind"], message: string): void {
    this.#error = { kind, message };
    this.#held = new Uint8Array(0);
    this.#heldLength = 0;
  }
}

/**
 * Encodes one message in `kind`'s framing; throws RangeError when it cannot
 * be framed (too long for a record or a prefix, or it contains the delimiter).
 */
export function encodeMessage(
  kind: FramingKind,
  payload: Uint8Array,
  options: FramingOptions = {},
): Uint8Array {
  const o = resolve(options);
  switch (kind) {
    case "fixed": {
      if (payload.length > o.recordSize) {
        throw new RangeError(
          `Cannot encode message: ${payload.length} bytes do not fit a ${o.recordSize}-byte record`,
        );
      }
      const out = new Uint8Array(o.recordSize).fill(o.pad);
      out.set(payload);
      return out;
    }
    case "delimited": {
      const out = new Uint8Array(payload.length + o.delimiter.length);
      out.set(payload);
      out.set(o.delimiter, payload.length);
      // A payload that holds the delimiter, or ends in its start, would end early.
      if (indexOfBytes(out, o.delimiter, 0) !== payload.length) {
        throw new RangeError(
          `Cannot encode message: it contains the delimiter ${showBytes(o.delimiter)}`,
        );
      }
      return out;
    }
    case "prefixed": {
      const max = 10 ** o.prefixDigits - 1;
      if (payload.length > max) {
        throw new RangeError(
          `Cannot encode message: ${payload.length} bytes do not fit a ${o.prefixDigits}-digit prefix`,
        );
      }
      const prefix = String(payload.length).padStart(o.prefixDigits, "0");
      const out = new Uint8Array(o.prefixDigits + payload.length);
      for (let i = 0; i < prefix.length; i++) out[i] = prefix.charCodeAt(i);
      out.set(payload, o.prefixDigits);
      return out;
    }
    case "close":
      return payload.slice();
    default: {
      const unreachable: never = kind;
      throw new TypeError(`Invalid framing: "${unreachable}" is not a framing kind`);
    }
  }
}

/**
 * Describes where message boundaries fell in one read, for the packet log:
 * `message 3 complete (17 B), message 4 started (5 of ? B)`. Byte counts are
 * wire bytes, so the pieces of one read add up to its length.
 */
export function describeRead(result: FramingResult): string {
  const parts: string[] = [];
  const msgs = result.messages;
  const one = (m: FramedMessage) =>
    m.startedEarlier
      ? `message ${m.index} complete (${m.wireLength} B, began in an earlier read)`
      : `message ${m.index} complete (${m.wireLength} B)`;
  if (msgs.length <= 3) {
    for (const m of msgs) parts.push(one(m));
  } else {
    // Many messages in one read: name the first, then summarize the run.
    parts.push(one(msgs[0]));
    let bytes = 0;
    for (let i = 1; i < msgs.length; i++) bytes += msgs[i].wireLength;
    parts.push(
      `messages ${msgs[1].index}–${msgs[msgs.length - 1].index} complete (${
        msgs.length - 1
      } messages, ${bytes} B)`,
    );
  }
  const p = result.partial;
  if (p !== null) {
    const total = p.total === null ? "?" : String(p.total);
    parts.push(
      `message ${p.index} ${p.startedNow ? "started" : "continues"} (${p.have} of ${total} B)`,
    );
  }
  if (result.error !== null) parts.push(result.error.message);
  return parts.join(", ");
}

/**
 * Decodes a byte stream into message payloads; malformed input errors the
 * stream with a `SyntaxError` (`RangeError` for a size limit).
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Uint8Array> {
  /** Creates the stream for `kind`. */
  constructor(kind: FramingKind, options: FramingOptions = {}) {
    const decoder = new FrameDecoder(kind, options);
    const emit = (
      result: FramingResult,
      controller: TransformStreamDefaultController<Uint8Array>,
    ) => {
      for (const m of result.messages) controller.enqueue(m.payload);
      if (result.error !== null) {
        const Class = result.error.kind === "too-large" ? RangeError : SyntaxError;
        controller.error(new Class(result.error.message));
      }
    };
    super({
      transform: (chunk, controller) => emit(decoder.push(chunk), controller),
      flush: (controller) => emit(decoder.end(), controller),
    });
  }
}
