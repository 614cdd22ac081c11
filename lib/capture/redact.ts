/**
 * Keeps a secret (the dashboard's `--token`) out of everything the service
 * records: the packet log, the full-payload capture and what is made from it
 * (pcapng exports, `--capture-dir` files, the follow-stream view), packet
 * notes and trace attributes.
 *
 * Cookies ignore ports, so a browser that holds the dashboard's cookie sends
 * it to every other port of the host, the http-hello lab included. The
 * endpoint still gets every byte as sent (an echo echoes the cookie); only
 * the recorded copy has the secret's bytes replaced by as many `*`, so
 * lengths, offsets and sequence numbers stay right.
 *
 * A secret split across two reads is found too: each source remembers, per
 * direction, how much of the secret's beginning its last chunk ended with
 * (one number, the state of a Knuth-Morris-Pratt matcher), and the next
 * chunk's head is checked against the rest. The part in the earlier chunk was
 * recorded before the rest arrived; it is masked only when it is at least
 * `tailMin` bytes long (by default 8, or half a shorter secret), so at most
 * `tailMin - 1` bytes of the secret's beginning can be recorded, and an
 * innocent chunk is changed only when it ends with that many bytes of it.
 */
import type { PacketDir, PacketSource } from "./packet_log.ts";

/** Options of {@linkcode Redactor}. */
export interface RedactorOptions {
  /** The byte a masked byte becomes. @default 0x2a ("*") */
  mask?: number;
  /**
   * Shortest beginning of the secret that, ending a chunk, is masked in case
   * the next chunk carries the rest. @default min(8, ceil(secret length / 2))
   */
  tailMin?: number;
}

const latin1 = new TextDecoder("latin1");

/** Masks one secret's bytes in the copies the packet log and the capture keep. */
export class Redactor {
  /** The secret's length in bytes. */
  readonly length: number;
  /** Chunks and texts in which (part of) the secret was masked. */
  redacted = 0;
  #secret: Uint8Array;
  #texts: string[];
  #maskChar: string;
  #mask: number;
  #tailMin: number;
  /** Boyer-Moore-Horspool shifts by the byte under the window's last position. */
  #shift: Uint8Array | Uint32Array;
  /** KMP failure function: longest proper border of the secret's first i + 1 bytes. */
  #fail: Uint32Array;
  /** Per source, how much of the secret its last read [0] and write [1] ended with. */
  #carry = new WeakMap<PacketSource, [number, number]>();
  /** Set by #advance. */
  #matchEnd = 0;
  /** Sources with a non-zero carry (approximate: a collected one is not subtracted). */
  #carrying = 0;

  constructor(secret: string, options: RedactorOptions = {}) {
    const bytes = new TextEncoder().encode(secret);
    if (bytes.length === 0) throw new RangeError("Cannot redact an empty secret");
    this.#secret = bytes;
    this.length = bytes.length;
    this.#mask = options.mask ?? 0x2a;
    this.#tailMin = options.tailMin ?? Math.min(8, Math.ceil(bytes.length / 2));
    if (!Number.isInteger(this.#tailMin) || this.#tailMin < 1) {
      throw new RangeError(`Cannot redact: tailMin "${this.#tailMin}" is not a positive integer`);
    }
    // The secret as text, and as the latin1 text an endpoint decodes its bytes to.
    this.#texts = [...new Set([secret, latin1.decode(bytes)])];
    this.#maskChar = String.fromCharCode(this.#mask);
    const n = bytes.length;
    this.#shift = n < 256 ? new Uint8Array(256) : new Uint32Array(256);
    this.#shift.fill(n);
    for (let i = 0; i < n - 1; i++) this.#shift[bytes[i]] = n - 1 - i;
    this.#fail = new Uint32Array(n);
    for (let i = 1, k = 0; i < n; i++) {
      while (k > 0 && bytes[i] !== bytes[k]) k = this.#fail[k - 1];
      if (bytes[i] === bytes[k]) k++;
      this.#fail[i] = k;
    }
  }

  /**
   * `bytes` itself when it holds no part of the secret, else a copy with those
   * bytes masked. `src` and `dir` say which stream the chunk continues.
   */
  bytes(src: PacketSource, dir: PacketDir, bytes: Uint8Array): Uint8Array {
    const secret = this.#secret;
    const len = secret.length;
    const n = bytes.length;
    const d = dir === "in" ? 0 : 1;
    const carry = this.#carrying > 0 ? this.#carry.get(src) : undefined;
    let state = carry === undefined ? 0 : carry[d];
    let out: Uint8Array | null = null;
    // The chunk's first len - 1 bytes: the rest of a secret the previous chunk began.
    const head = n < len - 1 ? n : len - 1;
    if (state > 0 || head === n) {
      this.#matchEnd = 0;
      state = this.#advance(bytes, 0, head, state);
      if (this.#matchEnd > 0) out = this.#masked(out, bytes, 0, this.#matchEnd);
    }
    // Whole secrets inside the chunk.
    if (n >= len) {
      for (let at = this.#find(bytes, 0); at !== -1; at = this.#find(bytes, at + 1)) {
        out = this.#masked(out, bytes, at, at + len);
      }
      // How much of the secret's beginning the chunk ends with: only its last len - 1 bytes
      // can hold it.
      state = this.#advance(bytes, n - (len - 1), n, 0);
    }
    if (state >= this.#tailMin) out = this.#masked(out, bytes, Math.max(0, n - state), n);
    if (state > 0) {
      if (carry === undefined) {
        this.#carry.set(src, d === 0 ? [state, 0] : [0, state]);
        this.#carrying++;
      } else {
        carry[d] = state;
      }
    } else if (carry !== undefined) {
      carry[d] = 0;
      if (carry[1 - d] === 0) {
        this.#carry.delete(src);
        this.#carrying--;
      }
    }
    if (out !== null) this.redacted++;
    return out ?? bytes;
  }

  /**
   * `text` with the secret masked: whole, and cut short at either end (a
   * summary that quotes `"3f2b8e4a-9c1d…"`), down to `tailMin` characters.
   */
  text(text: string): string {
    let out = text;
    for (const secret of this.#texts) {
      const min = Math.min(this.#tailMin, secret.length);
      const first = secret.slice(0, min);
      const last = secret.slice(secret.length - min);
      if (!out.includes(first) && !out.includes(last)) continue;
      const masked = new Uint8Array(out.length);
      for (let at = out.indexOf(first); at !== -1; at = out.indexOf(first, at + 1)) {
        let n = min;
        while (n < secret.length && out[at + n] === secret[n]) n++;
        masked.fill(1, at, at + n);
      }
      for (let at = out.indexOf(last); at !== -1; at = out.indexOf(last, at + 1)) {
        let n = min;
        while (n < secret.length && out[at + min - 1 - n] === secret[secret.length - 1 - n]) n++;
        masked.fill(1, at + min - n, at + min);
      }
      let next = "";
      for (let i = 0; i < out.length; i++) next += masked[i] === 1 ? this.#maskChar : out[i];
      out = next;
    }
    if (out !== text) this.redacted++;
    return out;
  }

  /** Forgets what `src`'s last chunks ended with (it closed). */
  forget(src: PacketSource): void {
    if (this.#carrying > 0 && this.#carry.delete(src)) this.#carrying--;
  }

  /**
   * Runs the KMP matcher over bytes[from, to) from `state`; returns the state
   * after, and leaves in #matchEnd the end of the last whole secret it completed.
   */
  #advance(bytes: Uint8Array, from: number, to: number, state: number): number {
    const secret = this.#secret;
    const fail = this.#fail;
    let s = state;
    for (let i = from; i < to; i++) {
      const b = bytes[i];
      while (s > 0 && b !== secret[s]) s = fail[s - 1];
      if (b === secret[s]) s++;
      if (s === secret.length) {
        this.#matchEnd = i + 1;
        s = fail[s - 1];
      }
    }
    return s;
  }

  /** Where the secret next occurs in `bytes` from `from` on, or -1 (Boyer-Moore-Horspool). */
  #find(bytes: Uint8Array, from: number): number {
    const secret = this.#secret;
    const len = secret.length;
    const last = secret[len - 1];
    const shift = this.#shift;
    const n = bytes.length;
    for (let i = from + len - 1; i < n; i += shift[bytes[i]]) {
      if (bytes[i] !== last) continue;
      let j = len - 2;
      let k = i - 1;
      while (j >= 0 && bytes[k] === secret[j]) {
        j--;
        k--;
      }
      if (j < 0) return i - len + 1;
    }
    return -1;
  }

  /** The copy (made on first use) with bytes [from, to) masked. */
  #masked(out: Uint8Array | null, bytes: Uint8Array, from: number, to: number): Uint8Array {
    const copy = out ?? bytes.slice();
    copy.fill(this.#mask, from, to);
    return copy;
  }
}
