/**
 * The live sockets joined with the kernel's rows the way the diagnoses read
 * them each second, allocating (almost) nothing per socket: the kernel's rows
 * are columns ({@linkcode KernelRows}), refilled in place; the connections
 * are found among them through an open-addressing index kept in a typed
 * array; and each connection is shown to the rules as one record refilled in
 * turn. The few other sockets (listeners, UDP, Unix) are joined as
 * `Service.sockets()` joins them, from objects made of their rows.
 *
 * Measured at 10,000 idle loopback connections: `Service.sockets()` allocates
 * ~23 MB a tick (20,000 kernel rows with their tcp_info and addresses, 10,000
 * snapshots, 10,000 peer rows), which V8 promotes to the old generation as it
 * lives a second; RSS grew ~5 KB per connection with the monitor on.
 */
import { emptyInfo, KernelRows, STATE_LISTEN, STATE_TIME_WAIT } from "../kernel/kernel_rows.ts";
import { ObservedConn } from "./observed_conn.ts";
import type { Observed } from "./registry.ts";
import { type EndpointAddress, joinKernel, normalizeHost } from "./socket_view.ts";
import type { KernelSocket, KernelSocketInfo, KernelView, SocketRecord } from "./types.ts";

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
  #record: SocketRecord;
  #info: KernelSocketInfo = emptyInfo();
  #kernel: KernelView = { state: "CLOSE", recvQ: 0, sendQ: 0, info: undefined };

  constructor() {
    this.#record = {
      id: "",
      endpoint: "",
      transport: "tcp",
      kind: "conn",
      ours: true,
      kernelOnly: false,
      role: undefined,
      state: "",
      local: { hostname: "", port: 0 },
      remote: null,
      bytesIn: 0,
      bytesOut: 0,
      messagesIn: 0,
      messagesOut: 0,
      app: { rxBuffered: 0, txBuffered: 0, paused: false, splitWaits: 0 },
      kernel: null,
      openedAt: null,
      closedAt: null,
      closeReason: null,
      lastActivity: null,
    };
  }

  /**
   * Joins `live` (the registry's sockets) with the rows now in {@linkcode rows}. Call it, and
   * read its `sockets`, before the rows are refilled; a socket that closes meanwhile shows its
   * last figures.
   */
  join(live: Iterable<Observed>, endpoints: readonly EndpointAddress[]): JoinedSockets {
    const rows = this.rows;
    this.#index();
    const used = this.#used;
    const others: SocketRecord[] = [];
    let n = 0;
    for (const sock of live) {
      if (sock instanceof ObservedConn && sock.transport === "tcp") {
        const row = this.#find(sock);
        if (row >= 0) used[row] = 1;
        if (n === this.#connRows.length) {
          const grown = new Int32Array(Math.max(64, Math.ceil(n * 1.5)));
          grown.set(this.#connRows);
          this.#connRows = grown;
        }
        this.#conns[n] = sock;
        this.#connRows[n] = row;
        n++;
      } else {
        others.push(sock.snapshot());
      }
    }
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
    const record = this.#record;
    return {
      [Symbol.iterator]: () => {
        let o = 0;
        let c = 0;
        // One result object for every step: the protocol allows it, and 10,000 fewer objects.
        const result: { value: SocketRecord | undefined; done: boolean } = {
          value: record,
          done: false,
        };
        return {
          next: (): IteratorResult<SocketRecord> => {
            if (o < others.length) {
              result.value = others[o++];
              return result as IteratorResult<SocketRecord>;
            }
            if (c >= count) {
              result.done = true;
              result.value = undefined;
              return result as IteratorResult<SocketRecord>;
            }
            const conn = conns[c]!;
            const row = connRows[c++];
            conn.refresh(record);
            if (row >= 0) this.#kernelInto(record, row);
            result.value = record;
            return result as IteratorResult<SocketRecord>;
          },
        };
      },
    };
  }

  #kernelInto(record: SocketRecord, row: number): void {
    const rows = this.rows;
    const kernel = this.#kernel;
    const state = rows.stateName(row);
    kernel.state = state;
    kernel.recvQ = rows.recvQ[row];
    kernel.sendQ = rows.sendQ[row];
    kernel.info = rows.infoInto(row, this.#info);
    record.kernel = kernel;
    // As joinKernel: the kernel's state, unless the app knows the socket closed.
    if (record.state !== "CLOSED") record.state = state;
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
    if (this.#used.length < rows.count) this.#used = new Uint8Array(Math.ceil(rows.count * 1.5));
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
