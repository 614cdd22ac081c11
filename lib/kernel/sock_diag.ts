/** Codec for netlink NETLINK_SOCK_DIAG inet dumps (what `ss` speaks): requests out, socket rows in. */

import type { Address, KernelSocket, KernelSocketInfo } from "../net/types.ts";
import { AddressNames, type PortFilter, sortedPorts, stateName, timerName } from "./_row.ts";
import {
  HAS_DATA_SEGS_OUT,
  HAS_DROPS,
  HAS_DSACK_DUPS,
  HAS_LOST,
  HAS_RTT,
  HAS_SND_WND,
  HAS_TOTAL_RETRANS,
  type KernelRows,
} from "./kernel_rows.ts";

// Netlink headers and inet_diag_msg fields are in host byte order, read here as little-endian
// (x86-64, arm64); addresses and ports are in network order.

// Constants from linux/netlink.h, linux/sock_diag.h and linux/inet_diag.h.
const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const SOCK_DIAG_BY_FAMILY = 20;
// The older TCP-only request (struct inet_diag_req): the kernel dumps it with family AF_UNSPEC,
// so IPv4 and IPv6 sockets come from one walk of the hash tables instead of two.
const TCPDIAG_GETSOCK = 18;
const INET_DIAG_REQ_V2_LEN = 56;
const INET_DIAG_REQ_LEN = 60;
const INET_DIAG_MSG_LEN = 72;
const INET_DIAG_REQ_BYTECODE = 1;
const INET_DIAG_INFO = 2;
const INET_DIAG_SKMEMINFO = 7;
// Index of SK_MEMINFO_DROPS in the u32 array of INET_DIAG_SKMEMINFO (linux/sock_diag.h).
const SK_MEMINFO_DROPS = 8;
const INET_DIAG_BC_JMP = 1;
const INET_DIAG_BC_S_GE = 2;
const INET_DIAG_BC_S_LE = 3;
const INET_DIAG_BC_D_GE = 4;
const INET_DIAG_BC_D_LE = 5;
const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
// TCP_ESTABLISHED (1) through TCP_NEW_SYN_RECV (12). Bit 13, TCP_BOUND_INACTIVE (Linux 6.7+),
// would add bound-but-idle sockets, which neither /proc nor ss shows by default.
const ALL_STATES = 0x1ffe;
// Byte offsets in struct tcp_info (linux/tcp.h).
const TCPI_RETRANSMITS = 2;
const TCPI_PROBES = 3;
const TCPI_BACKOFF = 4;
const TCPI_SND_MSS = 16;
const TCPI_LOST = 32;
const TCPI_RTT = 68;
const TCPI_RTTVAR = 72;
const TCPI_SND_SSTHRESH = 76;
const TCPI_SND_CWND = 80;
const TCPI_TOTAL_RETRANS = 100;
const TCPI_BYTES_ACKED = 120;
const TCPI_BYTES_RECEIVED = 128;
const TCPI_DATA_SEGS_OUT = 156;
const TCPI_DSACK_DUPS = 216;
const TCPI_SND_WND = 228;
// The ssthresh of a connection that has not yet left slow start.
const TCP_INFINITE_SSTHRESH = 0x7fffffff;
/** Ports beyond this many distinct ranges are filtered in JS: each costs 40 bytecode bytes. */
export const MAX_BYTECODE_RANGES = 256;

/** Options for {@linkcode encodeSockDiagRequest}. */
export interface SockDiagRequestOptions {
  /** Have the kernel send only sockets whose local or remote port is one of these. */
  ports?: readonly number[];
  /** Netlink sequence number, echoed in the replies. @default 1 */
  seq?: number;
}

/**
 * Encodes a dump request for every socket of one transport and family, TCP with tcp_info:
 * SOCK_DIAG_BY_FAMILY (inet_diag_req_v2) for one family, or for TCP of both families
 * TCPDIAG_GETSOCK (inet_diag_req), which the kernel answers from a single walk.
 */
export function encodeSockDiagRequest(
  family: 4 | 6 | "both",
  transport: "tcp" | "udp",
  options: SockDiagRequestOptions = {},
): Uint8Array {
  const { ports, seq = 1 } = options;
  if (family === "both" && transport !== "tcp") {
    throw new TypeError(`Cannot encode a sock_diag request: both families only for "tcp"`);
  }
  const bytecode = ports === undefined ? undefined : encodePortBytecode(ports);
  const body = family === "both" ? INET_DIAG_REQ_LEN : INET_DIAG_REQ_V2_LEN;
  const length = NLMSG_HDRLEN + body + (bytecode ? 4 + bytecode.length : 0);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, family === "both" ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, seq, true);
  // idiag_ext asks for extra attributes, one bit per attribute type minus one.
  // UDP asks for the socket's memory counters, whose last one counts the datagrams dropped.
  const ext = 1 << ((transport === "tcp" ? INET_DIAG_INFO : INET_DIAG_SKMEMINFO) - 1);
  if (family === "both") {
    // inet_diag_req: family (ignored by a dump), src_len, dst_len, ext, the 48-byte
    // inet_diag_sockid, then the states.
    out[16] = AF_INET;
    out[19] = ext;
    view.setUint32(16 + 4 + 48, ALL_STATES, true);
  } else {
    out[16] = family === 4 ? AF_INET : AF_INET6;
    out[17] = transport === "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
    out[18] = ext;
    view.setUint32(20, ALL_STATES, true);
  }
  if (bytecode) {
    const at = NLMSG_HDRLEN + body;
    view.setUint16(at, 4 + bytecode.length, true);
    view.setUint16(at + 2, INET_DIAG_REQ_BYTECODE, true);
    out.set(bytecode, at + 4);
  }
  return out;
}

/**
 * Encodes an inet_diag bytecode program accepting a socket whose local or remote port is in
 * `ports`: a binary search over the ports merged into ranges, first on the local port, then
 * on the remote one.
 */
export function encodePortBytecode(ports: readonly number[]): Uint8Array {
  const sorted = sortedPorts(ports, "encode a port filter");
  const ranges: [number, number][] = [];
  for (const port of sorted) {
    const last = ranges.at(-1);
    if (last && port === last[1] + 1) last[1] = port;
    else ranges.push([port, port]);
  }
  if (ranges.length === 0) throw new RangeError("Cannot encode a port filter: no ports given");
  if (ranges.length > MAX_BYTECODE_RANGES) {
    throw new RangeError(
      `Cannot encode a port filter: "${ranges.length}" ranges exceed ${MAX_BYTECODE_RANGES}`,
    );
  }
  // The kernel runs the program once per socket, and a linear list of clauses cost every
  // socket that matches none (other programs' TIME_WAITs, …) two ops per port and direction;
  // a search costs about log2(ranges) + 2. The kernel runs an op, then moves forward by `yes`
  // bytes if it held and by `no` if not; landing exactly on the end accepts, beyond rejects.
  // Its verifier walks the program by `yes` and only accepts `no` targets on that walk, so
  // `yes` always steps to the next op and every branch is a forward `no`; JMP never holds.
  const ops: BytecodeOp[] = [];
  const accept: Label = { at: -1 };
  const reject: Label = { at: -1 };
  const remoteStart: Label = { at: -1 };
  searchPorts(ops, ranges, "local", 0, ranges.length, accept, remoteStart);
  remoteStart.at = ops.length === 0 ? 0 : ops[ops.length - 1].end;
  searchPorts(ops, ranges, "remote", 0, ranges.length, accept, reject);
  const length = ops[ops.length - 1].end;
  // A last JMP to the end is the fall-through anyway.
  const last = ops[ops.length - 1];
  const trimmed = last.code === INET_DIAG_BC_JMP && last.no === accept ? length - 4 : length;
  accept.at = trimmed;
  reject.at = trimmed + 4;
  const out = new Uint8Array(trimmed);
  const view = new DataView(out.buffer);
  for (const op of ops) {
    if (op.start >= trimmed) break;
    out[op.start] = op.code;
    out[op.start + 1] = op.end - op.start;
    view.setUint16(op.start + 2, op.no.at - op.start, true);
    if (op.port >= 0) view.setUint16(op.start + 6, op.port, true);
  }
  return out;
}

interface Label {
  at: number;
}

interface BytecodeOp {
  code: number;
  /** The port compared against, -1 for JMP. */
  port: number;
  start: number;
  end: number;
  no: Label;
}

function pushOp(ops: BytecodeOp[], code: number, port: number, no: Label): void {
  const start = ops.length === 0 ? 0 : ops[ops.length - 1].end;
  ops.push({ code, port, start, end: start + (port < 0 ? 4 : 8), no });
}

/** Emits a search of `ranges[lo..hi)` on one port, going on to `match` or `fail`. */
function searchPorts(
  ops: BytecodeOp[],
  ranges: readonly [number, number][],
  side: "local" | "remote",
  lo: number,
  hi: number,
  match: Label,
  fail: Label,
): void {
  const ge = side === "local" ? INET_DIAG_BC_S_GE : INET_DIAG_BC_D_GE;
  const le = side === "local" ? INET_DIAG_BC_S_LE : INET_DIAG_BC_D_LE;
  if (hi - lo === 1) {
    const [first, last] = ranges[lo];
    // Only the lowest range lacks a lower bound from the search above it.
    if (lo === 0) pushOp(ops, ge, first, fail);
    pushOp(ops, le, last, fail);
    pushOp(ops, INET_DIAG_BC_JMP, -1, match);
    return;
  }
  const mid = (lo + hi) >> 1;
  const below: Label = { at: -1 };
  pushOp(ops, ge, ranges[mid][0], below);
  searchPorts(ops, ranges, side, mid, hi, match, fail);
  below.at = ops[ops.length - 1].end;
  searchPorts(ops, ranges, side, lo, mid, match, fail);
}

/**
 * Whether a received chunk holds the message that ends a dump (NLMSG_DONE, or an error);
 * reads only the message headers. A malformed chunk counts as the end: decoding it throws.
 */
export function endsDump(chunk: Uint8Array): boolean {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let at = 0;
  while (at + NLMSG_HDRLEN <= chunk.length) {
    const length = view.getUint32(at, true);
    if (length < NLMSG_HDRLEN) return true;
    const type = view.getUint16(at + 4, true);
    if (type === NLMSG_DONE || type === NLMSG_ERROR) return true;
    at += (length + 3) & ~3;
  }
  return at !== chunk.length;
}

/** A netlink error reply to a sock_diag request. */
export class SockDiagError extends Error {
  /** The errno the kernel answered with. */
  readonly errno: number;

  /** Makes the error for kernel errno `errno`. */
  constructor(errno: number) {
    super(`Netlink sock_diag request failed: errno ${errno}`);
    this.name = "SockDiagError";
    this.errno = errno;
  }
}

/**
 * Walks the netlink messages of one reply chunk: hands each diag message's body (from after its
 * header to its end) to `onMessage`, throws on an error reply or a message that overruns the
 * chunk, and returns true once the dump's NLMSG_DONE is seen. `tcpdiag`: the older reply type
 * (TCPDIAG_GETSOCK) counts as a diag message too.
 */
function walkReplies(
  chunk: Uint8Array,
  what: string,
  tcpdiag: boolean,
  onMessage: (view: DataView, at: number, end: number) => void,
): boolean {
  const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let done = false;
  let at = 0;
  while (at + NLMSG_HDRLEN <= chunk.length) {
    const length = view.getUint32(at, true);
    if (length < NLMSG_HDRLEN || at + length > chunk.length) {
      throw new SyntaxError(
        `Cannot decode ${what} reply: message length "${length}" at byte ${at} overruns the chunk`,
      );
    }
    const type = view.getUint16(at + 4, true);
    if (type === SOCK_DIAG_BY_FAMILY || (tcpdiag && type === TCPDIAG_GETSOCK)) {
      onMessage(view, at + NLMSG_HDRLEN, at + length);
    } else if (type === NLMSG_DONE || type === NLMSG_ERROR) {
      const error = length >= NLMSG_HDRLEN + 4 ? view.getInt32(at + NLMSG_HDRLEN, true) : 0;
      if (error < 0) throw new SockDiagError(-error);
      if (type === NLMSG_DONE) done = true;
    }
    at += (length + 3) & ~3;
  }
  if (at < chunk.length) {
    throw new SyntaxError(`Cannot decode ${what} reply: "${chunk.length - at}" trailing bytes`);
  }
  return done;
}

/** Options for {@linkcode SockDiagDecoder}. */
export interface SockDiagDecoderOptions {
  /** Keeps a row only when this returns true; checked on the ports before the row is built. */
  filter?: PortFilter;
}

/** Decodes the replies to one dump request, a received chunk (one or more whole netlink messages) at a time. */
export class SockDiagDecoder {
  #transport: "tcp" | "udp";
  #filter: PortFilter | undefined;
  #names = new AddressNames();
  #sockets: KernelSocket[] = [];
  #done = false;
  // The last address seen per low byte of its port. At 10,000 connections to one endpoint, half
  // the rows name the endpoint's own address: one shared object instead of 10,000 copies.
  #addresses: (Address | undefined)[] = new Array(256).fill(undefined);

  /** Makes a decoder for a dump of `transport` sockets. */
  constructor(transport: "tcp" | "udp", options: SockDiagDecoderOptions = {}) {
    this.#transport = transport;
    this.#filter = options.filter;
  }

  /** The rows decoded so far. */
  get sockets(): KernelSocket[] {
    return this.#sockets;
  }

  /** Whether the dump's closing NLMSG_DONE has arrived. */
  get done(): boolean {
    return this.#done;
  }

  #address(bytes: Uint8Array, at: number, family: 4 | 6, port: number): Address {
    const hostname = family === 4 ? this.#names.ipv4(bytes, at) : this.#names.ipv6(bytes, at);
    const slot = port & 255;
    const seen = this.#addresses[slot];
    // Address names are cached strings, so equal names are the same string and compare at once.
    if (seen !== undefined && seen.port === port && seen.hostname === hostname) return seen;
    const address = { hostname, port };
    this.#addresses[slot] = address;
    return address;
  }

  /** Decodes every message in `chunk`; returns true once the dump is complete. */
  push(chunk: Uint8Array): boolean {
    if (
      walkReplies(chunk, "sock_diag", true, (view, at, end) => this.#message(chunk, view, at, end))
    ) this.#done = true;
    return this.#done;
  }

  #message(bytes: Uint8Array, view: DataView, at: number, end: number): void {
    if (end - at < INET_DIAG_MSG_LEN) {
      throw new SyntaxError(`Cannot decode sock_diag reply: inet_diag_msg of "${end - at}" bytes`);
    }
    const localPort = view.getUint16(at + 4);
    const remotePort = view.getUint16(at + 6);
    if (this.#filter !== undefined && !this.#filter(localPort, remotePort)) return;
    const transport = this.#transport;
    const state = stateName(transport, bytes[at + 1]);
    // A state the row type doesn't name (none we request) is left out rather than misreported.
    if (state === undefined) return;
    const family = bytes[at] === AF_INET6 ? 6 : 4;
    const local = this.#address(bytes, at + 8, family, localPort);
    const remote = remotePort !== 0 || !isZero(bytes, at + 24, family === 4 ? 4 : 16)
      ? this.#address(bytes, at + 24, family, remotePort)
      : null;
    let info: KernelSocketInfo | undefined = undefined;
    if (transport === "tcp") {
      const attr = findAttribute(view, at + INET_DIAG_MSG_LEN, end, INET_DIAG_INFO);
      info = readTcpInfo(
        view,
        attr < 0 ? 0 : attr + 4,
        attr < 0 ? 0 : view.getUint16(attr, true) - 4,
        bytes[at + 2],
        view.getUint32(at + 52, true), // idiag_expires is already in ms
        bytes[at + 3],
      );
    } else {
      const attr = findAttribute(view, at + INET_DIAG_MSG_LEN, end, INET_DIAG_SKMEMINFO);
      if (attr >= 0 && view.getUint16(attr, true) >= 4 + 4 * (SK_MEMINFO_DROPS + 1)) {
        info = { drops: view.getUint32(attr + 4 + 4 * SK_MEMINFO_DROPS, true) };
      }
    }
    // One literal with every field, info included, so each row is one allocation of one shape.
    const row: KernelSocket = {
      transport,
      family,
      state,
      local,
      remote,
      // For LISTEN the kernel reports the accept queue as rqueue and the backlog as wqueue.
      recvQ: view.getUint32(at + 56, true),
      sendQ: view.getUint32(at + 60, true),
      inode: view.getUint32(at + 68, true),
      uid: view.getUint32(at + 64, true),
      info,
      // Filled in later by SocketOwners; declared here so every row keeps one shape.
      process: undefined,
    };
    this.#sockets.push(row);
  }
}

/**
 * Decodes the replies to one dump request into a {@linkcode KernelRows} table, appending: the
 * same fields as {@linkcode SockDiagDecoder} keeps for the rules (queues, state, timer and the
 * tcp_info counters), and no object per row.
 */
export class SockDiagRowsDecoder {
  #udp: boolean;
  #filter: PortFilter | undefined;
  #names = new AddressNames();
  #rows: KernelRows;
  #done = false;
  #onMessage: (view: DataView, at: number, end: number) => void;
  #bytes: Uint8Array = new Uint8Array(0);

  /** Makes a decoder appending the rows of a dump of `transport` sockets to `rows`. */
  constructor(transport: "tcp" | "udp", rows: KernelRows, options: SockDiagDecoderOptions = {}) {
    this.#udp = transport === "udp";
    this.#rows = rows;
    this.#filter = options.filter;
    this.#onMessage = (view, at, end) => this.#message(view, at, end);
  }

  /** Whether the dump's closing NLMSG_DONE has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /** Decodes every message in `chunk`; returns true once the dump is complete. */
  push(chunk: Uint8Array): boolean {
    this.#bytes = chunk;
    if (walkReplies(chunk, "sock_diag", true, this.#onMessage)) this.#done = true;
    return this.#done;
  }

  #message(view: DataView, at: number, end: number): void {
    const bytes = this.#bytes;
    if (end - at < INET_DIAG_MSG_LEN) {
      throw new SyntaxError(`Cannot decode sock_diag reply: inet_diag_msg of "${end - at}" bytes`);
    }
    const localPort = view.getUint16(at + 4);
    const remotePort = view.getUint16(at + 6);
    if (this.#filter !== undefined && !this.#filter(localPort, remotePort)) return;
    const udp = this.#udp;
    // As SockDiagDecoder: a state the rows don't name is left out.
    if (stateName(udp ? "udp" : "tcp", bytes[at + 1]) === undefined) return;
    const rows = this.#rows;
    const i = rows.add();
    const v6 = bytes[at] === AF_INET6;
    rows.udp[i] = udp ? 1 : 0;
    rows.family[i] = v6 ? 6 : 4;
    rows.state[i] = bytes[at + 1];
    rows.localPort[i] = localPort;
    rows.localHost[i] = v6 ? this.#names.ipv6(bytes, at + 8) : this.#names.ipv4(bytes, at + 8);
    const peer = remotePort !== 0 || !isZero(bytes, at + 24, v6 ? 16 : 4);
    rows.remotePort[i] = remotePort;
    rows.remoteHost[i] = !peer
      ? ""
      : v6
      ? this.#names.ipv6(bytes, at + 24)
      : this.#names.ipv4(bytes, at + 24);
    rows.recvQ[i] = view.getUint32(at + 56, true);
    rows.sendQ[i] = view.getUint32(at + 60, true);
    rows.inode[i] = view.getUint32(at + 68, true);
    if (udp) {
      const attr = findAttribute(view, at + INET_DIAG_MSG_LEN, end, INET_DIAG_SKMEMINFO);
      if (attr >= 0 && view.getUint16(attr, true) >= 4 + 4 * (SK_MEMINFO_DROPS + 1)) {
        rows.drops[i] = view.getUint32(attr + 4 + 4 * SK_MEMINFO_DROPS, true);
        rows.has[i] = HAS_DROPS;
      }
      return;
    }
    const timer = bytes[at + 2];
    rows.timer[i] = timer;
    rows.timerMs[i] = timer === 0 ? 0 : view.getUint32(at + 52, true);
    const attr = findAttribute(view, at + INET_DIAG_MSG_LEN, end, INET_DIAG_INFO);
    const p = attr < 0 ? 0 : attr + 4;
    const length = attr < 0 ? 0 : view.getUint16(attr, true) - 4;
    // The same fields, and the same rules for leaving them out, as readTcpInfo.
    rows.retransmits[i] = length > TCPI_RETRANSMITS
      ? view.getUint8(p + TCPI_RETRANSMITS)
      : bytes[at + 3];
    if (length > TCPI_BACKOFF) rows.backoff[i] = view.getUint8(p + TCPI_BACKOFF);
    if (length > TCPI_PROBES) rows.probes[i] = view.getUint8(p + TCPI_PROBES);
    let has = 0;
    if (length >= TCPI_SND_CWND + 4) {
      const rtt = view.getUint32(p + TCPI_RTT, true);
      if (rtt !== 0) {
        rows.rttUs[i] = rtt;
        has |= HAS_RTT;
      }
      rows.lost[i] = view.getUint32(p + TCPI_LOST, true);
      has |= HAS_LOST;
    }
    if (length >= TCPI_BYTES_RECEIVED + 8) rows.bytesAcked[i] = uint64(view, p + TCPI_BYTES_ACKED);
    if (length >= TCPI_TOTAL_RETRANS + 4) {
      rows.totalRetrans[i] = view.getUint32(p + TCPI_TOTAL_RETRANS, true);
      has |= HAS_TOTAL_RETRANS;
    }
    if (length >= TCPI_DATA_SEGS_OUT + 4) {
      rows.dataSegsOut[i] = view.getUint32(p + TCPI_DATA_SEGS_OUT, true);
      has |= HAS_DATA_SEGS_OUT;
    }
    if (length >= TCPI_DSACK_DUPS + 4) {
      rows.dsackDups[i] = view.getUint32(p + TCPI_DSACK_DUPS, true);
      has |= HAS_DSACK_DUPS;
    }
    if (length >= TCPI_SND_WND + 4) {
      rows.sndWnd[i] = view.getUint32(p + TCPI_SND_WND, true);
      has |= HAS_SND_WND;
    }
    rows.has[i] = has;
  }
}

/** Decodes a whole dump's replies (all chunks, concatenated) into rows. */
export function decodeSockDiag(
  bytes: Uint8Array,
  transport: "tcp" | "udp",
  options: SockDiagDecoderOptions = {},
): KernelSocket[] {
  const decoder = new SockDiagDecoder(transport, options);
  decoder.push(bytes);
  return decoder.sockets;
}

function isZero(bytes: Uint8Array, at: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (bytes[at + k] !== 0) return false;
  return true;
}

/** The offset of the first attribute of `type` in [at, end), or -1. */
function findAttribute(view: DataView, at: number, end: number, type: number): number {
  while (at + 4 <= end) {
    const length = view.getUint16(at, true);
    if (length < 4 || at + length > end) return -1;
    if ((view.getUint16(at + 2, true) & 0x3fff) === type) return at;
    at += (length + 3) & ~3;
  }
  return -1;
}

/**
 * The row's timer and the struct tcp_info fields ss -i shows, from `length` bytes of tcp_info at
 * `at` (0 when the kernel sent none; older kernels send a shorter struct). Like ss, RTT, MSS and
 * ssthresh are left out while zero (not measured yet, e.g. on a listener) and ssthresh while
 * "infinite" (still in slow start). Fields left out are undefined rather than absent: every info
 * then has one shape, and JSON leaves them out all the same.
 */
function readTcpInfo(
  view: DataView,
  at: number,
  length: number,
  timer: number,
  timerMs: number,
  retransmits: number,
): KernelSocketInfo {
  const basic = length >= TCPI_SND_CWND + 4;
  const full = length >= TCPI_BYTES_RECEIVED + 8;
  const rtt = basic ? view.getUint32(at + TCPI_RTT, true) : 0;
  const ssthresh = basic ? view.getUint32(at + TCPI_SND_SSTHRESH, true) : 0;
  const mss = basic ? view.getUint32(at + TCPI_SND_MSS, true) : 0;
  return {
    timer: timer === 0 ? undefined : timerName(timer),
    timerMs: timer === 0 ? undefined : timerMs,
    retransmits: length > TCPI_RETRANSMITS ? view.getUint8(at + TCPI_RETRANSMITS) : retransmits,
    rttMs: rtt === 0 ? undefined : rtt / 1000,
    rttVarMs: rtt === 0 ? undefined : view.getUint32(at + TCPI_RTTVAR, true) / 1000,
    cwnd: basic ? view.getUint32(at + TCPI_SND_CWND, true) : undefined,
    ssthresh: ssthresh !== 0 && ssthresh < TCP_INFINITE_SSTHRESH ? ssthresh : undefined,
    mss: mss === 0 ? undefined : mss,
    lostPackets: basic ? view.getUint32(at + TCPI_LOST, true) : undefined,
    bytesAcked: full ? uint64(view, at + TCPI_BYTES_ACKED) : undefined,
    bytesReceived: full ? uint64(view, at + TCPI_BYTES_RECEIVED) : undefined,
    totalRetrans: length >= TCPI_TOTAL_RETRANS + 4
      ? view.getUint32(at + TCPI_TOTAL_RETRANS, true)
      : undefined,
    backoff: length > TCPI_BACKOFF ? view.getUint8(at + TCPI_BACKOFF) : undefined,
    probes: length > TCPI_PROBES ? view.getUint8(at + TCPI_PROBES) : undefined,
    dataSegsOut: length >= TCPI_DATA_SEGS_OUT + 4
      ? view.getUint32(at + TCPI_DATA_SEGS_OUT, true)
      : undefined,
    dsackDups: length >= TCPI_DSACK_DUPS + 4
      ? view.getUint32(at + TCPI_DSACK_DUPS, true)
      : undefined,
    // Linux 5.4 added snd_wnd; an older kernel's shorter struct leaves it out.
    sndWnd: length >= TCPI_SND_WND + 4 ? view.getUint32(at + TCPI_SND_WND, true) : undefined,
  };
}

function uint64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}

// AF_UNIX dumps (linux/unix_diag.h): struct unix_diag_req is 24 bytes, unix_diag_msg 16.
const AF_UNIX = 1;
const UNIX_DIAG_REQ_LEN = 24;
const UNIX_DIAG_MSG_LEN = 16;
const UDIAG_SHOW_NAME = 0x01;
const UDIAG_SHOW_PEER = 0x04;
const UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_PEER = 2;
const UNIX_DIAG_RQLEN = 4;
const SOCK_STREAM = 1;
// A Unix socket's states use TCP's numbers: ESTABLISHED (1), CLOSE (7, unconnected), LISTEN (10).
const UNIX_STATES = (1 << 1) | (1 << 7) | (1 << 10);

/**
 * Encodes a dump request for every AF_UNIX socket with its name, peer inode and queue
 * lengths (UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN), as `ss -x` asks.
 */
export function encodeUnixDiagRequest(seq = 1): Uint8Array {
  const length = NLMSG_HDRLEN + UNIX_DIAG_REQ_LEN;
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  view.setUint32(0, length, true);
  view.setUint16(4, SOCK_DIAG_BY_FAMILY, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, seq, true);
  out[16] = AF_UNIX;
  view.setUint32(20, UNIX_STATES, true);
  view.setUint32(28, UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN, true);
  return out;
}

/** Options for {@linkcode UnixDiagDecoder}. */
export interface UnixDiagDecoderOptions {
  /** Keeps only sockets named one of these paths, and sockets whose peer is one of those. */
  paths?: readonly string[];
}

/**
 * Decodes the replies to {@linkcode encodeUnixDiagRequest}: stream sockets only, as rows with
 * `transport: "unix"`, the path as `local.hostname` (an abstract name as `@name`, none as
 * ""), port 0, and the peer's inode in `peerInode`. For LISTEN, recvQ is the accept queue and
 * sendQ the backlog; otherwise the bytes waiting to be read and the bytes sent not yet read.
 */
export class UnixDiagDecoder {
  #paths: Set<string> | undefined;
  #all: KernelSocket[] = [];
  #done = false;
  #decoder = new TextDecoder();

  /** Makes a decoder for one dump. */
  constructor(options: UnixDiagDecoderOptions = {}) {
    this.#paths = options.paths === undefined ? undefined : new Set(options.paths);
  }

  /** Whether the dump's closing NLMSG_DONE has arrived. */
  get done(): boolean {
    return this.#done;
  }

  /**
   * The rows decoded so far: with `paths`, the sockets named one of them and their peers
   * (known once the dump is whole, as a peer may come before the socket it talks to).
   */
  get sockets(): KernelSocket[] {
    const paths = this.#paths;
    if (paths === undefined) return this.#all;
    const named = new Set<number>();
    for (const row of this.#all) if (paths.has(row.local.hostname)) named.add(row.inode!);
    return this.#all.filter((row) =>
      paths.has(row.local.hostname) || (row.peerInode !== undefined && named.has(row.peerInode))
    );
  }

  /** Decodes every message in `chunk`; returns true once the dump is complete. */
  push(chunk: Uint8Array): boolean {
    if (
      walkReplies(chunk, "unix_diag", false, (view, at, end) => this.#message(chunk, view, at, end))
    ) this.#done = true;
    return this.#done;
  }

  #message(bytes: Uint8Array, view: DataView, at: number, end: number): void {
    if (end - at < UNIX_DIAG_MSG_LEN) {
      throw new SyntaxError(`Cannot decode unix_diag reply: unix_diag_msg of "${end - at}" bytes`);
    }
    if (bytes[at + 1] !== SOCK_STREAM) return;
    const stateNumber = bytes[at + 2];
    const state = stateNumber === 10 ? "LISTEN" : stateNumber === 1 ? "ESTABLISHED" : "CLOSE";
    let hostname = "";
    let peerInode: number | undefined = undefined;
    let recvQ = 0;
    let sendQ = 0;
    for (let a = at + UNIX_DIAG_MSG_LEN; a + 4 <= end;) {
      const len = view.getUint16(a, true);
      if (len < 4 || a + len > end) break;
      const kind = view.getUint16(a + 2, true) & 0x3fff;
      if (kind === UNIX_DIAG_NAME) {
        let name = bytes.subarray(a + 4, a + len);
        // A path name ends in its NUL; an abstract one starts with one, which ss shows as @.
        const abstract = name.length > 0 && name[0] === 0;
        if (abstract) name = name.subarray(1);
        else if (name.indexOf(0) >= 0) name = name.subarray(0, name.indexOf(0));
        hostname = (abstract ? "@" : "") + this.#decoder.decode(name);
      } else if (kind === UNIX_DIAG_PEER && len >= 8) {
        peerInode = view.getUint32(a + 4, true);
      } else if (kind === UNIX_DIAG_RQLEN && len >= 12) {
        recvQ = view.getUint32(a + 4, true);
        sendQ = view.getUint32(a + 8, true);
      }
      a += (len + 3) & ~3;
    }
    this.#all.push({
      transport: "unix",
      family: 0,
      state,
      local: { hostname, port: 0 },
      remote: null,
      recvQ,
      sendQ,
      inode: view.getUint32(at + 4, true),
      peerInode,
    });
  }
}
