import { deepStrictEqual as assertEquals, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import {
  describeRead,
  encodeMessage,
  FrameDecoder,
  FRAMING_KINDS,
  type FramingKind,
} from "../lib/protocol/framing.ts";
import { readPieces } from "./_read_pieces.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("readPieces() splits a read into the messages its note names", () => {
  assertEquals(readPieces(8, "message 1 complete (4 B), message 2 complete (4 B)"), [
    { index: 1, last: 1, shape: "whole", bytes: 4 },
    { index: 2, last: 2, shape: "whole", bytes: 4 },
  ]);
  // Message 1 was 10 bytes in all; this read held its last 2.
  assertEquals(
    readPieces(
      15,
      "message 1 complete (10 B, began in an earlier read), message 2 complete (10 B), " +
        "message 3 started (3 of ? B)",
    ),
    [
      { index: 1, last: 1, shape: "tail", bytes: 2 },
      { index: 2, last: 2, shape: "whole", bytes: 10 },
      { index: 3, last: 3, shape: "head", bytes: 3 },
    ],
  );
  assertEquals(readPieces(4, "message 1 continues (7 of 10 B)"), [
    { index: 1, last: 1, shape: "middle", bytes: 4 },
  ]);
  assertEquals(
    readPieces(
      15,
      "message 1 complete (2 B), messages 2–4 complete (3 messages, 12 B), message 5 started " +
        "(1 of ? B)",
    ),
    [
      { index: 1, last: 1, shape: "whole", bytes: 2 },
      { index: 2, last: 4, shape: "run", bytes: 12 },
      { index: 5, last: 5, shape: "head", bytes: 1 },
    ],
  );
});

Deno.test("readPieces() gives null for other notes and numbers that do not add up", () => {
  strictEqual(readPieces(10, "echo of messages 1–2"), null);
  strictEqual(readPieces(9, "message 1 complete (4 B), message 2 complete (4 B)"), null);
  strictEqual(readPieces(4, "message 1 complete (4 B, began in an earlier read)"), null);
});

Deno.test("readPieces() accounts for every byte of every read the framing decoders describe", () => {
  const kinds = FRAMING_KINDS.filter((k): k is Exclude<FramingKind, "close"> => k !== "close");
  fc.assert(fc.property(
    fc.constantFrom(...kinds),
    fc.array(fc.stringMatching(/^[a-z ]{0,20}$/), { minLength: 1, maxLength: 8 }),
    fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 20 }),
    (kind, messages, cuts) => {
      const wire = messages.map((m) => encodeMessage(kind, bytes(m)));
      const all = new Uint8Array(wire.reduce((n, w) => n + w.length, 0));
      let at = 0;
      for (const w of wire) all.set(w, (at += w.length) - w.length);
      const d = new FrameDecoder(kind);
      let pos = 0;
      for (let i = 0; pos < all.length; i++) {
        const chunk = all.subarray(pos, pos + cuts[i % cuts.length]);
        pos += chunk.length;
        const pieces = readPieces(chunk.length, describeRead(d.push(chunk)));
        if (pieces === null) throw new Error(`No pieces for a read of ${chunk.length} B`);
        strictEqual(pieces.reduce((n, p) => n + p.bytes, 0), chunk.length);
        for (const p of pieces) strictEqual(p.bytes > 0, true);
      }
    },
  ));
});
