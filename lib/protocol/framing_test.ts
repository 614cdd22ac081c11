import assert from "node:assert/strict";
import fc from "fast-check";
import { concat } from "../bytes.ts";
import {
  describeRead,
  encodeMessage,
  FrameDecoder,
  FrameDecoderStream,
  FRAMING_KINDS,
  type FramingKind,
  type FramingOptions,
  parseFramingBytes,
  showBytes,
} from "./framing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const text = (b: Uint8Array) => decoder.decode(b);

/** Feeds `wire` to a decoder cut into pieces of `size` bytes, then ends it; returns the payloads. */
function decodeIn(
  kind: FramingKind,
  wire: Uint8Array,
  size: number,
  options: FramingOptions = {},
): string[] {
  const d = new FrameDecoder(kind, options);
  const out: string[] = [];
  for (let i = 0; i < wire.length; i += size) {
    const r = d.push(wire.subarray(i, i + size));
    assert.equal(r.error, null, r.error?.message);
    for (const m of r.messages) out.push(text(m.payload));
  }
  const end = d.end();
  assert.equal(end.error, null, end.error?.message);
  for (const m of end.messages) out.push(text(m.payload));
  return out;
}

Deno.test("encodeMessage() frames a message each of the four ways, by seed 002's defaults", () => {
  // The seed's own bytes: b'Hello, world!#################' and b'Hello, world!#*#'.
  assert.equal(
    text(encodeMessage("fixed", bytes("Hello, world!"))),
    "Hello, world!" + "#".repeat(17),
  );
  assert.equal(text(encodeMessage("delimited", bytes("Hello, world!"))), "Hello, world!#*#");
  assert.equal(text(encodeMessage("prefixed", bytes("Hello, world"))), "00012Hello, world");
  assert.equal(text(encodeMessage("close", bytes("hello"))), "hello");
});

Deno.test("encodeMessage() refuses what the framing cannot carry", () => {
  assert.throws(() => encodeMessage("fixed", new Uint8Array(31)), {
    name: "RangeError",
    message: "Cannot encode message: 31 bytes do not fit a 30-byte record",
  });
  assert.throws(() => encodeMessage("delimited", bytes("a#*#b")), {
    name: "RangeError",
    message: 'Cannot encode message: it contains the delimiter "#*#"',
  });
  // Ending in the delimiter's start would end the message early too: "a#*" + "#*#".
  assert.throws(() => encodeMessage("delimited", bytes("a#*")), {
    name: "RangeError",
    message: 'Cannot encode message: it contains the delimiter "#*#"',
  });
  assert.equal(text(encodeMessage("delimited", bytes("a#"))), "a##*#");
  assert.throws(() => encodeMessage("delimited", bytes("a\nb"), { delimiter: "\n" }), {
    name: "RangeError",
    message: 'Cannot encode message: it contains the delimiter "\\n"',
  });
  assert.throws(() => encodeMessage("prefixed", new Uint8Array(100_000)), {
    name: "RangeError",
    message: /100000 bytes do not fit a 5-digit prefix/,
  });
});

for (const kind of FRAMING_KINDS) {
  const messages = kind === "close" ? ["one message, ended by the close"] : ["hello", "", "wörld"];
  const wire = concat(messages.map((m) => encodeMessage(kind, bytes(m))));

  Deno.test(`FrameDecoder("${kind}") decodes one byte at a time`, () => {
    assert.deepEqual(decodeIn(kind, wire, 1), messages);
  });

  Deno.test(`FrameDecoder("${kind}") decodes many messages in one chunk`, () => {
    assert.deepEqual(decodeIn(kind, wire, wire.length), messages);
  });
}

Deno.test("FrameDecoder() reports boundaries split across reads and merged into one", () => {
  const d = new FrameDecoder("prefixed");
  const wire = bytes("00005hello00003abc00007abcdefg");
  let r = d.push(wire.subarray(0, 3));
  assert.equal(describeRead(r), "message 1 started (3 of ? B)");
  r = d.push(wire.subarray(3, 7));
  assert.equal(describeRead(r), "message 1 continues (7 of 10 B)");
  r = d.push(wire.subarray(7, 21));
  assert.equal(
    describeRead(r),
    "message 1 complete (10 B, began in an earlier read), message 2 complete (8 B), " +
      "message 3 started (3 of ? B)",
  );
  assert.deepEqual(r.messages.map((m) => text(m.payload)), ["hello", "abc"]);
  r = d.push(wire.subarray(21));
  assert.equal(describeRead(r), "message 3 complete (12 B, began in an earlier read)");
  assert.equal(d.buffered, 0);
});

Deno.test("describeRead() summarizes a run of many messages in one read", () => {
  const d = new FrameDecoder("delimited", { delimiter: "\n" });
  const r = d.push(bytes("a\nbb\nccc\ndddd\ne"));
  assert.equal(
    describeRead(r),
    "message 1 complete (2 B), messages 2–4 complete (3 messages, 12 B), " +
      "message 5 started (1 of ? B)",
  );
});

Deno.test("FrameDecoder('fixed') strips the padding and knows each record's size", () => {
  const d = new FrameDecoder("fixed");
  const r = d.push(bytes("hi".padEnd(30, "#") + "there"));
  assert.deepEqual(r.messages.map((m) => text(m.payload)), ["hi"]);
  assert.deepEqual(r.partial, { index: 2, have: 5, total: 30, startedNow: true });
  assert.equal(d.buffered, 5);
});

Deno.test("FrameDecoder() ends a message in progress as truncated", () => {
  const d = new FrameDecoder("delimited");
  d.push(bytes("no delim##*"));
  const r = d.end();
  assert.equal(r.error?.kind, "truncated");
  assert.equal(r.error?.message, "Cannot frame message 1: the stream ended after 11 of ? bytes");
});

Deno.test("FrameDecoder('prefixed') rejects a prefix that is not digits", () => {
  const d = new FrameDecoder("prefixed");
  const r = d.push(bytes("12ab5hello"));
  assert.equal(r.error?.kind, "prefix");
  assert.equal(
    r.error?.message,
    'Cannot parse length prefix of message 1: "12ab5" is not 5 ASCII digits',
  );
  assert.equal(d.push(bytes("00001x")).error, r.error, "the decoder stays dead");
});

Deno.test("FrameDecoder() bounds delimited, prefixed and close-delimited messages", () => {
  const delimited = new FrameDecoder("delimited", { maxMessage: 8 });
  assert.equal(delimited.push(bytes("12345678")).error, null);
  assert.match(delimited.push(bytes("9")).error!.message, /no delimiter within 8 bytes/);
  const prefixed = new FrameDecoder("prefixed", { maxMessage: 8 });
  assert.match(prefixed.push(bytes("00009")).error!.message, /length "9" exceeds the limit of 8/);
  const close = new FrameDecoder("close", { maxMessage: 8 });
  assert.match(close.push(bytes("123456789")).error!.message, /more than 8 bytes before the close/);
});

Deno.test("FrameDecoder('close') makes one message of everything up to the end", () => {
  const d = new FrameDecoder("close");
  d.push(bytes("hel"));
  d.push(bytes("lo"));
  const r = d.end();
  assert.deepEqual(r.messages.map((m) => [text(m.payload), m.wireLength, m.startedEarlier]), [
    ["hello", 5, true],
  ]);
});

Deno.test("FrameDecoder() keeps copies, so the caller may reuse its read buffer", () => {
  const d = new FrameDecoder("delimited");
  const buf = bytes("abc#");
  d.push(buf);
  buf.fill(0x7a);
  const r = d.push(bytes("*#"));
  assert.equal(text(r.messages[0].payload), "abc");
});

Deno.test("FrameDecoderStream pipes a stream of reads into messages", async () => {
  const wire = bytes("00002hi00005there");
  const chunks = Array.from(wire, (_, i) => wire.subarray(i, i + 1));
  const out = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new FrameDecoderStream("prefixed")),
  );
  assert.deepEqual(out.map(text), ["hi", "there"]);
});

Deno.test("FrameDecoderStream errors on a truncated message", async () => {
  const stream = ReadableStream.from([bytes("half a rec")]).pipeThrough(
    new FrameDecoderStream("fixed"),
  );
  await assert.rejects(Array.fromAsync(stream), {
    name: "SyntaxError",
    message: "Cannot frame message 1: the stream ended after 10 of 30 bytes",
  });
});

Deno.test("FrameDecoder() decodes any split of any messages the same way", () => {
  const kinds: FramingKind[] = ["fixed", "delimited", "prefixed"];
  fc.assert(
    fc.property(
      fc.constantFrom(...kinds),
      fc.array(fc.string({ maxLength: 20 }), { maxLength: 8 }),
      fc.integer({ min: 1, max: 50 }),
      (kind, messages, size) => {
        // Fixed records lose trailing padding and delimited messages may not hold a newline.
        const clean = messages.map((m) =>
          kind === "fixed" ? m.replaceAll("#", "_").slice(0, 8) : m.replaceAll("#", "_")
        );
        const wire = concat(clean.map((m) => encodeMessage(kind, bytes(m))));
        assert.deepEqual(decodeIn(kind, wire, size), clean);
      },
    ),
  );
});

Deno.test("FrameDecoder() reads seed 002's own messages: 30 bytes padded with #, and #*#", () => {
  const fixed = new FrameDecoder("fixed").push(bytes("Hello, world!#################"));
  assert.deepEqual(fixed.messages.map((m) => [text(m.payload), m.wireLength]), [
    ["Hello, world!", 30],
  ]);
  const delimited = new FrameDecoder("delimited").push(bytes("Hello, world!#*#"));
  assert.deepEqual(delimited.messages.map((m) => [text(m.payload), m.wireLength]), [
    ["Hello, world!", 16],
  ]);
});

Deno.test("FrameDecoder('delimited') finds a multi-byte delimiter split at every offset", () => {
  // Payloads that hold the delimiter's pieces, so false starts are tried at every cut.
  const messages = ["Hello, world!", "#", "a#", "*#", "", "#**", "x##*y"];
  const wire = bytes(messages.map((m) => m + "#*#").join(""));
  for (let cut = 0; cut <= wire.length; cut++) {
    const d = new FrameDecoder("delimited");
    const out = [...d.push(wire.subarray(0, cut)).messages, ...d.push(wire.subarray(cut)).messages];
    assert.deepEqual(out.map((m) => text(m.payload)), messages, `cut at ${cut}`);
    assert.equal(d.buffered, 0);
  }
  assert.deepEqual(decodeIn("delimited", wire, 1), messages);
});

Deno.test("FrameDecoder('delimited') counts the delimiter in each message's wire bytes", () => {
  const d = new FrameDecoder("delimited");
  let r = d.push(bytes("ab#"));
  assert.equal(describeRead(r), "message 1 started (3 of ? B)");
  r = d.push(bytes("*#cd#*#e"));
  assert.equal(
    describeRead(r),
    "message 1 complete (5 B, began in an earlier read), message 2 complete (5 B), " +
      "message 3 started (1 of ? B)",
  );
});

Deno.test("FrameDecoder('delimited') bounds the payload, not the delimiter's start", () => {
  const d = new FrameDecoder("delimited", { maxMessage: 8 });
  // 8 bytes of payload and the first two of "#*#": it may still end in time.
  assert.equal(d.push(bytes("12345678#*")).error, null);
  assert.deepEqual(d.push(bytes("#")).messages.map((m) => text(m.payload)), ["12345678"]);
  const over = new FrameDecoder("delimited", { maxMessage: 8 });
  assert.equal(
    over.push(bytes("123456789")).error?.message,
    "Cannot frame message 1: no delimiter within 8 bytes",
  );
});

Deno.test("FrameDecoder() takes other sizes, pads and delimiters as options", () => {
  const wire = bytes("hi".padEnd(32, " ") + "yo".padEnd(32, " "));
  assert.deepEqual(decodeIn("fixed", wire, 7, { recordSize: 32, pad: 0x20 }), ["hi", "yo"]);
  assert.deepEqual(decodeIn("delimited", bytes("one\ntwo\n"), 3, { delimiter: "\n" }), [
    "one",
    "two",
  ]);
  const crlf = { delimiter: new Uint8Array([0x0d, 0x0a]) };
  assert.deepEqual(decodeIn("delimited", bytes("a\rb\r\nc\r\n"), 1, crlf), ["a\rb", "c"]);
  assert.throws(() => new FrameDecoder("delimited", { delimiter: "" }), {
    name: "RangeError",
    message: "Invalid delimiter: 0 bytes is not in 1..64",
  });
  assert.throws(() => new FrameDecoder("fixed", { pad: 256 }), {
    name: "RangeError",
    message: 'Invalid pad: "256" is not an integer in 0..255',
  });
});

Deno.test("parseFramingBytes() reads escapes typed on a command line; showBytes() writes them", () => {
  assert.deepEqual(parseFramingBytes("#*#"), bytes("#*#"));
  assert.deepEqual(parseFramingBytes("\\n"), new Uint8Array([0x0a]));
  assert.deepEqual(parseFramingBytes("\\r\\n"), new Uint8Array([0x0d, 0x0a]));
  assert.deepEqual(parseFramingBytes("a\\tb\\0\\\\\\x7f"), bytes("a\tb\0\\\x7f"));
  assert.deepEqual(parseFramingBytes("é"), bytes("é"));
  assert.throws(() => parseFramingBytes("a\\q"), {
    name: "SyntaxError",
    message: 'Cannot parse framing bytes: "a\\\\q" has an unknown escape at 1',
  });
  assert.throws(() => parseFramingBytes("\\x4"), { name: "SyntaxError" });
  assert.equal(showBytes(bytes('#*#\n\r\t\\"\x00')), '"#*#\\n\\r\\t\\\\\\"\\x00"');
});

Deno.test("FrameDecoder('delimited') decodes any split of messages around #*# the same way", () => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[a#*]{0,8}$/), { maxLength: 6 }),
      fc.integer({ min: 1, max: 12 }),
      (messages, size) => {
        // Only messages the framing can carry: no "#*#" inside, none ending in its start.
        const ok = messages.filter((m) => {
          try {
            encodeMessage("delimited", bytes(m));
            return true;
          } catch {
            return false;
          }
        });
        const wire = concat(ok.map((m) => encodeMessage("delimited", bytes(m))));
        assert.deepEqual(decodeIn("delimited", wire, size), ok);
      },
    ),
  );
});
