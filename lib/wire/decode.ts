/**
 * Decodes captured Ethernet frames (IPv4/IPv6, TCP/UDP) into one reusable
 * {@linkcode WirePacket}, without allocating: the capture ring hands frames over at up to a
 * few hundred thousand a second. Pure code.
 */

/** TCP flag bits as in the header's 12 bits (NS is 0x100). */
export const TCP_FIN = 0x01,
  TCP_SYN = 0x02,
  TCP_RST = 0x04,
  TCP_PSH = 0x08,
  TCP_ACK = 0x10,
  TCP_URG = 0x20,
  TCP_ECE = 0x40,
  TCP_CWR = 0x80,
  TCP_NS = 0x100;

const FLAG_NAMES: readonly [number, string][] = [
  [TCP_SYN, "SYN"],
  [TCP_FIN, "FIN"],
  [TCP_RST, "RST"],
  [TCP_PSH, "PSH"],
  [TCP_ACK, "ACK"],
  [TCP_URG, "URG"],
  [TCP_ECE, "ECE"],
  [TCP_CWR, "CWR"],
  [TCP_NS, "NS"],
];

/** Names of the flags set in `flags`, SYN/FIN/RST/PSH/ACK first (e.g. `["SYN","ACK"]`). */
export function tcpFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) out.push(name);
  return out;
}

/** The most SACK blocks a TCP header carries (40 option bytes). */
export const MAX_SACK_BLOCKS = 4;

/** One decoded frame; the decoder overwrites it for each frame. */
export class WirePacket {
  /** Kernel timestamp, ms since the epoch (fractional). */
  ts = 0;
  /** Bytes on the wire and bytes captured (the snap length cuts the latter). */
  wireLength = 0;
  capturedLength = 0;
  /** 4 or 6 (0: not IP). */
  family = 0;
  /** Addresses: 4 bytes used for IPv4, 16 for IPv6. */
  readonly src = new Uint8Array(16);
  readonly dst = new Uint8Array(16);
  srcPort = 0;
  dstPort = 0;
  /** 6 (TCP), 17 (UDP) or 0 (neither, or too short to tell). */
  protocol = 0;
  /** Offset in the frame of the transport header and of the payload. */
  transportOffset = 0;
  payloadOffset = 0;
  /** Payload bytes on the wire (from the IP length), whatever was captured. */
  payloadLength = 0;
  /** TCP: raw sequence and acknowledgment numbers, flags, raw window, header length. */
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  headerLength = 0;
  /** TCP options: -1 where absent. */
  mss = -1;
  wscale = -1;
  sackPerm = false;
  /** SACK edges, left then right, `sackBlocks` pairs. */
  readonly sack = new Uint32Array(2 * MAX_SACK_BLOCKS);
  sackBlocks = 0;
  /** Timestamp option: `tsVal`/`tsEcr`, valid when `hasTimestamp`. */
  hasTimestamp = false;
  tsVal = 0;
  tsEcr = 0;
}

/**
 * Decodes the Ethernet frame `frame[offset .. offset+capturedLength)` (of `wireLength` bytes
 * on the wire) into `out`. Returns true for a TCP or UDP packet over IPv4/IPv6 whose headers
 * were captured whole; false otherwise (`out` is then partly overwritten).
 */
export function decodeFrame(
  frame: Uint8Array,
  offset: number,
  capturedLength: number,
  wireLength: number,
  ts: number,
  out: WirePacket,
): boolean {
  out.ts = ts;
  out.wireLength = wireLength;
  out.capturedLength = capturedLength;
  out.family = 0;
  out.protocol = 0;
  const end = offset + capturedLength;
  if (capturedLength < 14) return false;
  let p = offset + 12;
  let etherType = (frame[p] << 8) | frame[p + 1];
  p += 2;
  // One 802.1Q tag, as a physical interface may deliver.
  if (etherType === 0x8100 && p + 4 <= end) {
    etherType = (frame[p + 2] << 8) | frame[p + 3];
    p += 4;
  }
  let ipPayload: number; // bytes after the IP header, from the IP length
  if (etherType === 0x0800) {
    if (p + 20 > end || frame[p] >> 4 !== 4) return false;
    const ihl = (frame[p] & 0x0f) * 4;
    if (ihl < 20 || p + ihl > end) return false;
    const total = (frame[p + 2] << 8) | frame[p + 3];
    // Later fragments have no transport header.
    if ((((frame[p + 6] << 8) | frame[p + 7]) & 0x1fff) !== 0) return false;
    out.family = 4;
    out.protocol = frame[p + 9];
    for (let i = 0; i < 4; i++) {
      out.src[i] = frame[p + 12 + i];
      out.dst[i] = frame[p + 16 + i];
    }
    // A GSO frame on lo may say 0 when bigger than 64 KiB; then trust the wire length.
    ipPayload = total >= ihl ? total - ihl : wireLength - (p - offset) - ihl;
    p += ihl;
  } else if (etherType === 0x86dd) {
    if (p + 40 > end || frame[p] >> 4 !== 6) return false;
    out.family = 6;
    out.protocol = frame[p + 6];
    for (let i = 0; i < 16; i++) {
      out.src[i] = frame[p + 8 + i];
      out.dst[i] = frame[p + 24 + i];
    }
    const payload = (frame[p + 4] << 8) | frame[p + 5];
    ipPayload = payload !== 0 ? payload : wireLength - (p - offset) - 40;
    p += 40;
  } else {
    return false;
  }
  out.transportOffset = p - offset;
  if (out.protocol === 6) {
    if (p + 20 > end) return false;
    out.srcPort = (frame[p] << 8) | frame[p + 1];
    out.dstPort = (frame[p + 2] << 8) | frame[p + 3];
    out.seq = ((frame[p + 4] << 24) | (frame[p + 5] << 16) | (frame[p + 6] << 8) | frame[p + 7]) >>>
      0;
    out.ack =
      ((frame[p + 8] << 24) | (frame[p + 9] << 16) | (frame[p + 10] << 8) | frame[p + 11]) >>> 0;
    const hl = (frame[p + 12] >> 4) * 4;
    out.headerLength = hl;
    out.flags = ((frame[p + 12] & 1) << 8) | frame[p + 13];
    out.window = (frame[p + 14] << 8) | frame[p + 15];
    if (hl < 20 || p + hl > end) return false;
    out.payloadOffset = p + hl - offset;
    out.payloadLength = Math.max(0, ipPayload - hl);
    decodeOptions(frame, p + 20, p + hl, out);
    return true;
  }
  if (out.protocol === 17) {
    if (p + 8 > end) return false;
    out.srcPort = (frame[p] << 8) | frame[p + 1];
    out.dstPort = (frame[p + 2] << 8) | frame[p + 3];
    out.headerLength = 8;
    out.flags = 0;
    out.payloadOffset = p + 8 - offset;
    out.payloadLength = Math.max(0, ((frame[p + 4] << 8) | frame[p + 5]) - 8);
    return true;
  }
  out.protocol = 0;
  return false;
}

function decodeOptions(frame: Uint8Array, p: number, end: number, out: WirePacket): void {
  out.mss = -1;
  out.wscale = -1;
  out.sackPerm = false;
  out.sackBlocks = 0;
  out.hasTimestamp = false;
  while (p < end) {
    const kind = frame[p];
    if (kind === 0) return; // end of options
    if (kind === 1) { // no-op
      p++;
      continue;
    }
    if (p + 1 >= end) return;
    const len = frame[p + 1];
    if (len < 2 || p + len > end) return; // malformed: stop, as Wireshark does
    switch (kind) {
      case 2:
        if (len === 4) out.mss = (frame[p + 2] << 8) | frame[p + 3];
        break;
      case 3:
        // RFC 7323: a shift above 14 is used as 14.
        if (len === 3) out.wscale = Math.min(frame[p + 2], 14);
        break;
      case 4:
        out.sackPerm = true;
        break;
      case 5: {
        const n = Math.min(MAX_SACK_BLOCKS, (len - 2) >> 3);
        for (let i = 0; i < 2 * n; i++) {
          const q = p + 2 + 4 * i;
          out.sack[i] =
            ((frame[q] << 24) | (frame[q + 1] << 16) | (frame[q + 2] << 8) | frame[q + 3]) >>> 0;
        }
        out.sackBlocks = n;
        break;
      }
      case 8:
        if (len === 10) {
          out.hasTimestamp = true;
          out.tsVal = ((frame[p + 2] << 24) | (frame[p + 3] << 16) | (frame[p + 4] << 8) |
            frame[p + 5]) >>> 0;
          out.tsEcr = ((frame[p + 6] << 24) | (frame[p + 7] << 16) | (frame[p + 8] << 8) |
            frame[p + 9]) >>> 0;
        }
        break;
    }
    p += len;
  }
}

/** The printable address of a decoded packet's source or destination (`"127.0.0.1"`, `"::1"`). */
export function formatAddress(family: number, bytes: Uint8Array): string {
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}
