/**
 * The wire view's frames as a pcapng file (Ethernet link type, as captured on `lo`), with the
 * app's reads and writes as packet comments on the nearest captured segment of the same
 * connection and direction. Pure code.
 */
import {
  enhancedPacketBlock,
  interfaceDescriptionBlock,
  LINKTYPE_ETHERNET,
  sectionHeaderBlock,
} from "../capture/pcapng.ts";

/** A captured frame as {@linkcode WireView.frames} gives it. */
export interface ExportFrame {
  ts: number;
  bytes: Uint8Array;
  wireLength: number;
  /** The connection's key (see `tupleKey`). */
  key: string;
}

/** An app event to note: a read or write of one connection at `ts`. */
export interface ExportNote {
  key: string;
  ts: number;
  text: string;
}

/** The section comment of a wire export, naming how the frames were taken. */
export function wireComment(method: "tcx" | "packet" | null): string {
  const how = method === "tcx" ? "eBPF on lo's egress" : "AF_PACKET";
  return `sockscope source=wire: frames captured from the kernel (${how}), cut to the snap ` +
    "length; comments are the app's reads and writes";
}

/**
 * The pcapng blocks of `frames` (capture order) with each note attached to the frame of its
 * connection nearest in time (notes of connections without frames are left out).
 */
export function wirePcapng(
  frames: readonly ExportFrame[],
  notes: readonly ExportNote[],
  options: { interface: string; snaplen: number; method?: "tcx" | "packet" | null },
): Uint8Array[] {
  const comments = new Map<number, string[]>();
  const byKey = new Map<string, number[]>();
  frames.forEach((f, i) => {
    let list = byKey.get(f.key);
    if (list === undefined) byKey.set(f.key, list = []);
    list.push(i);
  });
  for (const note of notes) {
    const list = byKey.get(note.key);
    if (list === undefined) continue;
    // Binary search for the first frame at or after the note; the nearer of it and the one before.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (frames[list[mid]].ts < note.ts) lo = mid + 1;
      else hi = mid;
    }
    let at = lo;
    if (
      at === list.length ||
      (at > 0 && note.ts - frames[list[at - 1]].ts <= frames[list[at]].ts - note.ts)
    ) {
      at--;
    }
    const index = list[at];
    let c = comments.get(index);
    if (c === undefined) comments.set(index, c = []);
    c.push(note.text);
  }
  const out = [
    sectionHeaderBlock("sockscope", wireComment(options.method ?? null)),
    interfaceDescriptionBlock(options.interface || "any", options.snaplen, LINKTYPE_ETHERNET),
  ];
  frames.forEach((f, i) => {
    out.push(enhancedPacketBlock(f.ts * 1000, f.bytes, comments.get(i)?.join("; "), f.wireLength));
  });
  return out;
}
