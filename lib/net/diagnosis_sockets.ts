/**
 * The live sockets joined with the kernel's rows the way the diagnoses read
 * them each second, allocating (almost) nothing per socket: the kernel's rows
 * are columns ({@linkcode KernelRows}), refilled in place; the connections
 * are found among them through an open-addressing index kept in a typed
 * array; and each connection is shown to the rules through one view whose
 * fields read the connection and its row (no copy: copying a fractional number
 * makes a number object, 16 bytes, per connection). The few other sockets (listeners, UDP, Unix) are joined as
 * `Service.sockets()` joins them, from objects made of their rows.
 *
 * Measured at 10,000 idle loopback connections: `Service.sockets()` allocates
 * ~23 MB a tick (20,000 kernel rows with their tcp_info and addresses, 10,000
 * snapshots, 10,000 peer rows), which V8 promotes to the old generation as it
 * lives a second; RSS grew ~5 KB per connection with the monitor on.
 */
import { KernelRows, KernelRowView, STATE_LISTEN, STATE_TIME_WAIT } from "../kernel/kernel_rows.ts";
import { ObservedConn } from "./observed_conn.ts";
import type { Observed } from "./registry.ts";
import { type EndpointAddress, joinKernel, normalizeHost } from "./socket_view.ts";
import type { Address, KernelSocket, SocketKind, SocketRecord } from "./types.ts";

/** One tick's sockets, as the rules read them (lib/diagnoses/monitor.ts `DiagnosisSockets`). */
export interface JoinedSockets {
  /**
   * The other sockets' records first (joined, fresh objects), then each TCP connection as one
   * record refilled per step: read each before the next step.
   */
  sockets: Iterable<SocketRecord>;
  /** TIME_WAIT rows joined with no live socket, per endpoint (ours by local address, else the peer's). */
  timeWait: Map<string, number>;
  /** The other sockets' records (listeners, UDP sockets and flows, Unix), to join further. */
  others: SocketRecord[];
}

/** Joins the live sockets with a {@linkcode KernelRows} table; one per service, reused each tick. */
export class DiagnosisJoin {
  /** The kernel's rows; refill them, then {@linkcode join}. */
  readonly rows: KernelRows = new KernelRows();
  // Row index + 1 by a hash of (transport, ports); 0 is an empty slot. Linear probing.
  #slots = new Int32Array(0);
  #used = new Uint8Array(0);
  #conns: (ObservedConn | undefined)[] = [];
  #connRows = new Int32Array(0);
  #connCount = 0;
  #view: ConnView;

  constructor() {
    this.#view = new ConnView(new KernelRowView(this.rows));
  }

  /**
   * Joins `live` (the registry, or any list of its sockets) with the rows now in {@linkcode rows}. Call it, and
   * read its `sockets`, before the rows are refilled; a socket that closes meanwhile shows its
   * last figures.
   */
  join(
    live: { forEach(fn: (sock: Observed) => void): void },
    endpoints: readonly EndpointAddress[],
  ): JoinedSockets {
    const rows = this.rows;
    this.#index();
    const used = this.#used;
    const others: SocketRecord[] = [];
    let n = 0;
    live.forEach((sock) => {
      if (sock instanceof ObservedConn && sock.transport === "tcp") {
        const row = this.#find(sock);
        if (row >= 0) used[row] = 1;
        if (n === this.#connRows.length) {
          const grown = new Int32Array(Math.max(256, 2 * n));
          grown.set(this.#connRows);
          this.#connRows = grown;
        }
        this.#conns[n] = sock;
        this.#connRows[n] = row;
        n++;
      } else {
        others.push(sock.snapshot());
      }
    });
    for (let i = n; i < this.#connCount; i++) this.#conns[i] = undefined;
    this.#connCount = n;
    // The listeners' and UDP rows, as objects, for the join every other view makes.
    const few: KernelSocket[] = [];
    const timeWait = new Map<string, number>();
    const byPort = new Map<number, EndpointAddress[]>();
    for (const e of endpoints) {
      if (e.transport !== "tcp") continue;
      const list = byPort.get(e.address.port);
      if (list === undefined) byPort.set(e.address.port, [e]);
      else list.push(e);
    }
    for (let i = 0; i < rows.count; i++) {
      if (used[i] === 1) continue;
      const state = rows.state[i];
      if (rows.udp[i] === 1 || state === STATE_LISTEN) few.push(rows.socket(i));
      else if (state === STATE_TIME_WAIT) {
        // As joinKernel attributes a row only the kernel has: ours by its local address,
        // else the peer's by the address it talks to.
        const name = endpointOf(byPort, rows.localPort[i], rows.localHost[i]) ??
          endpointOf(byPort, rows.remotePort[i], rows.remoteHost[i]);
        if (name !== undefined) timeWait.set(name, (timeWait.get(name) ?? 0) + 1);
      }
    }
    joinKernel(others, few, endpoints);
    return { sockets: this.#iterable(others), timeWait, others };
  }

  #iterable(others: SocketRecord[]): Iterable<SocketRecord> {
    const conns = this.#conns;
    const connRows = this.#connRows;
    const count = this.#connCount;
    const view = this.#view;
    return {
      [Symbol.iterator]: () => {
        let o = 0;
        let c = 0;
        // One result object for every step: the protocol allows it, and 10,000 fewer objects.
        const result: { value: SocketRecord | undefined; done: boolean } = {
          value: undefined,
          done: false,
        };
        return {
          next: (): IteratorResult<SocketRecord> => {
            if (o < others.length) {
              result.value = others[o++];
            } else if (c < count) {
              view.show(conns[c]!, connRows[c]);
              c++;
              result.value = view;
            } else {
              result.done = true;
              result.value = undefined;
            }
            return result as IteratorResult<SocketRecord>;
          },
        };
      },
    };
  }

  #index(): void {
    const rows = this.rows;
    let size = this.#slots.length;
    if (size < rows.count * 2 || size > Math.max(1024, rows.count * 8)) {
      size = 1024;
      while (size < rows.count * 2) size *= 2;
      this.#slots = new Int32Array(size);
    } else {
      this.#slots.fill(0);
    }
    // Sized with the index (doubling), not with each row count: fewer buffers left freed.
    if (this.#used.length < size) this.#used = new Uint8Array(size);
    else this.#used.fill(0, 0, rows.count);
    const slots = this.#slots;
    const mask = size - 1;
    for (let i = 0; i < rows.count; i++) {
      let h = hash(rows.udp[i], rows.localPort[i], rows.remotePort[i]) & mask;
      while (slots[h] !== 0) h = (h + 1) & mask;
      slots[h] = i + 1;
    }
  }

  /** The row of one TCP connection, or -1; of several rows for its addresses, the last. */
  #find(conn: ObservedConn): number {
    const rows = this.rows;
    const slots = this.#slots;
    const mask = slots.length - 1;
    const local = conn.local;
    const remote = conn.remote;
    let found = -1;
    for (let h = hash(0, local.port, remote.port) & mask; slots[h] !== 0; h = (h + 1) & mask) {
      const i = slots[h] - 1;
      if (
        i > found && rows.udp[i] === 0 && rows.localPort[i] === local.port &&
        rows.remotePort[i] === remote.port && sameHost(rows.localHost[i], local.hostname) &&
        sameHost(rows.remoteHost[i], remote.hostname)
      ) found = i;
    }
    return found;
  }
}

function hash(udp: number, localPort: number, remotePort: number): number {
  const x = Math.imul((localPort << 16) ^ remotePort ^ (udp << 31), 0x9e3779b1);
  // The multiply's high bits are its well-mixed ones; the caller keeps the low ones.
  return (x ^ (x >>> 15)) >>> 0;
}

function sameHost(a: string, b: string): boolean {
  return a === b || normalizeHost(a) === normalizeHost(b);
}

function endpointOf(
  byPort: Map<number, EndpointAddress[]>,
  port: number,
  host: string,
): string | undefined {
  const candidates = byPort.get(port);
  if (candidates === undefined || host === "") return undefined;
  const name = normalizeHost(host);
  return candidates.find((e) =>
    normalizeHost(e.address.hostname) === name || e.address.hostname === "0.0.0.0" ||
    e.address.hostname === "::"
  )?.name;
}

/**
 * A TCP connection joined with its kernel row, as a {@linkcode SocketRecord} whose fields read
 * the two (getters): {@linkcode show} moves it to another. Read its fields; do not spread or
 * serialise it, nor keep it past the step that showed it.
 */
class ConnView implements SocketRecord {
  readonly kind: SocketKind = "conn";
  readonly ours = true;
  readonly kernelOnly = false;
  #conn: ObservedConn | undefined = undefined;
  #row = -1;
  readonly #kernel: KernelRowView;
  readonly #app: ConnAppView;

  constructor(kernel: KernelRowView) {
    this.#kernel = kernel;
    this.#app = new ConnAppView(this);
  }

  /** Shows `conn`, joined with kernel row `row` (-1: none). */
  show(conn: ObservedConn, row: number): void {
    this.#conn = conn;
    this.#row = row;
    if (row >= 0) this.#kernel.row = row;
  }

  /** The connection shown. */
  get conn(): ObservedConn {
    return this.#conn!;
  }

  get id(): string {
    return this.#conn!.id;
  }
  get endpoint(): string {
    return this.#conn!.endpoint;
  }
  get transport(): "tcp" | "unix" {
    return this.#conn!.transport;
  }
  get role(): "server" | "client" {
    return this.#conn!.role;
  }
  /** As joinKernel: the kernel's state, unless the app knows the socket closed. */
  get state(): string {
    const state = this.#conn!.state;
    return this.#row < 0 || state === "CLOSED" ? state : this.#kernel.state;
  }
  get local(): Address {
    return this.#conn!.local;
  }
  get remote(): Address {
    return this.#conn!.remote;
  }
  get bytesIn(): number {
    return this.#conn!.bytesIn;
  }
  get bytesOut(): number {
    return this.#conn!.bytesOut;
  }
  get messagesIn(): number {
    return this.#conn!.messagesIn;
  }
  get messagesOut(): number {
    return this.#conn!.messagesOut;
  }
  get app(): ConnAppView {
    return this.#app;
  }
  get kernel(): KernelRowView | null {
    return this.#row < 0 ? null : this.#kernel;
  }
  get openedAt(): number {
    return this.#conn!.openedAt;
  }
  get closedAt(): number | null {
    return this.#conn!.closedAt;
  }
  get closeReason(): string | null {
    return this.#conn!.closeReason;
  }
  get lastActivity(): number {
    return this.#conn!.lastActivity;
  }
}

/** The app's figures of the connection a {@linkcode ConnView} shows. */
class ConnAppView {
  readonly #view: ConnView;

  constructor(view: ConnView) {
    this.#view = view;
  }

  get rxBuffered(): number {
    return this.#view.conn.rxBuffered;
  }
  get txBuffered(): number {
    return this.#view.conn.txBuffered;
  }
  get paused(): boolean {
    return this.#view.conn.paused;
  }
  get splitWaits(): number {
    return this.#view.conn.splitWaits;
  }
}
