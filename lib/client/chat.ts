/**
 * The chat client (seed 003, the threaded chat at its top): each message goes
 * out behind a 64-byte length header and waits for "Msg received"; it sends
 * "!JOIN" first, so relays from the other participants arrive and are
 * reported; the session ends with "!DISCONNECT", as the seed's client ends it.
 */
import {
  CHAT_DISCONNECT,
  CHAT_JOIN,
  CHAT_NAME_COMMAND,
  type ChatEvent,
  ChatEventDecoder,
  encodeChatMessage,
  isChatName,
} from "../protocol/chat.ts";
import { causeOf, dialBound, reasonOf, sleep, writeAll } from "./_conn.ts";
import { OptionError } from "../options/option_error.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import type { DialAddress, TcpClientOptions } from "./types.ts";
import { chat as chatEndpoint } from "../net/endpoints/chat.ts";

/** Default port of the chat endpoint, as lib/net/endpoints/chat.ts declares it. */
export const CHAT_PORT = chatEndpoint.defaultPort;

/** Options for {@linkcode chat}. */
export interface ChatOptions extends TcpClientOptions {
  /**
   * Port of the chat endpoint.
   *
   * @default {65437}
   */
  port?: number;
  /** Name to take in the room (sent as `!NAME <name>` first); the server's default is the address. */
  name?: string;
  /**
   * Send `!JOIN` after the name, so the server relays the others' messages; without it the
   * server only acknowledges, as seed 003's does.
   *
   * @default {true}
   */
  join?: boolean;
  /**
   * Longest wait for the connect, for each "Msg received", and for the close after
   * "!DISCONNECT", in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Stay in the room this long after the last message, collecting relays, in milliseconds.
   *
   * @default {0}
   */
  waitMs?: number;
  /** Called with everything the server sends, as it arrives. */
  onEvent?: (event: ChatEvent) => void;
}

/** A relay from another participant. */
export interface ChatRelay {
  name: string;
  text: string;
}

/** What a chat session did. */
export interface ChatResult {
  /** True when every message was acknowledged and the server closed after "!DISCONNECT". */
  ok: boolean;
  /** Why the session failed, in one line. */
  error?: string;
  address: DialAddress;
  /** Messages sent, "!NAME", "!JOIN" and "!DISCONNECT" included. */
  sent: number;
  /** "Msg received" acknowledgements read. */
  acks: number;
  /** Relays from other participants, oldest first (at most the last 1,000). */
  relays: ChatRelay[];
  /** Anything else the server sent (an error line), one entry per line. */
  texts: string[];
  /** True when the server closed the connection after "!DISCONNECT". */
  disconnected: boolean;
  /** Seconds from connect to the end of the session. */
  seconds: number;
}

const MAX_RELAYS = 1000;
const READ_SIZE = 64 * 1024;

/** Checks chat options and fills in defaults; throws TypeError or RangeError. */
export function resolveChatOptions(
  options: ChatOptions = {},
): Required<Omit<ChatOptions, "name" | "onEvent">> & ChatOptions {
  if (options.name !== undefined && !isChatName(options.name)) {
    throw new OptionError(
      "name",
      `"${options.name}" must be 1 to 32 letters, digits or _ . : @ -`,
    );
  }
  return {
    ...options,
    ...resolveTcpOptions(options, CHAT_PORT),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
    waitMs: checkInteger(options.waitMs ?? 0, "waitMs", 0, 86_400_000),
    join: options.join ?? true,
  };
}

/**
 * Joins the chat, sends each of `messages` (waiting for its "Msg received"),
 * then leaves with "!DISCONNECT". A message equal to "!DISCONNECT" ends the
 * session early; `messages` may be a live source such as stdin's lines.
 */
export async function chat(
  messages: Iterable<string> | AsyncIterable<string>,
  options: ChatOptions = {},
): Promise<ChatResult> {
  const resolved = resolveChatOptions(options);
  const { hostname, port, timeoutMs, waitMs, join, signal, dial, onEvent } = resolved;
  const address = { hostname, port };
  const started = performance.now();
  const conn = await dialBound(dial, address, signal, timeoutMs);
  conn.setNoDelay?.(true);
  const session = new Session(conn, onEvent);
  const result: ChatResult = {
    ok: false,
    address,
    sent: 0,
    acks: 0,
    relays: session.relays,
    texts: session.texts,
    disconnected: false,
    seconds: 0,
  };
  const send = async (text: string) => {
    const acked = session.nextAck(timeoutMs);
    // Awaited below; a failed write must not leave its rejection unhandled meanwhile.
    acked.catch(() => {});
    result.sent++;
    await writeAll(conn, encodeChatMessage(text));
    await acked;
    result.acks++;
  };
  try {
    if (resolved.name !== undefined) await send(`${CHAT_NAME_COMMAND}${resolved.name}`);
    if (join) await send(CHAT_JOIN);
    const iterator = (Symbol.asyncIterator in messages
      ? messages[Symbol.asyncIterator]()
      : messages[Symbol.iterator]()) as AsyncIterator<string> | Iterator<string>;
    while (true) {
      const next = await untilAborted(Promise.resolve(iterator.next()), signal);
      if (next.done || next.value === CHAT_DISCONNECT) {
        break;
      }
      await send(next.value);
    }
    if (waitMs > 0) {
      await sleep(waitMs, signal);
    }
    await send(CHAT_DISCONNECT);
    result.disconnected = await session.closed(timeoutMs);
    result.ok = result.disconnected;
    if (!result.disconnected) {
      result.error = `The server did not close within ${timeoutMs} ms of "${CHAT_DISCONNECT}"`;
    }
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    const reason = session.ended
      ? `The server closed the connection after ${result.acks} acknowledgements${
        session.texts.length > 0 ? `: ${session.texts[session.texts.length - 1]}` : ""
      }`
      : reasonOf(causeOf(err, signal));
    result.error = reason;
  } finally {
    conn.close();
    await session.done;
    result.seconds = (performance.now() - started) / 1000;
  }
  return result;
}

/** The read side of a session: decodes events and hands acknowledgements to whoever waits. */
class Session {
  readonly relays: ChatRelay[] = [];
  readonly texts: string[] = [];
  readonly done: Promise<void>;
  ended = false;
  #acks = 0;
  #waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];
  #end = Promise.withResolvers<void>();
  #onEvent?: (event: ChatEvent) => void;

  constructor(
    conn: { read(p: Uint8Array): Promise<number | null> },
    onEvent?: (e: ChatEvent) => void,
  ) {
    this.#onEvent = onEvent;
    this.done = this.#read(conn);
  }

  /** Resolves on the next acknowledgement not yet claimed, or rejects after `timeoutMs`. */
  nextAck(timeoutMs: number): Promise<void> {
    if (this.#acks > 0) {
      this.#acks--;
      return Promise.resolve();
    }
    if (this.ended) return Promise.reject(new Deno.errors.UnexpectedEof("Connection closed"));
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(() => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      reject(new Deno.errors.TimedOut(`No "Msg received" within ${timeoutMs} ms`));
    }, timeoutMs);
    const waiter = {
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
      reject: (err: Error) => {
        clearTimeout(timer);
        reject(err);
      },
    };
    this.#waiters.push(waiter);
    return promise;
  }

  /** True once the server closed, false if it has not within `timeoutMs`. */
  async closed(timeoutMs: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) =>
      timer = setTimeout(() => resolve(false), timeoutMs)
    );
    try {
      return await Promise.race([this.#end.promise.then(() => true), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #read(conn: { read(p: Uint8Array): Promise<number | null> }): Promise<void> {
    const decoder = new ChatEventDecoder();
    const buf = new Uint8Array(READ_SIZE);
    try {
      while (true) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const event of decoder.push(buf.subarray(0, n))) this.#emit(event);
      }
      for (const event of decoder.end()) this.#emit(event);
    } catch {
      // Reset, or our own close: either way the session is over.
    } finally {
      this.ended = true;
      this.#end.resolve();
      for (const w of this.#waiters.splice(0)) {
        w.reject(new Deno.errors.UnexpectedEof("Connection closed"));
      }
    }
  }

  #emit(event: ChatEvent): void {
    if (event.kind === "ack") {
      const waiter = this.#waiters.shift();
      if (waiter === undefined) this.#acks++;
      else waiter.resolve();
    } else if (event.kind === "relay") {
      this.relays.push({ name: event.name, text: event.text });
      if (this.relays.length > MAX_RELAYS) this.relays.shift();
    } else {
      this.texts.push(event.text);
    }
    this.#onEvent?.(event);
  }
}

/** Races `promise` with the signal; the promise keeps running if the signal wins. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() =>
    signal.removeEventListener("abort", onAbort)
  );
}
