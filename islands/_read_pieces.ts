/**
 * Turns the framing lab's boundary note of one read ("message 1 complete
 * (10 B, began in an earlier read), message 2 complete (8 B), message 3
 * started (3 of ? B)") back into the pieces the read held, in order, so the
 * labs page can draw where message boundaries fell inside it. Pure.
 */

/** How a piece of a read relates to its message. */
export type PieceShape =
  /** The whole message is in this read. */
  | "whole"
  /** The end of a message that began in an earlier read. */
  | "tail"
  /** The start of a message that a later read continues. */
  | "head"
  /** Neither end: the message began earlier and goes on after this read. */
  | "middle"
  /** Several whole messages, summarised. */
  | "run";

/** One stretch of a read's bytes that belongs to one message (or a run of them). */
export interface ReadPiece {
  /** Message number on the connection (the first of a run). */
  index: number;
  /** The last message of a run; equals `index` otherwise. */
  last: number;
  shape: PieceShape;
  /** Bytes of this read the piece takes. */
  bytes: number;
}

// The phrases of `describeRead` in lib/protocol/framing.ts, in the order it writes them.
const PHRASES = new RegExp(
  [
    String.raw`message (\d+) complete \((\d+) B(, began in an earlier read)?\)`,
    String.raw`messages (\d+)–(\d+) complete \((\d+) messages, (\d+) B\)`,
    String.raw`message (\d+) (started|continues) \((\d+) of (\d+|\?) B\)`,
  ].join("|"),
  "g",
);

/**
 * The pieces of a read of `len` bytes as its note describes them, or null
 * when the note says something else or its numbers do not add up to `len`.
 */
export function readPieces(len: number, note: string): ReadPiece[] | null {
  const pieces: ReadPiece[] = [];
  // At most one piece's size is not in the note (a tail or a middle): the rest of the read.
  let open = -1;
  let known = 0;
  // A tail is less than its whole message: some of it came in an earlier read.
  let most = Infinity;
  for (const m of note.matchAll(PHRASES)) {
    if (m[1] !== undefined) {
      const index = Number(m[1]);
      if (m[3] !== undefined) {
        if (open !== -1) return null;
        open = pieces.length;
        most = Number(m[2]) - 1;
        pieces.push({ index, last: index, shape: "tail", bytes: 0 });
      } else {
        const bytes = Number(m[2]);
        known += bytes;
        pieces.push({ index, last: index, shape: "whole", bytes });
      }
    } else if (m[4] !== undefined) {
      const bytes = Number(m[7]);
      known += bytes;
      pieces.push({ index: Number(m[4]), last: Number(m[5]), shape: "run", bytes });
    } else {
      const index = Number(m[8]);
      const have = Number(m[10]);
      if (m[9] === "started") {
        known += have;
        pieces.push({ index, last: index, shape: "head", bytes: have });
      } else {
        if (open !== -1 || pieces.length > 0) return null;
        open = 0;
        pieces.push({ index, last: index, shape: "middle", bytes: 0 });
      }
    }
  }
  if (pieces.length === 0) return null;
  if (open === -1) return known === len ? pieces : null;
  const rest = len - known;
  if (rest <= 0 || rest > most) return null;
  pieces[open].bytes = rest;
  return pieces;
}
