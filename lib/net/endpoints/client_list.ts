/**
 * The client list endpoint (seed 004): a client sends its name and gets the
 * JSON map of every client seen so far (name, address, port), then the
 * server shuts the connection down. Unlike the seed, whose client reads one
 * recv(1024), the whole reply is written however long it is.
 *
 * The seed reads the name with one recv(1024). Here the name ends at a
 * newline, at the client's half-close, at 1,024 bytes, or when nothing more
 * arrives for a moment (the seed's client sends no delimiter and waits).
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler, ObservedConn } from "../observed_conn.ts";
import type { TcpBehaviour } from "../tcp_endpoint.ts";

/** One client as the list shows it. */
export interface ClientEntry {
  name: string;
  address: string;
  port: number;
}

/** Defaults of {@linkcode ClientListOptions}, declared once: `main.ts`'s flags show them. */
export const CLIENT_LIST_DEFAULTS = { maxNames: 1000 } as const;

/** Limits of the client list. */
export interface ClientListOptions {
  /**
   * Names remembered; the oldest is forgotten first.
   *
   * @default {1000}
   */
  maxNames?: number;
  /**
   * Bytes of a name, as the seed's recv(1024).
   *
   * @default {1024}
   */
  maxNameBytes?: number;
  /**
   * Quiet time that ends a name sent without a newline, in milliseconds.
   *
   * @default {100}
   */
  quietMs?: number;
  /** How long the server waits for the client to close after the reply. @default 1000 */
  lingerMs?: number;
}

interface Pending {
  buf: Uint8Array;
  length: number;
  answered: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

/** The client list endpoint: its handler and the list it keeps. */
export class ClientList implements TcpBehaviour {
  readonly handler: ConnHandler;
  #clients = new Map<string, ClientEntry>();
  #maxNames: number;
  #maxNameBytes: number;
  #quietMs: number;
  #lingerMs: number;

  /** Creates an empty list with the given limits. */
  constructor(options: ClientListOptions = {}) {
    this.#maxNames = options.maxNames ?? CLIENT_LIST_DEFAULTS.maxNames;
    this.#maxNameBytes = options.maxNameBytes ?? 1024;
    this.#quietMs = options.quietMs ?? 100;
    this.#lingerMs = options.lingerMs ?? 1000;
    this.handler = {
      data: (conn, chunk) => this.#data(conn, chunk),
      end: (conn) => {
        const p = conn.data as Pending | undefined;
        if (p !== undefined && !p.answered) return this.#answer(conn, p);
      },
    };
  }

  /** Every client seen, oldest first. */
  list(): ClientEntry[] {
    return [...this.#clients.values()];
  }

  /** Forgets a closed connection's timers. */
  closed(conn: ObservedConn): void {
    const p = conn.data as Pending | undefined;
    if (p !== undefined) clearTimeout(p.timer);
  }

  #data(conn: ObservedConn, chunk: Uint8Array): void | Promise<unknown> {
    const p = (conn.data ??= {
      buf: new Uint8Array(this.#maxNameBytes),
      length: 0,
      answered: false,
      timer: undefined,
    }) as Pending;
    // After the reply, the serve loop drains whatever the client still sends until it closes.
    if (p.answered) return;
    const take = Math.min(chunk.length, this.#maxNameBytes - p.length);
    p.buf.set(chunk.subarray(0, take), p.length);
    p.length += take;
    conn.rxBuffered = p.length;
    if (chunk.subarray(0, take).includes(0x0a) || p.length >= this.#maxNameBytes) {
      return this.#answer(conn, p);
    }
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (!conn.closed && !p.answered) this.#answer(conn, p).catch(() => {});
    }, this.#quietMs);
  }

  async #answer(conn: ObservedConn, p: Pending): Promise<void> {
    clearTimeout(p.timer);
    p.answered = true;
    const nl = p.buf.subarray(0, p.length).indexOf(0x0a);
    let name = utf8.decode(p.buf.subarray(0, nl === -1 ? p.length : nl));
    if (name.endsWith("\r")) name = name.slice(0, -1);
    p.buf = new Uint8Array(0);
    conn.rxBuffered = 0;
    const entry = { name, address: conn.remote.hostname, port: conn.remote.port };
    // Re-inserting moves the name to the newest end, so the oldest is forgotten first.
    this.#clients.delete(name);
    this.#clients.set(name, entry);
    if (this.#clients.size > this.#maxNames) {
      this.#clients.delete(this.#clients.keys().next().value!);
      conn.countLimit("client-list-names");
    }
    conn.annotate({ kind: "clients", summary: `name ${JSON.stringify(name.slice(0, 60))}` });
    const reply = encoder.encode(JSON.stringify(Object.fromEntries(this.#clients)));
    await conn.write(reply, [{
      kind: "clients",
      summary: `client list: ${this.#clients.size} clients, ${reply.length} B`,
    }]);
    // Like the seed's shutdown(): FIN now; the serve loop reads until the client closes too.
    await conn.closeWrite();
    const timer = setTimeout(() => conn.close("answered"), this.#lingerMs);
    p.timer = timer;
  }
}

/** The client list endpoint. */
export const clients = defineTcpEndpoint({
  name: "clients",
  transport: "tcp",
  defaultPort: 65438,
  description: "Send your name, get the JSON list of every client seen so far",
  tryIt: ["echo alice | nc {host} {port}", "deno task client clients --port {port} alice"],
  lab: {
    group: "protocols",
    seed: "seed 004 · the server that returns its client list",
    lesson: "Send a name and get back the JSON list of every client seen so far. The list soon " +
      "outgrows one 1,024-byte recv(), so a client that reads once gets half a document: read " +
      "until the server closes.",
  },
  behaviour: ({ options }: { options: { clientList?: ClientListOptions } }) =>
    new ClientList(options.clientList),
});
