/**
 * The kernel's socket table as columns of typed arrays, refilled in place on
 * every sample: for a reader that looks at every row each second (the
 * diagnoses) and must not allocate an object per row to do it. At 10,000
 * connections a sample of objects (rows, addresses, tcp_info) is ~20,000 of
 * each, kept a second: V8 promotes them to the old generation and the
 * process's RSS grows until a full collection. The columns are allocated once
 * (grown when the table grows) and the address texts are the decoder's cached
 * strings, so a refill allocates nothing.
 */
import type {
  Address,
  KernelSocket,
  KernelSocketInfo,
  KernelState,
  KernelView,
} from "../net/types.ts";
import { timerName } from "./_row.ts";

/** State numbers as the columns hold them: the kernel's TCP_* numbers, UNCONN as 7 (TCP_CLOSE). */
const STATE_CODES: Readonly<Record<KernelState, number>> = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
  NEW_SYN_RECV: 12,
  UNCONN: 7,
};

/** The kernel's state number of TIME_WAIT, for {@linkcode KernelRows.state}. */
export const STATE_TIME_WAIT = 6;
/** The kernel's state number of LISTEN. */
export const STATE_LISTEN = 10;

const TCP_NAMES: readonly (KernelState | undefined)[] = [
  undefined,
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
];

/** The state name of row `i`'s number, as {@linkcode KernelSocket.state} says it. */
function stateOf(udp: boolean, code: number): KernelState {
  return udp && code === 7 ? "UNCONN" : TCP_NAMES[code] ?? "CLOSE";
}

/** Bits of {@linkcode KernelRows.has}: the 32-bit tcp_info columns the kernel told. */
export const HAS_RTT = 1;
/** tcpi_lost told. */
export const HAS_LOST = 2;
/** tcpi_total_retrans told. */
export const HAS_TOTAL_RETRANS = 4;
/** tcpi_data_segs_out told. */
export const HAS_DATA_SEGS_OUT = 8;
/** tcpi_dsack_dups told. */
export const HAS_DSACK_DUPS = 16;
/** tcpi_snd_wnd told (Linux 5.4+). */
export const HAS_SND_WND = 32;
/** SK_MEMINFO_DROPS told (UDP). */
export const HAS_DROPS = 64;

// Absent one-byte tcp_info fields (a short struct from an older kernel, a UDP row) are 255;
// accessors turn them into undefined.
const NONE8 = 255;

/** One growable table of kernel socket rows; {@linkcode clear} then {@linkcode add}/fill. */
export class KernelRows {
  /** Rows in the table. */
  count = 0;
  /** 0 TCP, 1 UDP. */
  udp = new Uint8Array(0);
  /** 4 or 6. */
  family = new Uint8Array(0);
  /** The kernel's state number (UDP: 7 is UNCONN). */
  state = new Uint8Array(0);
  /** The kernel's timer kind (0 none, 1 retransmit, 2 keep-alive, 3 TIME_WAIT, 4 persist). */
  timer = new Uint8Array(0);
  /** tcpi_retransmits, tcpi_backoff, tcpi_probes; 255 where the kernel sent none. */
  retransmits = new Uint8Array(0);
  backoff = new Uint8Array(0);
  probes = new Uint8Array(0);
  localPort = new Uint16Array(0);
  /** 0 with `remoteHost` "" where the socket has no peer (a listener, an unconnected UDP socket). */
  remotePort = new Uint16Array(0);
  recvQ = new Uint32Array(0);
  sendQ = new Uint32Array(0);
  inode = new Uint32Array(0);
  /** Milliseconds until the timer fires. */
  timerMs = new Uint32Array(0);
  /** Which of the 32-bit tcp_info columns below the kernel told (bits `HAS_*`). */
  has = new Uint8Array(0);
  rttUs = new Uint32Array(0);
  lost = new Uint32Array(0);
  totalRetrans = new Uint32Array(0);
  dataSegsOut = new Uint32Array(0);
  dsackDups = new Uint32Array(0);
  sndWnd = new Uint32Array(0);
  /** UDP: SK_MEMINFO_DROPS. */
  drops = new Uint32Array(0);
  /** tcpi_bytes_acked (64 bits); NaN where the kernel did not tell. */
  bytesAcked = new Float64Array(0);
  /** Address texts: shared cached strings, "" for no peer. */
  localHost: string[] = [];
  remoteHost: string[] = [];
  #capacity = 0;

  /** Empties the table, keeping its columns for the next fill. */
  clear(): void {
    this.count = 0;
  }

  /** Appends an empty row (its info fields absent) and returns its index. */
  add(): number {
    const i = this.count;
    if (i === this.#capacity) this.#grow(Math.max(256, 2 * i));
    this.count = i + 1;
    this.timer[i] = 0;
    this.timerMs[i] = 0;
    this.retransmits[i] = NONE8;
    this.backoff[i] = NONE8;
    this.probes[i] = NONE8;
    this.has[i] = 0;
    this.bytesAcked[i] = NaN;
    return i;
  }

  /**
   * Moves the columns into one buffer of `capacity` rows. One allocation, doubling: columns
   * grown one by one, half as much again each time, left ~4 MB of freed buffers the C heap
   * kept (RSS) by 20,000 rows.
   */
  #grow(capacity: number): void {
    // Widest first, so every column starts aligned to its element size.
    const widths = [8, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1];
    const buffer = new ArrayBuffer(widths.reduce((sum, w) => sum + w * capacity, 0));
    let offset = 0;
    const count = this.count;
    const move = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(old: T): T => {
      const next = new (old.constructor as new (b: ArrayBuffer, at: number, n: number) => T)(
        buffer,
        offset,
        capacity,
      );
      offset += next.byteLength;
      next.set(old.subarray(0, count));
      return next;
    };
    this.bytesAcked = move(this.bytesAcked);
    this.recvQ = move(this.recvQ);
    this.sendQ = move(this.sendQ);
    this.inode = move(this.inode);
    this.timerMs = move(this.timerMs);
    this.rttUs = move(this.rttUs);
    this.lost = move(this.lost);
    this.totalRetrans = move(this.totalRetrans);
    this.dataSegsOut = move(this.dataSegsOut);
    this.dsackDups = move(this.dsackDups);
    this.sndWnd = move(this.sndWnd);
    this.drops = move(this.drops);
    this.localPort = move(this.localPort);
    this.remotePort = move(this.remotePort);
    this.udp = move(this.udp);
    this.family = move(this.family);
    this.state = move(this.state);
    this.timer = move(this.timer);
    this.retransmits = move(this.retransmits);
    this.backoff = move(this.backoff);
    this.probes = move(this.probes);
    this.has = move(this.has);
    this.#capacity = capacity;
  }

  /** Refills the table from rows of objects (a /proc sample, a test's rows). */
  fill(sockets: readonly KernelSocket[]): void {
    this.clear();
    for (const k of sockets) {
      if (k.transport === "unix") continue;
      const i = this.add();
      this.udp[i] = k.transport === "udp" ? 1 : 0;
      this.family[i] = k.family === 6 ? 6 : 4;
      this.state[i] = STATE_CODES[k.state];
      this.localPort[i] = k.local.port;
      this.localHost[i] = k.local.hostname;
      this.remotePort[i] = k.remote?.port ?? 0;
      this.remoteHost[i] = k.remote?.hostname ?? "";
      this.recvQ[i] = k.recvQ;
      this.sendQ[i] = k.sendQ;
      this.inode[i] = k.inode ?? 0;
      const info = k.info;
      if (info === undefined) continue;
      this.timer[i] = info.timer === undefined ? 0 : Math.max(0, TIMER_CODES.indexOf(info.timer));
      this.timerMs[i] = info.timerMs ?? 0;
      this.retransmits[i] = info.retransmits ?? NONE8;
      this.backoff[i] = info.backoff ?? NONE8;
      this.probes[i] = info.probes ?? NONE8;
      this.bytesAcked[i] = info.bytesAcked ?? NaN;
      let has = 0;
      const put = (column: Uint32Array, bit: number, value: number | undefined) => {
        if (value === undefined) return;
        column[i] = value;
        has |= bit;
      };
      put(
        this.rttUs,
        HAS_RTT,
        info.rttMs === undefined ? undefined : Math.round(info.rttMs * 1000),
      );
      put(this.lost, HAS_LOST, info.lostPackets);
      put(this.totalRetrans, HAS_TOTAL_RETRANS, info.totalRetrans);
      put(this.dataSegsOut, HAS_DATA_SEGS_OUT, info.dataSegsOut);
      put(this.dsackDups, HAS_DSACK_DUPS, info.dsackDups);
      put(this.sndWnd, HAS_SND_WND, info.sndWnd);
      put(this.drops, HAS_DROPS, info.drops);
      this.has[i] = has;
    }
  }

  /** Row `i`'s state name. */
  stateName(i: number): KernelState {
    return stateOf(this.udp[i] === 1, this.state[i]);
  }

  /**
   * Writes row `i`'s tcp_info fields (those the rows keep) into `info`, every field set
   * (undefined where absent) so one object can be refilled for row after row.
   */
  infoInto(i: number, info: KernelSocketInfo): KernelSocketInfo {
    const timer = this.timer[i];
    info.timer = timer === 0 ? undefined : timerName(timer);
    info.timerMs = timer === 0 ? undefined : this.timerMs[i];
    info.retransmits = byte(this.retransmits[i]);
    info.backoff = byte(this.backoff[i]);
    info.probes = byte(this.probes[i]);
    const has = this.has[i];
    info.rttMs = has & HAS_RTT ? this.rttUs[i] / 1000 : undefined;
    info.lostPackets = has & HAS_LOST ? this.lost[i] : undefined;
    info.totalRetrans = has & HAS_TOTAL_RETRANS ? this.totalRetrans[i] : undefined;
    const acked = this.bytesAcked[i];
    info.bytesAcked = acked === acked ? acked : undefined;
    info.dataSegsOut = has & HAS_DATA_SEGS_OUT ? this.dataSegsOut[i] : undefined;
    info.dsackDups = has & HAS_DSACK_DUPS ? this.dsackDups[i] : undefined;
    info.sndWnd = has & HAS_SND_WND ? this.sndWnd[i] : undefined;
    info.drops = has & HAS_DROPS ? this.drops[i] : undefined;
    return info;
  }

  /** Row `i` as an object, as the object readers make it (its info: the fields the rows keep). */
  socket(i: number): KernelSocket {
    const udp = this.udp[i] === 1;
    const local: Address = { hostname: this.localHost[i], port: this.localPort[i] };
    const remote: Address | null = this.remoteHost[i] === "" && this.remotePort[i] === 0
      ? null
      : { hostname: this.remoteHost[i], port: this.remotePort[i] };
    const info = this.infoInto(i, emptyInfo());
    return {
      transport: udp ? "udp" : "tcp",
      family: this.family[i] === 6 ? 6 : 4,
      state: this.stateName(i),
      local,
      remote,
      recvQ: this.recvQ[i],
      sendQ: this.sendQ[i],
      inode: this.inode[i],
      uid: undefined,
      // UDP rows carry drops only, as the object reader's do.
      info: udp
        ? (info.drops === undefined ? undefined : { drops: info.drops })
        : { ...info, drops: undefined },
      process: undefined,
    };
  }
}

/**
 * One row of a {@linkcode KernelRows} as a {@linkcode KernelView} whose fields read the
 * columns: move it to another row by setting `row`; reading its fields allocates nothing (a
 * copy of the row's figures made a number object per connection: RTT in ms is fractional).
 * Its fields are getters: read them, do not spread or serialise it.
 */
export class KernelRowView implements KernelView {
  /** The row shown. */
  row = 0;
  readonly #rows: KernelRows;
  readonly #info: KernelRowInfo;

  /** A view of `rows`, at row 0. */
  constructor(rows: KernelRows) {
    this.#rows = rows;
    this.#info = new KernelRowInfo(rows, this);
  }

  /** The row's state name. */
  get state(): KernelState {
    return this.#rows.stateName(this.row);
  }

  /** Recv-Q (LISTEN: the accept queue). */
  get recvQ(): number {
    return this.#rows.recvQ[this.row];
  }

  /** Send-Q (LISTEN: the backlog). */
  get sendQ(): number {
    return this.#rows.sendQ[this.row];
  }

  /** The row's tcp_info fields, a view of the row too. */
  get info(): KernelSocketInfo {
    return this.#info;
  }
}

/** The tcp_info fields of a {@linkcode KernelRowView}'s row, read from the columns. */
class KernelRowInfo implements KernelSocketInfo {
  readonly #rows: KernelRows;
  readonly #at: KernelRowView;

  constructor(rows: KernelRows, at: KernelRowView) {
    this.#rows = rows;
    this.#at = at;
  }

  get timer(): string | undefined {
    const timer = this.#rows.timer[this.#at.row];
    return timer === 0 ? undefined : timerName(timer);
  }
  get timerMs(): number | undefined {
    const i = this.#at.row;
    return this.#rows.timer[i] === 0 ? undefined : this.#rows.timerMs[i];
  }
  get retransmits(): number | undefined {
    return byte(this.#rows.retransmits[this.#at.row]);
  }
  get backoff(): number | undefined {
    return byte(this.#rows.backoff[this.#at.row]);
  }
  get probes(): number | undefined {
    return byte(this.#rows.probes[this.#at.row]);
  }
  get rttMs(): number | undefined {
    const i = this.#at.row;
    return this.#rows.has[i] & HAS_RTT ? this.#rows.rttUs[i] / 1000 : undefined;
  }
  get lostPackets(): number | undefined {
    return this.#u32(this.#rows.lost, HAS_LOST);
  }
  get totalRetrans(): number | undefined {
    return this.#u32(this.#rows.totalRetrans, HAS_TOTAL_RETRANS);
  }
  get bytesAcked(): number | undefined {
    const acked = this.#rows.bytesAcked[this.#at.row];
    return acked === acked ? acked : undefined;
  }
  get dataSegsOut(): number | undefined {
    return this.#u32(this.#rows.dataSegsOut, HAS_DATA_SEGS_OUT);
  }
  get dsackDups(): number | undefined {
    return this.#u32(this.#rows.dsackDups, HAS_DSACK_DUPS);
  }
  get sndWnd(): number | undefined {
    return this.#u32(this.#rows.sndWnd, HAS_SND_WND);
  }
  get drops(): number | undefined {
    return this.#u32(this.#rows.drops, HAS_DROPS);
  }

  #u32(column: Uint32Array, bit: number): number | undefined {
    const i = this.#at.row;
    return this.#rows.has[i] & bit ? column[i] : undefined;
  }
}

const TIMER_CODES = ["off", "on", "keepalive", "timewait", "persist"];

function byte(value: number): number | undefined {
  return value === NONE8 ? undefined : value;
}

/** An info object with every field the rows fill, for {@linkcode KernelRows.infoInto}. */
export function emptyInfo(): KernelSocketInfo {
  return {
    timer: undefined,
    timerMs: undefined,
    retransmits: undefined,
    backoff: undefined,
    probes: undefined,
    rttMs: undefined,
    lostPackets: undefined,
    totalRetrans: undefined,
    bytesAcked: undefined,
    dataSegsOut: undefined,
    dsackDups: undefined,
    sndWnd: undefined,
    drops: undefined,
  };
}
