/**
 * pcapng from what the process read and wrote, pure: the blocks (section
 * header, interface description, enhanced packet), IPv4 and IPv6 headers with
 * their checksums, and TCP and UDP packets synthesized around the payloads.
 *
 * The capture holds payloads, not packets: the kernel's own segments never
 * pass through the process. So each connection gets a synthetic handshake,
 * segments whose sequence and acknowledgement numbers advance by exactly the
 * bytes of each direction, and a FIN exchange or RST at close, which is what
 * Wireshark's "Follow TCP stream" needs to show exactly the bytes that crossed.
 * Checksums are real, so Wireshark flags nothing when it checks them.
 */
import type { Address } from "../net/types.ts";

/** Link type of raw IPv4/IPv6 packets, no link-layer header. */
export const LINKTYPE_RAW = 101;
/** Link type of Ethernet frames (what an `AF_PACKET` capture on `lo` gives). */
export const LINKTYPE_ETHERNET = 1;
/** Largest TCP payload in one synthesized segment: 65535 minus the IPv4 and TCP headers. */
export const MAX_TCP_PAYLOAD = 65495;
/** Largest UDP payload over IPv4: 65535 minus the IPv4 and UDP headers. */
export const MAX_UDP_PAYLOAD = 65507;

/** TCP flag bits. */
export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

const SHB = 0x0a0d0d0a;
const IDB = 0x00000001;
const EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
/** Window shift announced in the handshake, so a long one-way transfer never looks window-bound. */
const WINDOW_SHIFT = 14;
const encoder = new TextEncoder();

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** One pcapng option (code, value), or null for none. */
type Option = [code: number, value: Uint8Array];

function optionsLength(options: readonly Option[]): number {
  if (options.length === 0) return 0;
  let n = 4; // opt_endofopt
  for (const [, value] of options) n += 4 + pad4(value.length);
  return n;
}

function writeOptions(view: DataView, bytes: Uint8Array, at: number, options: readonly Option[]) {
  if (options.length === 0) return;
  for (const [code, value] of options) {
    view.setUint16(at, code, true);
    view.setUint16(at + 2, value.length, true);
    bytes.set(value, at + 4);
    at += 4 + pad4(value.length);
  }
  view.setUint32(at, 0, true);
}

/** A block: type, total length, `bodyLength` bytes the caller fills, options, total length again. */
function block(
  type: number,
  bodyLength: number,
  options: readonly Option[],
  fill: (view: DataView, bytes: Uint8Array) => void,
): Uint8Array {
  const total = 12 + pad4(bodyLength) + optionsLength(options);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, total, true);
  fill(view, bytes);
  writeOptions(view, bytes, 8 + pad4(bodyLength), options);
  view.setUint32(total - 4, total, true);
  return bytes;
}

/**
 * The section header block that starts every pcapng file (little-endian, length unknown);
 * `comment` (shown by `capinfos` and Wireshark's capture properties) says what the file is.
 */
export function sectionHeaderBlock(application = "sockscope", comment?: string): Uint8Array {
  const options: Option[] = [[4, encoder.encode(application)]];
  if (comment !== undefined) options.unshift([1, encoder.encode(comment)]);
  return block(SHB, 16, options, (view) => {
    view.setUint32(8, BYTE_ORDER_MAGIC, true);
    view.setUint16(12, 1, true); // major version
    view.setUint16(14, 0, true); // minor version
    view.setBigInt64(16, -1n, true); // section length: not specified
  });
}

/** An interface description block: raw IP unless told, timestamps in microseconds (if_tsresol 6). */
export function interfaceDescriptionBlock(
  name = "sockscope",
  snapLength = 262144,
  linkType = LINKTYPE_RAW,
): Uint8Array {
  return block(IDB, 8, [[2, encoder.encode(name)], [9, Uint8Array.of(6)]], (view) => {
    view.setUint16(8, linkType, true);
    view.setUint32(12, snapLength, true);
  });
}

/**
 * An enhanced packet block on interface 0; `tsUs` is microseconds since the epoch,
 * `originalLength` the length on the wire when a snap length cut the packet.
 */
export function enhancedPacketBlock(
  tsUs: number,
  packet: Uint8Array,
  comment?: string,
  originalLength = packet.length,
): Uint8Array {
  const options: Option[] = comment === undefined ? [] : [[1, encoder.encode(comment)]];
  return block(EPB, 20 + packet.length, options, (view, bytes) => {
    const us = Math.max(0, Math.round(tsUs));
    view.setUint32(8, 0, true); // interface id
    view.setUint32(12, Math.floor(us / 0x1_0000_0000), true);
    view.setUint32(16, us % 0x1_0000_0000, true);
    view.setUint32(20, packet.length, true);
    view.setUint32(24, Math.max(originalLength, packet.length), true);
    bytes.set(packet, 28);
  });
}

/** The Internet checksum (RFC 1071) of `bytes`, continuing from a partial `sum`. */
export function onesComplementSum(bytes: Uint8Array, sum = 0): number {
  const n = bytes.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (bytes[i] << 8) | bytes[i + 1];
  if (bytes.length & 1) sum += bytes[bytes.length - 1] << 8;
  return sum;
}

/** Folds a 32-bit sum into the 16-bit one's complement checksum. */
export function foldChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** Parses an IPv4 or IPv6 literal into 4 or 16 bytes; null when it is not one. */
export function parseIp(host: string): Uint8Array | null {
  const h = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  if (v4 !== null) {
    const parts = v4.slice(1).map(Number);
    return parts.every((p) => p <= 255) ? Uint8Array.from(parts) : null;
  }
  if (!h.includes(":")) return null;
  const zone = h.indexOf("%");
  let text = zone === -1 ? h : h.slice(0, zone);
  const out = new Uint8Array(16);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail !== null) {
    const v4tail = parseIp(tail[1]);
    if (v4tail === null) return null;
    text = text.slice(0, tail.index + 1) +
      `${((v4tail[0] << 8) | v4tail[1]).toString(16)}:${
        ((v4tail[2] << 8) | v4tail[3]).toString(16)
      }`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + rest.length > 7) return null;
  const all = [...head, ...new Array(8 - head.length - rest.length).fill("0"), ...rest];
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return null;
    const g = parseInt(all[i], 16);
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  }
  return out;
}

function toV6(ip: Uint8Array): Uint8Array {
  if (ip.length === 16) return ip;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip, 12);
  return out;
}

/** One direction of a flow: addresses of one family and ports. */
export interface Flow {
  src: Uint8Array;
  dst: Uint8Array;
  srcPort: number;
  dstPort: number;
}

/**
 * The flow from `from` to `to`; an address that is not an IP literal becomes
 * the unspecified address, and mixed families are both written as IPv6.
 */
export function flowOf(from: Address | null | undefined, to: Address | null | undefined): Flow {
  let src = parseIp(from?.hostname ?? "") ?? new Uint8Array(4);
  let dst = parseIp(to?.hostname ?? "") ?? new Uint8Array(4);
  if (src.length !== dst.length) {
    src = toV6(src);
    dst = toV6(dst);
  }
  return { src, dst, srcPort: from?.port ?? 0, dstPort: to?.port ?? 0 };
}

/** The reverse direction of a flow. */
export function reverseFlow(f: Flow): Flow {
  return { src: f.dst, dst: f.src, srcPort: f.dstPort, dstPort: f.srcPort };
}

/** Writes the IP header for `flow` at 0 and returns its length (20 for IPv4, 40 for IPv6). */
function writeIpHeader(
  view: DataView,
  bytes: Uint8Array,
  flow: Flow,
  protocol: number,
  payloadLength: number,
  id: number,
): number {
  if (flow.src.length === 4) {
    view.setUint8(0, 0x45);
    view.setUint16(2, 20 + payloadLength);
    view.setUint16(4, id & 0xffff);
    view.setUint16(6, 0x4000); // don't fragment
    view.setUint8(8, 64);
    view.setUint8(9, protocol);
    bytes.set(flow.src, 12);
    bytes.set(flow.dst, 16);
    view.setUint16(10, foldChecksum(onesComplementSum(bytes.subarray(0, 20))));
    return 20;
  }
  view.setUint32(0, 0x6000_0000);
  view.setUint16(4, payloadLength);
  view.setUint8(6, protocol);
  view.setUint8(7, 64);
  bytes.set(flow.src, 8);
  bytes.set(flow.dst, 24);
  return 40;
}

/** Sum of the TCP/UDP pseudo-header (RFC 793, RFC 8200 section 8.1). */
function pseudoHeaderSum(flow: Flow, protocol: number, length: number): number {
  let sum = onesComplementSum(flow.src) + onesComplementSum(flow.dst);
  sum += protocol + (length & 0xffff) + Math.floor(length / 0x10000);
  return sum;
}

/** One TCP segment's header fields. */
export interface TcpFields {
  seq: number;
  ack: number;
  flags: number;
  /** Announce the window scale (SYN and SYN-ACK). */
  windowScale?: boolean;
}

/** A whole IP packet carrying one TCP segment, checksums filled in. */
export function tcpPacket(
  flow: Flow,
  fields: TcpFields,
  payload: Uint8Array,
  ipId = 0,
): Uint8Array {
  const optLength = fields.windowScale ? 4 : 0;
  const tcpLength = 20 + optLength + payload.length;
  const ipLength = flow.src.length === 4 ? 20 : 40;
  const bytes = new Uint8Array(ipLength + tcpLength);
  const view = new DataView(bytes.buffer);
  const at = writeIpHeader(view, bytes, flow, 6, tcpLength, ipId);
  view.setUint16(at, flow.srcPort);
  view.setUint16(at + 2, flow.dstPort);
  view.setUint32(at + 4, fields.seq >>> 0);
  view.setUint32(at + 8, fields.ack >>> 0);
  view.setUint8(at + 12, ((20 + optLength) / 4) << 4);
  view.setUint8(at + 13, fields.flags);
  // With the scale announced, 65535 << 14 is about 1 GiB: no "window full" in long transfers.
  view.setUint16(at + 14, 65535);
  if (fields.windowScale) {
    bytes.set([1, 3, 3, WINDOW_SHIFT], at + 20); // NOP, window scale
  }
  bytes.set(payload, at + 20 + optLength);
  const sum = onesComplementSum(bytes.subarray(at), pseudoHeaderSum(flow, 6, tcpLength));
  view.setUint16(at + 16, foldChecksum(sum));
  return bytes;
}

/** A whole IP packet carrying one UDP datagram, checksums filled in. */
export function udpPacket(flow: Flow, payload: Uint8Array, ipId = 0): Uint8Array {
  const udpLength = 8 + payload.length;
  const ipLength = flow.src.length === 4 ? 20 : 40;
  const bytes = new Uint8Array(ipLength + udpLength);
  const view = new DataView(bytes.buffer);
  const at = writeIpHeader(view, bytes, flow, 17, udpLength, ipId);
  view.setUint16(at, flow.srcPort);
  view.setUint16(at + 2, flow.dstPort);
  view.setUint16(at + 4, udpLength);
  bytes.set(payload, at + 8);
  const sum = foldChecksum(
    onesComplementSum(bytes.subarray(at), pseudoHeaderSum(flow, 17, udpLength)),
  );
  // 0 means "no checksum" in UDP: a computed 0 is sent as all ones.
  view.setUint16(at + 6, sum === 0 ? 0xffff : sum);
  return bytes;
}

/** A connection or UDP flow as the encoder needs it. */
export interface ConnInfo {
  id: string;
  /** "unix" connections are left out: a raw-IP capture has no frame for a Unix socket. */
  transport: "tcp" | "udp" | "unix";
  local?: Address;
  remote?: Address | null;
  /** Who connected: the peer (`server`, the default) or the process (`client`). */
  role?: "server" | "client";
}

/** 32-bit FNV-1a: initial sequence numbers that are stable for an id. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

interface TcpConv {
  out: Flow;
  in: Flow;
  /** Sequence numbers of each side's first byte, minus 1: seq = isn + 1 + offset - base. */
  isnLocal: number;
  isnRemote: number;
  /** The peer's FIN was sent already (it takes one sequence number). */
  remoteFin?: boolean;
}

/** The section comment of a file {@linkcode PcapngEncoder} makes: what it is not. */
export const SYNTHESIZED_COMMENT =
  "sockscope source=app: packets synthesized from the app's reads and writes (payload bytes " +
  "exact; handshakes, ACKs, windows, options and timing invented). source=wire has the real " +
  "frames where the wire view is on.";

/**
 * Turns capture events into pcapng blocks. One encoder per file or export:
 * it remembers which connections already got a handshake in it, so a
 * connection whose beginning is not in this file still opens with one.
 */
export class PcapngEncoder {
  #convs = new Map<string, TcpConv>();
  #ipId = 0;

  /** The section header and interface description blocks a file starts with. */
  header(): Uint8Array[] {
    return [sectionHeaderBlock("sockscope", SYNTHESIZED_COMMENT), interfaceDescriptionBlock()];
  }

  /** A TCP connection opened: SYN, SYN-ACK, ACK at `ts` (epoch ms). */
  opened(conn: ConnInfo, ts: number, out: Uint8Array[]): void {
    if (conn.transport !== "tcp" || this.#convs.has(conn.id)) return;
    this.#handshake(conn, ts, out);
  }

  /**
   * A read (`in`) or write (`out`) of `bytes` at `ts`; `offIn` and `offOut`
   * are the bytes of each direction before this one (mod 2^32).
   */
  packet(
    conn: ConnInfo,
    dir: "in" | "out",
    bytes: Uint8Array,
    ts: number,
    offIn: number,
    offOut: number,
    out: Uint8Array[],
  ): void {
    if (conn.transport === "unix") return;
    const us = ts * 1000;
    if (conn.transport === "udp") {
      const local = flowOf(conn.local, conn.remote);
      const flow = dir === "out" ? local : reverseFlow(local);
      // A datagram fits one packet (the largest a UDP socket takes is 65507 bytes over IPv4).
      const part = bytes.subarray(0, MAX_UDP_PAYLOAD);
      out.push(enhancedPacketBlock(us, udpPacket(flow, part, this.#nextId())));
      return;
    }
    const c = this.#conv(conn, ts, offIn, offOut, out);
    const fin = c.remoteFin ? 1 : 0;
    let seqBase = dir === "out" ? c.isnLocal + 1 + offOut : c.isnRemote + 1 + offIn;
    const ack = dir === "out" ? c.isnRemote + 1 + offIn + fin : c.isnLocal + 1 + offOut;
    const flow = dir === "out" ? c.out : c.in;
    for (let at = 0; at < bytes.length; at += MAX_TCP_PAYLOAD) {
      const part = bytes.subarray(at, at + MAX_TCP_PAYLOAD);
      const packet = tcpPacket(flow, { seq: seqBase, ack, flags: PSH | ACK }, part, this.#nextId());
      out.push(enhancedPacketBlock(us, packet));
      seqBase += part.length;
    }
  }

  /**
   * The peer half-closed at `ts`: its FIN and our ACK, before anything we write after it
   * (a close-framed answer, seed 004's echo).
   */
  finReceived(conn: ConnInfo, ts: number, offIn: number, offOut: number, out: Uint8Array[]): void {
    if (conn.transport !== "tcp") return;
    const c = this.#conv(conn, ts, offIn, offOut, out);
    if (c.remoteFin) return;
    const us = ts * 1000;
    const localNext = c.isnLocal + 1 + offOut;
    const remoteNext = c.isnRemote + 1 + offIn;
    out.push(
      enhancedPacketBlock(
        us,
        tcpPacket(
          c.in,
          { seq: remoteNext, ack: localNext, flags: FIN | ACK },
          EMPTY,
          this.#nextId(),
        ),
      ),
      enhancedPacketBlock(
        us,
        tcpPacket(
          c.out,
          { seq: localNext, ack: remoteNext + 1, flags: ACK },
          EMPTY,
          this.#nextId(),
        ),
      ),
    );
    c.remoteFin = true;
  }

  /**
   * A TCP connection closed at `ts`: a FIN exchange started by `closer`, or
   * an RST from it when `reset`; after {@linkcode finReceived}, our FIN and its ACK only.
   */
  closed(
    conn: ConnInfo,
    reset: boolean,
    closer: "local" | "remote",
    ts: number,
    offIn: number,
    offOut: number,
    out: Uint8Array[],
  ): void {
    if (conn.transport !== "tcp") return;
    const c = this.#conv(conn, ts, offIn, offOut, out);
    const us = ts * 1000;
    const localNext = c.isnLocal + 1 + offOut;
    const remoteNext = c.isnRemote + 1 + offIn;
    const [xFlow, yFlow, xNext, yNext] = closer === "local"
      ? [c.out, c.in, localNext, remoteNext]
      : [c.in, c.out, remoteNext, localNext];
    const send = (flow: Flow, seq: number, ack: number, flags: number) =>
      out.push(
        enhancedPacketBlock(us, tcpPacket(flow, { seq, ack, flags }, EMPTY, this.#nextId())),
      );
    if (c.remoteFin) {
      // The peer's FIN went out already: ours closes the connection.
      if (reset) {
        send(c.out, localNext, remoteNext + 1, RST | ACK);
      } else {
        send(c.out, localNext, remoteNext + 1, FIN | ACK);
        send(c.in, remoteNext + 1, localNext + 1, ACK);
      }
    } else if (reset) {
      send(xFlow, xNext, yNext, RST | ACK);
    } else {
      send(xFlow, xNext, yNext, FIN | ACK);
      send(yFlow, yNext, xNext + 1, ACK);
      send(yFlow, yNext, xNext + 1, FIN | ACK);
      send(xFlow, xNext + 1, yNext + 1, ACK);
    }
    this.#convs.delete(conn.id);
  }

  #nextId(): number {
    this.#ipId = (this.#ipId + 1) & 0xffff;
    return this.#ipId;
  }

  #conv(conn: ConnInfo, ts: number, offIn: number, offOut: number, out: Uint8Array[]): TcpConv {
    return this.#convs.get(conn.id) ?? this.#handshake(
      conn,
      ts,
      out,
      offIn,
      offOut,
      `sockscope: handshake synthesized; the first ${offIn} bytes in and ${offOut} bytes out ` +
        "(mod 2^32) are not in this capture",
    );
  }

  /**
   * Emits the handshake; `offIn`/`offOut` are the stream offsets the first
   * byte after it has, so a connection whose start is missing begins without
   * a gap at its first kept byte.
   */
  #handshake(
    conn: ConnInfo,
    ts: number,
    out: Uint8Array[],
    offIn = 0,
    offOut = 0,
    comment?: string,
  ): TcpConv {
    const outFlow = flowOf(conn.local, conn.remote);
    const isnLocal = hash32(`${conn.id}/local`);
    const isnRemote = hash32(`${conn.id}/remote`);
    const c: TcpConv = {
      out: outFlow,
      in: reverseFlow(outFlow),
      isnLocal: (isnLocal - offOut) >>> 0,
      isnRemote: (isnRemote - offIn) >>> 0,
    };
    this.#convs.set(conn.id, c);
    // The side that connected sends the SYN: for accepted connections that is the peer.
    const [iFlow, rFlow, iIsn, rIsn] = conn.role === "client"
      ? [c.out, c.in, isnLocal, isnRemote]
      : [c.in, c.out, isnRemote, isnLocal];
    const us = ts * 1000;
    const syn = tcpPacket(iFlow, { seq: iIsn, ack: 0, flags: SYN, windowScale: true }, EMPTY, 0);
    out.push(enhancedPacketBlock(us, syn, comment));
    const synAck = tcpPacket(
      rFlow,
      { seq: rIsn, ack: iIsn + 1, flags: SYN | ACK, windowScale: true },
      EMPTY,
      0,
    );
    out.push(enhancedPacketBlock(us, synAck));
    const ack = tcpPacket(
      iFlow,
      { seq: iIsn + 1, ack: rIsn + 1, flags: ACK },
      EMPTY,
      this.#nextId(),
    );
    out.push(enhancedPacketBlock(us, ack));
    return c;
  }
}

const EMPTY = new Uint8Array(0);
