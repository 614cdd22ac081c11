/**
 * Formatting shared by the islands' server render and the browser: the same
 * input gives the same text in both, so hydration finds what it expects.
 * Pure: no DOM, no Deno.
 */
import type { Address } from "./api_types.ts";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Groups an integer's digits with thin spaces: 212992 → "212 992". */
export function fmtInt(n: number): string {
  const s = String(Math.round(n));
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
}

/** A byte count for people: 1536 → "1.5 KiB"; below 1 KiB, exact. */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return "—";
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${Math.round(v)} B`;
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[i]}`;
}

/** A rate in bytes per second. */
export function fmtRate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? "—" : `${fmtBytes(bytesPerSecond)}/s`;
}

/** A duration, compact: 4.2 s, 3m12s, 2h05m, 3d04h. */
export function fmtAge(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}

/** An address as `ss` prints it; IPv6 in brackets, null as `*:*`. */
export function fmtAddr(a: Address | null): string {
  if (a === null) return "*:*";
  const host = a.hostname.startsWith("::ffff:") && a.hostname.includes(".")
    ? a.hostname.slice(7)
    : a.hostname;
  return host.includes(":") ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

/** Wall-clock time with milliseconds, as a capture tool shows it. */
export function fmtTime(ts: number): string {
  const d = new Date(ts);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${
    p(d.getMilliseconds(), 3)
  }`;
}

/** Decodes the packet log's base64 preview. */
export function fromBase64(data: string): Uint8Array {
  const bin = atob(data);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** One line of printable ASCII, every other byte as a middle dot (Wireshark's list view). */
export function asciiLine(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "·";
  return s;
}

// Control characters and the invisible or reordering ones (bidi overrides,
// zero-width) that could make attacker-chosen text lie about what it holds.
// deno-lint-ignore no-control-regex
const UNSAFE = new RegExp(
  "[\\u0000-\\u0008\\u000b-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff]",
  "g",
);

/** Bytes as UTF-8 text for the follow-stream view: newlines and tabs kept, anything invisible as `·`. */
export function streamText(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes).replace(/\r\n/g, "\n")
    .replace(UNSAFE, "·");
}

// C0 controls but tab, newline and carriage return; DEL; the C1 controls (U+0080-U+009F,
// which a terminal in UTF-8 may also obey: U+009B is CSI).
// deno-lint-ignore no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g;

function controlPicture(c: string): string {
  const code = c.charCodeAt(0);
  // U+2400 CONTROL PICTURES: ␀ for NUL … ␛ for ESC … ␟, and ␡ for DEL.
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return "\u2421";
  return `\\x${code.toString(16)}`;
}

/**
 * Text with every control character a terminal could obey made visible: C0 controls as their
 * control pictures (ESC as `␛`, NUL as `␀`), DEL as `␡`, C1 controls as `\x9b`; tab, newline
 * and carriage return are kept. Pages go through this whole, so `curl` of a page whose payload
 * text holds `ESC [ 3 1 m` prints `␛[31m` instead of turning the terminal red.
 */
export function visibleControls(text: string): string {
  return text.replace(CONTROLS, controlPicture);
}

/** Space-separated hex of the first `max` bytes. */
export function hexLine(bytes: Uint8Array, max = 16): string {
  let s = "";
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) s += (i ? " " : "") + bytes[i].toString(16).padStart(2, "0");
  return bytes.length > max ? `${s} …` : s;
}

/** One row of a hex dump: offset, 16 bytes in hex, the same in ASCII. */
export interface HexRow {
  offset: string;
  hex: string;
  ascii: string;
}

/** A classic hex dump (`xxd`, Wireshark's bytes pane), 16 bytes a row. */
export function hexDump(bytes: Uint8Array, start = 0): HexRow[] {
  const rows: HexRow[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    const chunk = bytes.subarray(i, i + 16);
    let hex = "";
    for (let j = 0; j < 16; j++) {
      hex += j < chunk.length ? chunk[j].toString(16).padStart(2, "0") : "  ";
      hex += j === 7 ? "  " : " ";
    }
    rows.push({
      offset: (start + i).toString(16).padStart(8, "0"),
      hex: hex.trimEnd(),
      ascii: asciiLine(chunk),
    });
  }
  return rows;
}

/** The CSS class of a state badge. */
export function stateClass(state: string): string {
  switch (state) {
    case "ESTABLISHED":
      return "st-est";
    case "LISTEN":
    case "UNCONN":
      return "st-listen";
    case "TIME_WAIT":
    case "CLOSE":
    case "CLOSED":
      return "st-tw";
    case "CLOSE_WAIT":
    case "LAST_ACK":
    case "FIN_WAIT1":
    case "FIN_WAIT2":
    case "CLOSING":
      return "st-closing";
    case "SYN_SENT":
    case "SYN_RECV":
    case "NEW_SYN_RECV":
      return "st-syn";
    default:
      return "st-other";
  }
}
