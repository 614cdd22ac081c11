/**
 * The character generator pattern of RFC 864: 72-character lines of the 95
 * printable ASCII characters, each line starting one character further
 * round the ring, ended by CR LF; the stream repeats every 95 lines. The
 * first line is the RFC's example first line, starting with `!`. Pure.
 *
 * @module
 */

/** Characters per line, before CR LF. */
export const CHARGEN_LINE_CHARS = 72;
/** Bytes per line on the wire, CR LF included. */
export const CHARGEN_LINE_BYTES = CHARGEN_LINE_CHARS + 2;
/** Printable ASCII characters, space to tilde: the ring's size and the pattern's period in lines. */
export const CHARGEN_RING = 95;
/** Bytes in one full period of the pattern. */
export const CHARGEN_CYCLE_BYTES = CHARGEN_RING * CHARGEN_LINE_BYTES;

/** One full period of the pattern (95 lines), from the first line on. */
export function chargenCycle(): Uint8Array {
  const out = new Uint8Array(CHARGEN_CYCLE_BYTES);
  let at = 0;
  for (let line = 0; line < CHARGEN_RING; line++) {
    for (let i = 0; i < CHARGEN_LINE_CHARS; i++) {
      // Ring position 0 is the space; the RFC's example starts its first line at "!".
      out[at++] = 0x20 + (line + 1 + i) % CHARGEN_RING;
    }
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  return out;
}

/**
 * Checks that `bytes` continue the pattern at stream offset `offset`;
 * returns the index of the first byte that differs, or -1.
 */
export function chargenMismatch(bytes: Uint8Array, offset: number, cycle: Uint8Array): number {
  let at = offset % cycle.length;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== cycle[at]) return i;
    at = at + 1 === cycle.length ? 0 : at + 1;
  }
  return -1;
}
