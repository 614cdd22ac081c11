/**
 * Seed 004's hand-built Ethernet frames: the frame the tutorial sends through a raw
 * `AF_PACKET` socket (destination and source `01:02:03:04:05:06`, EtherType `0x0801`, a
 * bracketed `PAYLOAD`, four bytes it calls a checksum), built and decoded here. Pure: no Deno
 * APIs.
 *
 * The four trailing bytes are not a frame check sequence: the NIC computes the real FCS (a
 * CRC-32 over the frame) as it transmits and strips it as it receives, so a packet socket
 * never sees one, and `lo` has none at all. On the wire the seed's "checksum" is four more
 * payload bytes, and the decoder shows them as such.
 *
 * @module
 */

/** The seed's destination and source address. */
export const SEED_MAC = "01:02:03:04:05:06";
/** The seed's EtherType: 0x0801, which no protocol of the kernel claims. */
export const SEED_ETHERTYPE = 0x0801;
/** The seed's payload: 30 `[`, `PAYLOAD`, 30 `]`. */
export const SEED_PAYLOAD = "[".repeat(30) + "PAYLOAD" + "]".repeat(30);
/** The seed's four "checksum" bytes, appended after the payload as the seed does. */
export const SEED_TRAILER: readonly number[] = [0x1a, 0x2b, 0x3c, 0x4d];
/** Bytes of an Ethernet II header: destination, source, EtherType. */
export const ETHERNET_HEADER_BYTES = 14;

/** The parts of a frame {@linkcode buildFrame} puts together. */
export interface FrameParts {
  /** Destination address. @default "01:02:03:04:05:06" */
  dst?: string;
  /** Source address. @default "01:02:03:04:05:06" */
  src?: string;
  /** EtherType (from 0x0600: smaller values are 802.3 lengths). @default 0x0801 */
  etherType?: number;
  /** Payload text, sent as UTF-8. @default the seed's bracketed PAYLOAD */
  payload?: string;
  /** Bytes after the payload (the seed's "checksum"). @default [0x1a, 0x2b, 0x3c, 0x4d] */
  trailer?: readonly number[];
}

/** Largest frame built: a standard MTU's payload with its header, no FCS. */
export const MAX_FRAME_BYTES = 1514;

/**
 * Parses `aa:bb:cc:dd:ee:ff` (or with `-`) into six bytes. Throws RangeError on anything else.
 */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new RangeError(`Cannot parse MAC address: "${text}" is not six hex bytes`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** Formats six bytes as `01:02:03:04:05:06`. */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** Formats an EtherType as `0x0801`. */
export function formatEtherType(type: number): string {
  return `0x${type.toString(16).padStart(4, "0")}`;
}

/**
 * Parses an EtherType: `0x0801`, `0801` (hex, as Wireshark writes it) or a decimal with `#`
 * (`#2049`); throws RangeError outside 0x0600-0xffff (below it the field is an 802.3 length).
 */
export function parseEtherType(text: string): number {
  const trimmed = text.trim();
  const value = trimmed.startsWith("#")
    ? Number(trimmed.slice(1))
    : /^(0x)?[0-9a-fA-F]{1,4}$/.test(trimmed)
    ? parseInt(trimmed.replace(/^0x/, ""), 16)
    : NaN;
  if (!Number.isInteger(value) || value < 0x0600 || value > 0xffff) {
    throw new RangeError(
      `Cannot parse EtherType: "${text}" is not in 0x0600-0xffff (below is an 802.3 length)`,
    );
  }
  return value;
}

/**
 * Puts a frame together as the seed does: destination + source + EtherType + payload +
 * trailer. Throws RangeError on a bad address or EtherType, or a frame over 1514 bytes.
 */
export function buildFrame(parts: FrameParts = {}): Uint8Array {
  const dst = parseMac(parts.dst ?? SEED_MAC);
  const src = parseMac(parts.src ?? SEED_MAC);
  const type = parts.etherType ?? SEED_ETHERTYPE;
  if (!Number.isInteger(type) || type < 0x0600 || type > 0xffff) {
    throw new RangeError(`Cannot build frame: EtherType "${type}" is not in 0x0600-0xffff`);
  }
  const payload = new TextEncoder().encode(parts.payload ?? SEED_PAYLOAD);
  const trailer = Uint8Array.from(parts.trailer ?? SEED_TRAILER);
  const length = ETHERNET_HEADER_BYTES + payload.length + trailer.length;
  if (length > MAX_FRAME_BYTES) {
    throw new RangeError(`Cannot build frame: ${length} bytes is over ${MAX_FRAME_BYTES}`);
  }
  const frame = new Uint8Array(length);
  frame.set(dst, 0);
  frame.set(src, 6);
  frame[12] = type >> 8;
  frame[13] = type & 0xff;
  frame.set(payload, ETHERNET_HEADER_BYTES);
  frame.set(trailer, ETHERNET_HEADER_BYTES + payload.length);
  return frame;
}

/** A received frame decoded, as the raw lab's packet-log entries carry it in `decoded`. */
export interface EthernetNote {
  kind: "ethernet";
  /** One line: `01:02:03:04:05:06 → 01:02:03:04:05:06 type 0x0801, 71 payload bytes`. */
  summary: string;
  dst: string;
  src: string;
  /** `0x0801`. */
  ethertype: string;
  /** Every byte after the header, printable ASCII as is, others as `\xNN`. */
  payload: string;
  /** Payload bytes (captured; the frame's own may be longer when cut). */
  payloadLength: number;
}

/** `\xNN` for bytes outside printable ASCII (and for `\`), so a payload reads as the seed wrote it. */
export function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    out += b >= 0x20 && b < 0x7f && b !== 0x5c
      ? String.fromCharCode(b)
      : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** Decodes an Ethernet II frame's header and payload; null when shorter than a header. */
export function decodeEthernet(frame: Uint8Array): EthernetNote | null {
  if (frame.length < ETHERNET_HEADER_BYTES) return null;
  const dst = formatMac(frame.subarray(0, 6));
  const src = formatMac(frame.subarray(6, 12));
  const ethertype = formatEtherType((frame[12] << 8) | frame[13]);
  const body = frame.subarray(ETHERNET_HEADER_BYTES);
  return {
    kind: "ethernet",
    summary: `${src} → ${dst} type ${ethertype}, ${body.length} payload bytes`,
    dst,
    src,
    ethertype,
    payload: escapeBytes(body),
    payloadLength: body.length,
  };
}
