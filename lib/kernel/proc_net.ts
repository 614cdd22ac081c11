/** Parser for the kernel's /proc/net/{tcp,tcp6,udp,udp6} socket tables. */

import type { Address, KernelSocket } from "../net/types.ts";
import { AddressNames, type PortFilter, stateName, timerName } from "./_row.ts";

/** The /proc/net files this parser reads. */
export type ProcNetTable = "tcp" | "tcp6" | "udp" | "udp6";

/** Options for {@linkcode parseProcNet}. */
export interface ParseProcNetOptions {
  /** Keeps a row only when this returns true; checked on the ports before the row is built. */
  filter?: PortFilter;
  /**
   * Ticks per second of the `tm->when` column: the kernel prints it as clock_t
   * (jiffies_delta_to_clock_t), which counts USER_HZ ticks, 100 on every Linux ABI.
   * @default 100
   */
  userHz?: number;
}

const NL = 0x0a;
const SPACE = 0x20;
const COLON = 0x3a;
const HEX = new Int8Array(256).fill(-1);
for (let d = 0; d < 10; d++) HEX[0x30 + d] = d;
for (let d = 0; d < 6; d++) HEX[0x41 + d] = HEX[0x61 + d] = 10 + d;

/**
 * Parses the bytes of /proc/net/`table` into rows, byte by byte at fixed columns (no string
 * per line), since the table can hold tens of thousands of sockets.
 */
export function parseProcNet(
  bytes: Uint8Array,
  table: ProcNetTable,
  options: ParseProcNetOptions = {},
): KernelSocket[] {
  const transport = table === "tcp" || table === "tcp6" ? "tcp" : "udp";
  const family = table === "tcp6" || table === "udp6" ? 6 : 4;
  const { filter, userHz = 100 } = options;
  if (!(userHz > 0)) {
    throw new RangeError(`Cannot parse /proc/net/${table}: userHz "${userHz}" is not positive`);
  }
  const msPerTick = 1000 / userHz;
  const rows: KernelSocket[] = [];
  const names = new AddressNames();
  // /proc prints an address as native-endian (little-endian) 32-bit words, each as %08X: one
  // for IPv4, four (s6_addr32) for IPv6. Undo that into network-order bytes.
  const scratch = new Uint8Array(16);
  const words = family === 4 ? 1 : 4;
  const digits = 8 * words;
  const hostAt = (at: number): string => {
    for (let k = 0; k < words; k++) {
      const word = hex(bytes, at + 8 * k, 8);
      if (word < 0) fail(table, line, "a hex address");
      putWord(scratch, 4 * k, word);
    }
    return family === 4 ? names.ipv4(scratch, 0) : names.ipv6(scratch, 0);
  };
  const n = bytes.length;
  let p = bytes.indexOf(NL) + 1; // the first line is the column header
  if (p === 0) return rows;
  let line = 1;
  const decimals = [0, 0, 0]; // uid, timeout, inode
  while (p < n) {
    line++;
    while (bytes[p] === SPACE) p++;
    if (p >= n) break;
    if (bytes[p] === NL) {
      p++;
      continue;
    }
    // "%4d: " (udp "%5d: "): the slot number widens past 9999 rows, so find the colon; from
    // there the columns are fixed up to the timer's expiry:
    // ": LOCAL:PORT REMOTE:PORT ST TX_QUEUE:RX_QUEUE TR:WHEN RETRNSMT UID TIMEOUT INODE ..."
    while (p < n && bytes[p] !== COLON && bytes[p] !== NL) p++;
    const localAt = p + 2;
    const remoteAt = localAt + digits + 6;
    const stateAt = remoteAt + digits + 6;
    if (
      stateAt + 24 > n || bytes[p] !== COLON || bytes[p + 1] !== SPACE ||
      bytes[localAt + digits] !== COLON || bytes[remoteAt - 1] !== SPACE ||
      bytes[remoteAt + digits] !== COLON || bytes[stateAt - 1] !== SPACE ||
      bytes[stateAt + 2] !== SPACE || bytes[stateAt + 11] !== COLON ||
      bytes[stateAt + 20] !== SPACE || bytes[stateAt + 23] !== COLON
    ) {
      fail(table, line, "the fixed columns of a socket row");
    }
    const localPort = hex(bytes, localAt + digits + 1, 4);
    const remotePort = hex(bytes, remoteAt + digits + 1, 4);
    if (localPort < 0 || remotePort < 0) fail(table, line, "hex ports");
    if (filter !== undefined && !filter(localPort, remotePort)) {
      p = stateAt;
      while (p < n && bytes[p] !== NL) p++;
      p++;
      continue;
    }
    const stateCode = hex(bytes, stateAt, 2);
    const txQueue = hex(bytes, stateAt + 3, 8);
    const rxQueue = hex(bytes, stateAt + 12, 8);
    const timerCode = hex(bytes, stateAt + 21, 2);
    if (stateCode < 0 || txQueue < 0 || rxQueue < 0 || timerCode < 0) {
      fail(table, line, "a hex state, queues and timer kind");
    }
    // Variable widths from here: two hex fields, then three decimal ones.
    p = stateAt + 24;
    let d: number;
    let ticks = 0;
    while ((d = HEX[bytes[p]]) >= 0) {
      ticks = ticks * 16 + d;
      p++;
    }
    if (p === stateAt + 24 || bytes[p++] !== SPACE) fail(table, line, "a hex timer expiry");
    const retransmitsAt = p;
    let retransmits = 0;
    while ((d = HEX[bytes[p]]) >= 0) {
      retransmits = retransmits * 16 + d;
      p++;
    }
    if (p === retransmitsAt || bytes[p] !== SPACE) fail(table, line, "a hex retrnsmt");
    for (let k = 0; k < 3; k++) {
      while (bytes[p] === SPACE) p++;
      const start = p;
      let value = 0;
      while (bytes[p] >= 0x30 && bytes[p] <= 0x39) value = value * 10 + bytes[p++] - 0x30;
      if (p === start) fail(table, line, "a decimal uid, timeout and inode");
      decimals[k] = value;
    }
    while (p < n && bytes[p] !== NL) p++;
    p++;
    const state = stateName(transport, stateCode);
    // A state the row type doesn't name (13, BOUND_INACTIVE, if it ever shows) is left out
    // rather than misreported.
    if (state === undefined) continue;
    let remote: Address | null = null; // no peer: LISTEN, UNCONN, or bound and never connected
    if (remotePort !== 0 || !isZeroHex(bytes, remoteAt, digits)) {
      remote = { hostname: hostAt(remoteAt), port: remotePort };
    }
    // For LISTEN, rx_queue is the accept queue and tx_queue is 0: the backlog isn't in /proc;
    // netlink sock_diag reports it (idiag_wqueue).
    const row: KernelSocket = {
      transport,
      family,
      state,
      local: { hostname: hostAt(localAt), port: localPort },
      remote,
      recvQ: rxQueue,
      sendQ: txQueue,
      inode: decimals[2],
      uid: decimals[0],
    };
    if (transport === "tcp") {
      row.info = timerCode === 0 ? { retransmits } : {
        timer: timerName(timerCode),
        timerMs: Math.round(ticks * msPerTick),
        retransmits,
      };
    }
    rows.push(row);
  }
  return rows;
}

function fail(table: ProcNetTable, line: number, what: string): never {
  throw new SyntaxError(`Cannot parse /proc/net/${table} line ${line}: expected ${what}`);
}

/** The value of `count` hex digits at `at`, or -1 if one isn't a hex digit. */
function hex(bytes: Uint8Array, at: number, count: number): number {
  let value = 0;
  for (let k = 0; k < count; k++) {
    const d = HEX[bytes[at + k]];
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

function isZeroHex(bytes: Uint8Array, at: number, count: number): boolean {
  for (let k = 0; k < count; k++) if (bytes[at + k] !== 0x30) return false;
  return true;
}

function putWord(bytes: Uint8Array, offset: number, word: number): void {
  bytes[offset] = word & 0xff;
  bytes[offset + 1] = (word >>> 8) & 0xff;
  bytes[offset + 2] = (word >>> 16) & 0xff;
  bytes[offset + 3] = word >>> 24;
}
