import assert from "node:assert/strict";
import fc from "fast-check";
import { concat } from "../bytes.ts";
import {
  answerRequest,
  type AppAnswer,
  type AppFrame,
  AppFrameDecoder,
  AppFrameDecoderStream,
  type AppHeaderInit,
  decodeJsonContent,
  encodeErrorFrame,
  encodeFrame,
  encodeJsonMessage,
  encodeRequest,
  errorAnswer,
  summarizeAnswer,
  summarizeFrame,
} from "./app_codec.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes from a Python bytes repr typed as a JS string: each char is one byte. */
function pyBytes(repr: string): Uint8Array {
  return Uint8Array.from(repr, (char) => {
    const code = char.charCodeAt(0);
    if (code > 0xff) throw new RangeError(`Not a byte: "${char}"`);
    return code;
  });
}

/** A frame with a hand-written header text, for malformed and unusual headers. */
function rawFrame(headerText: string | Uint8Array, content = new Uint8Array(0)): Uint8Array {
  const header = typeof headerText === "string" ? encoder.encode(headerText) : headerText;
  return concat([new Uint8Array([header.length >> 8, header.length & 0xff]), header, content]);
}

function decodeAll(chunks: Iterable<Uint8Array>): { frames: AppFrame[]; decoder: AppFrameDecoder } {
  const appDecoder = new AppFrameDecoder();
  const frames: AppFrame[] = [];
  for (const chunk of chunks) {
    const result = appDecoder.push(chunk);
    assert.equal(result.error, null, result.error?.message);
    frames.push(...result.frames);
  }
  return { frames, decoder: appDecoder };
}

function oneFrame(bytes: Uint8Array): AppFrame {
  const { frames } = decodeAll([bytes]);
  assert.equal(frames.length, 1);
  return frames[0];
}

function errorOf(bytes: Uint8Array, options = {}) {
  const result = new AppFrameDecoder(options).push(bytes);
  assert.equal(result.frames.length, 0);
  assert.ok(result.error !== null, "expected an error");
  return result.error;
}

function byteChunks(bytes: Uint8Array): Uint8Array[] {
  return Array.from(bytes, (byte) => new Uint8Array([byte]));
}

function answerText(answer: AppAnswer): string {
  return decoder.decode(answer.content);
}

// The wire examples from the tutorial (seed 003), as Python printed them.
const MORPHEUS_REQUEST = pyBytes(
  '\x00d{"byteorder": "big", "content-type": "text/json", "content-encoding": "utf-8", ' +
    '"content-length": 41}{"action": "search", "value": "morpheus"}',
);
const PUPPY_REQUEST = pyBytes(
  '\x00d{"byteorder": "big", "content-type": "text/json", "content-encoding": "utf-8", ' +
    '"content-length": 37}{"action": "search", "value": "\xf0\x9f\x90\xb6"}',
);
const BINARY_REQUEST = pyBytes(
  '\x00|{"byteorder": "big", "content-type": "binary/custom-client-binary-type", ' +
    '"content-encoding": "binary", "content-length": 10}binary\xf0\x9f\x98\x83',
);
const MORPHEUS_RESPONSE = pyBytes(
  '\x00g{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", ' +
    '"content-length": 43}{"result": "Follow the white rabbit. \xf0\x9f\x90\xb0"}',
);
const PUPPY_RESPONSE = pyBytes(
  '\x00g{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", ' +
    '"content-length": 37}{"result": "\xf0\x9f\x90\xbe Playing ball! \xf0\x9f\x8f\x90"}',
);
const BINARY_RESPONSE = pyBytes(
  '\x00\x7f{"byteorder": "little", "content-type": "binary/custom-server-binary-type", ' +
    '"content-encoding": "binary", "content-length": 37}First 10 bytes of request: ' +
    "binary\xf0\x9f\x98\x83",
);

Deno.test("encodeRequest() sends search requests byte for byte like the tutorial's client", () => {
  assert.deepEqual(encodeRequest("search", "morpheus", { byteorder: "big" }), MORPHEUS_REQUEST);
  assert.deepEqual(encodeRequest("search", "🐶", { byteorder: "big" }), PUPPY_REQUEST);
});

Deno.test("encodeRequest() sends other actions as binary action + value", () => {
  assert.deepEqual(encodeRequest("binary", "😃", { byteorder: "big" }), BINARY_REQUEST);
});

Deno.test("encodeRequest() defaults byteorder to little", () => {
  const frame = oneFrame(encodeRequest("search", "ring"));
  assert.equal(frame.header.byteorder, "little");
});

Deno.test("answerRequest() answers the tutorial's requests byte for byte", () => {
  assert.deepEqual(answerRequest(oneFrame(MORPHEUS_REQUEST)).bytes, MORPHEUS_RESPONSE);
  assert.deepEqual(answerRequest(oneFrame(PUPPY_REQUEST)).bytes, PUPPY_RESPONSE);
  assert.deepEqual(answerRequest(oneFrame(BINARY_REQUEST)).bytes, BINARY_RESPONSE);
});

Deno.test("answerRequest() looks up the search table", () => {
  const cases: [string, string][] = [
    ["morpheus", "Follow the white rabbit. 🐰"],
    ["ring", "In the caves beneath the Misty Mountains. 💍"],
    ["🐶", "🐾 Playing ball! 🏐"],
    ["needle", 'No match for "needle".'],
    ["", 'No match for "".'],
    ["constructor", 'No match for "constructor".'],
  ];
  for (const [value, expected] of cases) {
    const answer = answerRequest(oneFrame(encodeRequest("search", value)));
    assert.equal(answer.type, "result");
    assert.equal(answer.type === "result" && answer.result, expected);
    assert.deepEqual(JSON.parse(answerText(answer)), { result: expected });
    assert.equal(answer.header["content-type"], "text/json");
    assert.equal(answer.header["content-encoding"], "utf-8");
    assert.equal(answer.header["content-length"], answer.content.length);
  }
});

Deno.test("answerRequest() reports an invalid action", () => {
  const answer = answerRequest(oneFrame(encodeJsonMessage({ action: "find", value: "x" })));
  assert.equal(answer.type, "result");
  assert.deepEqual(JSON.parse(answerText(answer)), { result: 'Error: invalid action "find".' });
});

Deno.test("answerRequest() stringifies non-string search values", () => {
  const answer = answerRequest(oneFrame(encodeJsonMessage({ action: "search", value: 5 })));
  assert.deepEqual(JSON.parse(answerText(answer)), { result: 'No match for "5".' });
});

Deno.test("answerRequest() accepts compact JSON and the utf8 spelling", () => {
  const content = encoder.encode('{"value":"ring","action":"search"}');
  const bytes = rawFrame(
    `{"content-length":${content.length},"content-encoding":"UTF8","content-type":"text/json",` +
      `"byteorder":"big"}`,
    content,
  );
  const answer = answerRequest(oneFrame(bytes));
  assert.equal(
    answer.type === "result" && answer.result,
    "In the caves beneath the Misty Mountains. 💍",
  );
});

Deno.test("answerRequest() answers binary requests with their first 10 bytes", () => {
  const long = answerRequest(oneFrame(encodeRequest("binary", "😃 and more")));
  assert.equal(long.type, "binary");
  assert.equal(answerText(long), "First 10 bytes of request: binary😃");
  assert.equal(long.header["content-type"], "binary/custom-server-binary-type");
  assert.equal(long.header["content-encoding"], "binary");

  const raw = new Uint8Array([0, 0xff, 0xfe]);
  const short = answerRequest(
    oneFrame(
      encodeFrame(
        { "content-type": "application/octet-stream", "content-encoding": "binary" },
        raw,
      ),
    ),
  );
  assert.deepEqual(short.content, concat([encoder.encode("First 10 bytes of request: "), raw]));
});

Deno.test("answerRequest() rejects malformed JSON content with an error frame", () => {
  const json = (content: string | Uint8Array, encoding = "utf-8") =>
    oneFrame(encodeFrame(
      { "content-type": "text/json", "content-encoding": encoding },
      typeof content === "string" ? encoder.encode(content) : content,
    ));
  const cases: [AppFrame, string, string][] = [
    [
      json("{}", "latin-1"),
      "content-encoding",
      'Cannot decode content: "latin-1" is not a supported encoding',
    ],
    [
      json(new Uint8Array([0x7b, 0xff, 0x7d])),
      "content-utf8",
      "Cannot decode content: not valid UTF-8",
    ],
    [
      json('{"action": '),
      "content-json",
      'Cannot parse content: "{\\"action\\": " is not valid JSON',
    ],
    [json("[1, 2]"), "content-json", 'Cannot parse content: "[1,2]" is not a JSON object'],
    [json('"search"'), "content-json", 'Cannot parse content: "\\"search\\"" is not a JSON object'],
    [
      json('{"value": "ring"}'),
      "content-field",
      'Cannot parse content: missing required field "action"',
    ],
    [
      json('{"action": "search"}'),
      "content-field",
      'Cannot parse content: missing required field "value"',
    ],
  ];
  for (const [frame, kind, message] of cases) {
    const answer = answerRequest(frame);
    assert.equal(answer.type, "error");
    assert.deepEqual(answer.type === "error" && answer.error, { kind, message });
    assert.deepEqual(JSON.parse(answerText(answer)), { error: message });
    assert.equal(answer.header["content-type"], "text/json");
  }
});

Deno.test("answerRequest() uses the byteorder option", () => {
  const answer = answerRequest(oneFrame(MORPHEUS_REQUEST), { byteorder: "big" });
  assert.equal(answer.header.byteorder, "big");
  assert.equal(oneFrame(answer.bytes).header.byteorder, "big");
});

Deno.test("decodeJsonContent() parses text/json answers for clients", () => {
  assert.deepEqual(decodeJsonContent(oneFrame(MORPHEUS_RESPONSE)), {
    ok: true,
    value: { result: "Follow the white rabbit. 🐰" },
  });
  const latin = oneFrame(
    encodeFrame({ "content-type": "text/json", "content-encoding": "ascii" }, encoder.encode("1")),
  );
  assert.equal(decodeJsonContent(latin).ok, false);
});

Deno.test("AppFrameDecoder.push() decodes a whole message in one push", () => {
  const appDecoder = new AppFrameDecoder();
  const { frames, error } = appDecoder.push(MORPHEUS_REQUEST);
  assert.equal(error, null);
  assert.equal(frames.length, 1);
  const [frame] = frames;
  assert.deepEqual(frame.header, {
    byteorder: "big",
    "content-type": "text/json",
    "content-encoding": "utf-8",
    "content-length": 41,
  });
  assert.equal(frame.headerBytes, 100);
  assert.equal(frame.wireLength, MORPHEUS_REQUEST.length);
  assert.equal(decoder.decode(frame.content), '{"action": "search", "value": "morpheus"}');
  assert.equal(appDecoder.buffered, 0);
  assert.equal(appDecoder.pending, false);
});

Deno.test("AppFrameDecoder.push() decodes a message pushed one byte at a time", () => {
  const appDecoder = new AppFrameDecoder();
  const chunks = byteChunks(PUPPY_REQUEST);
  chunks.forEach((chunk, index) => {
    const { frames, error } = appDecoder.push(chunk);
    assert.equal(error, null);
    assert.equal(frames.length, index === chunks.length - 1 ? 1 : 0);
    if (frames.length === 1) {
      assert.equal(decoder.decode(frames[0].content), '{"action": "search", "value": "🐶"}');
    }
  });
});

Deno.test("AppFrameDecoder.push() decodes several messages in one push", () => {
  const empty = encodeFrame(
    { "content-type": "text/plain", "content-encoding": "binary" },
    new Uint8Array(0),
  );
  const all = concat([MORPHEUS_REQUEST, empty, BINARY_REQUEST, empty, PUPPY_REQUEST]);
  const { frames, error } = new AppFrameDecoder().push(all);
  assert.equal(error, null);
  assert.deepEqual(frames.map((frame) => frame.wireLength), [
    MORPHEUS_REQUEST.length,
    empty.length,
    BINARY_REQUEST.length,
    empty.length,
    PUPPY_REQUEST.length,
  ]);
  assert.equal(decoder.decode(frames[2].content), "binary😃");
  assert.equal(frames[3].content.length, 0);
});

Deno.test("AppFrameDecoder.push() decodes a message split at every offset", () => {
  const expected = oneFrame(BINARY_REQUEST);
  for (let cut = 0; cut <= BINARY_REQUEST.length; cut++) {
    const { frames, decoder: appDecoder } = decodeAll([
      BINARY_REQUEST.subarray(0, cut),
      BINARY_REQUEST.subarray(cut),
    ]);
    assert.deepEqual(frames, [expected], `split at ${cut}`);
    assert.equal(appDecoder.buffered, 0);
  }
});

Deno.test("AppFrameDecoder.push() decodes two messages split at every pair of offsets", () => {
  const two = concat([MORPHEUS_REQUEST, BINARY_REQUEST]);
  const expected = [oneFrame(MORPHEUS_REQUEST), oneFrame(BINARY_REQUEST)];
  for (let first = 0; first <= two.length; first += 3) {
    for (let second = first; second <= two.length; second++) {
      const { frames } = decodeAll([
        two.subarray(0, first),
        two.subarray(first, second),
        two.subarray(second),
      ]);
      assert.deepEqual(frames, expected, `split at ${first} and ${second}`);
    }
  }
});

Deno.test("AppFrameDecoder.push() keeps extra header keys and accepts any JSON spacing", () => {
  const frame = oneFrame(
    rawFrame(
      '\n{ "content-length" :2,"x-trace":[1, {"a": null}],\t"byteorder":"big",' +
        '"content-encoding":"binary","content-type":"a/b"}  ',
      encoder.encode("hi"),
    ),
  );
  assert.deepEqual(frame.header["x-trace"], [1, { a: null }]);
  assert.equal(decoder.decode(frame.content), "hi");
});

Deno.test("AppFrameDecoder.push() copies content so the caller can reuse its chunks", () => {
  const whole = MORPHEUS_REQUEST.slice();
  const appDecoder = new AppFrameDecoder();
  const [frame] = appDecoder.push(whole).frames;
  whole.fill(0);
  assert.equal(decoder.decode(frame.content), '{"action": "search", "value": "morpheus"}');

  // A reused read buffer: every push hands in the same memory with new bytes.
  const readBuffer = new Uint8Array(7);
  const frames: AppFrame[] = [];
  const stream = concat([MORPHEUS_REQUEST, BINARY_REQUEST]);
  for (let offset = 0; offset < stream.length; offset += readBuffer.length) {
    const part = stream.subarray(offset, offset + readBuffer.length);
    readBuffer.set(part);
    frames.push(...appDecoder.push(readBuffer.subarray(0, part.length)).frames);
    readBuffer.fill(0xee);
  }
  assert.deepEqual(frames, [oneFrame(MORPHEUS_REQUEST), oneFrame(BINARY_REQUEST)]);
});

Deno.test("AppFrameDecoder.buffered counts the bytes held in a partial stage", () => {
  const appDecoder = new AppFrameDecoder();
  const steps: [number, number][] = [[1, 1], [1, 0], [60, 60], [40, 0], [20, 20], [21, 0]];
  let offset = 0;
  for (const [length, buffered] of steps) {
    appDecoder.push(MORPHEUS_REQUEST.subarray(offset, offset + length));
    offset += length;
    assert.equal(appDecoder.buffered, buffered, `after ${offset} bytes`);
    assert.equal(appDecoder.pending, offset < MORPHEUS_REQUEST.length);
  }
  assert.equal(offset, MORPHEUS_REQUEST.length);
});

Deno.test("AppFrameDecoder.push() rejects each malformed header with a specific message", () => {
  const header = (fields: Record<string, unknown>) =>
    rawFrame(
      JSON.stringify({
        byteorder: "big",
        "content-type": "text/json",
        "content-encoding": "utf-8",
        "content-length": 0,
        ...fields,
      }),
    );
  const cases: [Uint8Array, string, string][] = [
    [new Uint8Array([0, 0]), "header-empty", "Cannot parse header: header length is 0"],
    [
      rawFrame(new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])),
      "header-utf8",
      "Cannot parse header: not valid UTF-8",
    ],
    [
      rawFrame('{"byteorder": "big",'),
      "header-json",
      'Cannot parse header: "{\\"byteorder\\": \\"big\\"," is not valid JSON',
    ],
    [rawFrame("\ufeff{}"), "header-json", 'Cannot parse header: "\ufeff{}" is not valid JSON'],
    [rawFrame("[1, 2]"), "header-json", 'Cannot parse header: "[1, 2]" is not a JSON object'],
    [rawFrame("null"), "header-json", 'Cannot parse header: "null" is not a JSON object'],
    [
      header({ "content-type": 7 }),
      "header-field",
      'Cannot parse header: "content-type" is not a string',
    ],
    [
      header({ "content-length": "41" }),
      "content-length",
      'Cannot parse header: "content-length" is not an integer',
    ],
    [
      header({ "content-length": 4.5 }),
      "content-length",
      'Cannot parse header: "content-length" is not an integer',
    ],
    [
      header({ "content-length": null }),
      "content-length",
      'Cannot parse header: "content-length" is not an integer',
    ],
    [
      rawFrame(
        '{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 1e999}',
      ),
      "content-length",
      'Cannot parse header: "content-length" is not an integer',
    ],
    [
      header({ "content-length": -1 }),
      "content-length",
      'Cannot parse header: "content-length" is negative: "-1"',
    ],
    [
      header({ "content-length": 1048577 }),
      "content-too-large",
      'Cannot read content: "content-length" of "1048577" exceeds the limit of 1048576',
    ],
  ];
  for (const [bytes, kind, message] of cases) {
    assert.deepEqual(errorOf(bytes), { kind, message });
  }
});

Deno.test("AppFrameDecoder.push() names each missing required field", () => {
  const full = {
    byteorder: "big",
    "content-type": "text/json",
    "content-encoding": "utf-8",
    "content-length": 0,
  };
  for (const field of Object.keys(full)) {
    const header: Record<string, unknown> = { ...full };
    delete header[field];
    assert.deepEqual(errorOf(rawFrame(JSON.stringify(header))), {
      kind: "header-field",
      message: `Cannot parse header: missing required field "${field}"`,
    });
  }
});

Deno.test("AppFrameDecoder.push() rejects too much content before reading it", () => {
  const headerOnly = rawFrame(
    '{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 11}',
  );
  assert.deepEqual(errorOf(headerOnly, { maxContentLength: 10 }), {
    kind: "content-too-large",
    message: 'Cannot read content: "content-length" of "11" exceeds the limit of 10',
  });
  const exact = rawFrame(
    '{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 10}',
    new Uint8Array(10),
  );
  assert.equal(new AppFrameDecoder({ maxContentLength: 10 }).push(exact).frames.length, 1);
});

Deno.test("AppFrameDecoder.push() rejects a long header from its 2-byte length alone", () => {
  assert.deepEqual(errorOf(new Uint8Array([0x01, 0x00]), { maxHeaderLength: 255 }), {
    kind: "header-too-long",
    message: 'Cannot parse header: length "256" exceeds the limit of 255',
  });
});

Deno.test("AppFrameDecoder.push() keeps frames before an error and then stays dead", () => {
  const appDecoder = new AppFrameDecoder();
  const result = appDecoder.push(
    concat([MORPHEUS_REQUEST, new Uint8Array([0, 0]), BINARY_REQUEST]),
  );
  assert.equal(result.frames.length, 1);
  assert.equal(result.error?.kind, "header-empty");
  const again = appDecoder.push(BINARY_REQUEST);
  assert.equal(again.frames.length, 0);
  assert.equal(again.error, result.error);
  assert.equal(appDecoder.error, result.error);
  assert.equal(appDecoder.buffered, 0);
  assert.equal(appDecoder.pending, false);
});

Deno.test("AppFrameDecoder.push() accepts byteorder little and big and rejects any other", () => {
  const header = (byteorder: unknown) =>
    rawFrame(JSON.stringify({
      byteorder,
      "content-type": "text/json",
      "content-encoding": "utf-8",
      "content-length": 0,
    }));
  for (const byteorder of ["little", "big"]) {
    assert.equal(oneFrame(header(byteorder)).header.byteorder, byteorder);
  }
  const cases: [unknown, string][] = [
    ["middle", '"middle"'],
    ["Big", '"Big"'],
    ["", '""'],
    [" little", '" little"'],
  ];
  for (const [byteorder, quoted] of cases) {
    assert.deepEqual(errorOf(header(byteorder)), {
      kind: "header-field",
      message: `Cannot parse header: "byteorder" is ${quoted}, not "little" or "big"`,
    });
  }
  // A non-string is named as such first, as for the other string fields.
  assert.deepEqual(errorOf(header(1)), {
    kind: "header-field",
    message: 'Cannot parse header: "byteorder" is not a string',
  });
});

Deno.test("AppFrameDecoder.end() reports a frame cut off at every offset as truncated", () => {
  // MORPHEUS_REQUEST: 2-byte length, 100-byte header, 41 bytes of content.
  assert.equal(MORPHEUS_REQUEST.length, 143);
  for (let cut = 1; cut < MORPHEUS_REQUEST.length; cut++) {
    const appDecoder = new AppFrameDecoder();
    assert.equal(appDecoder.push(MORPHEUS_REQUEST.subarray(0, cut)).error, null);
    const total = cut < 2 ? "at least 2" : cut < 102 ? "at least 102" : "143";
    const expected = { kind: "truncated", message: `truncated message: ${cut} of ${total} bytes` };
    assert.deepEqual(appDecoder.end(), { frames: [], error: expected }, `cut at ${cut}`);
    assert.equal(appDecoder.pending, false);
    assert.equal(appDecoder.buffered, 0);
    assert.deepEqual(appDecoder.error, expected);
  }
});

Deno.test("AppFrameDecoder.end() counts the frames before the cut, pushed one byte at a time", () => {
  const appDecoder = new AppFrameDecoder();
  const bytes = concat([MORPHEUS_REQUEST, BINARY_REQUEST.subarray(0, 50)]);
  let frames = 0;
  for (const chunk of byteChunks(bytes)) frames += appDecoder.push(chunk).frames.length;
  assert.equal(frames, 1);
  assert.deepEqual(appDecoder.end().error, {
    kind: "truncated",
    message: `truncated message: 50 of at least ${BINARY_REQUEST.length - 10} bytes`,
  });
});

Deno.test("AppFrameDecoder.end() is quiet between frames and after an earlier error", () => {
  const clean = new AppFrameDecoder();
  clean.push(concat([MORPHEUS_REQUEST, BINARY_REQUEST]));
  assert.deepEqual(clean.end(), { frames: [], error: null });
  assert.deepEqual(new AppFrameDecoder().end(), { frames: [], error: null });
  const dead = new AppFrameDecoder();
  const first = dead.push(new Uint8Array([0, 0, 1])).error;
  assert.equal(first?.kind, "header-empty");
  assert.equal(dead.end().error, first);
});

Deno.test("AppFrameDecoder() validates its options", () => {
  assert.throws(() => new AppFrameDecoder({ maxHeaderLength: 0 }), {
    name: "RangeError",
    message: 'Invalid maxHeaderLength: "0" is not between 1 and 65535',
  });
  assert.throws(() => new AppFrameDecoder({ maxHeaderLength: 65536 }), RangeError);
  assert.throws(() => new AppFrameDecoder({ maxContentLength: 1.5 }), {
    name: "TypeError",
    message: 'Invalid maxContentLength: "1.5" is not an integer',
  });
});

Deno.test("encodeFrame() writes the required keys first and computes content-length", () => {
  const init: AppHeaderInit = {
    "x-id": 7,
    "content-encoding": "binary",
    "content-type": "a/b",
    "content-length": 999,
  };
  const bytes = encodeFrame(init, new Uint8Array([1, 2, 3]));
  assert.deepEqual(
    bytes,
    rawFrame(
      '{"byteorder": "little", "content-type": "a/b", "content-encoding": "binary", ' +
        '"content-length": 3, "x-id": 7}',
      new Uint8Array([1, 2, 3]),
    ),
  );
});

Deno.test("encodeFrame() rejects a header longer than 65535 bytes", () => {
  assert.throws(
    () =>
      encodeFrame(
        { "content-type": "a", "content-encoding": "b", pad: "x".repeat(65535) },
        new Uint8Array(0),
      ),
    RangeError,
  );
});

Deno.test("encodeJsonMessage() writes JSON like Python's json.dumps", () => {
  const bytes = encodeJsonMessage({ a: [1, "é", { b: null }], c: true, skip: undefined }, {
    byteorder: "big",
  });
  const frame = oneFrame(bytes);
  assert.equal(decoder.decode(frame.content), '{"a": [1, "é", {"b": null}], "c": true}');
  assert.equal(frame.header.byteorder, "big");
  assert.equal(frame.header["content-encoding"], "utf-8");
});

Deno.test("encodeErrorFrame() encodes a text/json error object", () => {
  const frame = oneFrame(
    encodeErrorFrame('Cannot parse header: missing required field "byteorder"'),
  );
  assert.equal(frame.header["content-type"], "text/json");
  assert.equal(
    decoder.decode(frame.content),
    '{"error": "Cannot parse header: missing required field \\"byteorder\\""}',
  );
});

Deno.test("errorAnswer() wraps a decoder error as the error frame", () => {
  const error = errorOf(new Uint8Array([0, 0]));
  const answer = errorAnswer(error);
  assert.deepEqual(answer.bytes, encodeErrorFrame(error.message));
  assert.equal(
    summarizeAnswer(answer),
    'app error header-empty "Cannot parse header: header length is 0" (52 B)',
  );
});

Deno.test("summarizeFrame() describes requests and responses in one line", () => {
  assert.equal(
    summarizeFrame(oneFrame(MORPHEUS_REQUEST)),
    'app request text/json search "morpheus" (41 B)',
  );
  assert.equal(summarizeFrame(oneFrame(PUPPY_REQUEST)), 'app request text/json search "🐶" (37 B)');
  assert.equal(
    summarizeFrame(oneFrame(BINARY_REQUEST)),
    "app request binary/custom-client-binary-type (10 B)",
  );
  assert.equal(
    summarizeFrame(oneFrame(MORPHEUS_RESPONSE), { role: "response" }),
    'app response text/json result "Follow the white rabbit. 🐰" (43 B)',
  );
  assert.equal(
    summarizeFrame(oneFrame(encodeRequest("search", "x".repeat(100)))),
    `app request text/json search "${"x".repeat(40)}…" (133 B)`,
  );
  const bad = oneFrame(
    encodeFrame({ "content-type": "text/json", "content-encoding": "utf-8" }, encoder.encode("{")),
  );
  assert.equal(summarizeFrame(bad), "app request text/json content-json (1 B)");
});

Deno.test("summarizeAnswer() describes each kind of answer", () => {
  assert.equal(
    summarizeAnswer(answerRequest(oneFrame(PUPPY_REQUEST))),
    'app response text/json result "🐾 Playing ball! 🏐" (37 B)',
  );
  assert.equal(
    summarizeAnswer(answerRequest(oneFrame(BINARY_REQUEST))),
    "app response binary/custom-server-binary-type (37 B)",
  );
});

Deno.test("AppFrameDecoderStream decodes chunks piped from a ReadableStream", async () => {
  const two = concat([MORPHEUS_REQUEST, BINARY_REQUEST]);
  const expected = [oneFrame(MORPHEUS_REQUEST), oneFrame(BINARY_REQUEST)];
  const whole = await Array.fromAsync(
    ReadableStream.from([two]).pipeThrough(new AppFrameDecoderStream()),
  );
  assert.deepEqual(whole, expected);
  const bytewise = await Array.fromAsync(
    ReadableStream.from(byteChunks(two)).pipeThrough(new AppFrameDecoderStream()),
  );
  assert.deepEqual(bytewise, expected);
});

Deno.test("AppFrameDecoderStream errors with the user-facing message", async () => {
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from(byteChunks(rawFrame("[]"))).pipeThrough(new AppFrameDecoderStream()),
    ),
    (error: unknown) => {
      assert.ok(error instanceof SyntaxError);
      assert.equal(error.message, 'Cannot parse header: "[]" is not a JSON object');
      assert.deepEqual(error.cause, { kind: "header-json", message: error.message });
      return true;
    },
  );
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([MORPHEUS_REQUEST]).pipeThrough(
        new AppFrameDecoderStream({ maxContentLength: 40 }),
      ),
    ),
    {
      name: "RangeError",
      message: 'Cannot read content: "content-length" of "41" exceeds the limit of 40',
    },
  );
});

Deno.test("AppFrameDecoderStream errors when the input ends inside a frame", async () => {
  await assert.rejects(
    Array.fromAsync(
      ReadableStream.from([MORPHEUS_REQUEST.subarray(0, 102)]).pipeThrough(
        new AppFrameDecoderStream(),
      ),
    ),
    { name: "SyntaxError", message: "truncated message: 102 of 143 bytes" },
  );
});

const headerInit = fc.record({
  byteorder: fc.constantFrom("little", "big"),
  "content-type": fc.constantFrom("text/json", "binary/custom-client-binary-type", "a/b"),
  "content-encoding": fc.constantFrom("utf-8", "binary"),
  extra: fc.option(fc.string(), { nil: undefined }),
});
const frameSpec = fc.tuple(headerInit, fc.uint8Array({ maxLength: 64 }));

/** Splits `bytes` at the given sorted, clamped cut points. */
function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

Deno.test("AppFrameDecoder.push() decodes the same frames however the bytes are split", () => {
  fc.assert(
    fc.property(
      fc.array(frameSpec, { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (specs, cuts) => {
        const encoded = specs.map(([init, content]) => encodeFrame(init, content));
        const expected = encoded.map(oneFrame);
        const { frames, decoder: appDecoder } = decodeAll(splitAt(concat(encoded), cuts));
        assert.deepEqual(frames, expected);
        assert.equal(appDecoder.buffered, 0);
        assert.equal(appDecoder.pending, false);
        specs.forEach(([init, content], index) => {
          assert.deepEqual(frames[index].content, content);
          assert.equal(frames[index].header["content-type"], init["content-type"]);
        });
      },
    ),
    { numRuns: 300 },
  );
});

/** Pushes every chunk, checking that nothing throws and errors stay sticky. */
function pushNeverThrows(chunks: Uint8Array[], options = {}): void {
  const appDecoder = new AppFrameDecoder(options);
  let firstError = null;
  for (const chunk of chunks) {
    const { frames, error } = appDecoder.push(chunk);
    if (firstError !== null) assert.equal(error, firstError);
    firstError ??= error;
    for (const frame of frames) {
      answerRequest(frame);
      summarizeFrame(frame);
    }
  }
  if (firstError !== null) {
    assert.equal(typeof firstError.message, "string");
    summarizeAnswer(errorAnswer(firstError));
  }
}

Deno.test("AppFrameDecoder.push() returns errors for random bytes instead of throwing", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (bytes, cuts) => {
        pushNeverThrows(splitAt(bytes, cuts), { maxContentLength: 4096 });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("AppFrameDecoder.push() returns errors for mutated frames instead of throwing", () => {
  const valid = concat([MORPHEUS_REQUEST, BINARY_REQUEST, PUPPY_REQUEST]);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.array(fc.nat(), { maxLength: 6 }),
      (mutations, cuts) => {
        const bytes = valid.slice();
        for (const [index, byte] of mutations) bytes[index] = byte;
        pushNeverThrows(splitAt(bytes, cuts));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("AppFrameDecoder accepts a U+FFFD that was sent, in the header and the content", () => {
  const frame = encodeFrame(
    { "content-type": "text/json", "content-encoding": "utf-8", note: "\ufffd" },
    encoder.encode(JSON.stringify({ action: "search", value: "\ufffd" })),
  );
  const { frames, error } = new AppFrameDecoder().push(frame);
  assert.equal(error, null);
  assert.equal(frames[0].header.note, "\ufffd");
  const content = decodeJsonContent(frames[0]);
  assert.deepEqual(content, { ok: true, value: { action: "search", value: "\ufffd" } });
});

Deno.test("AppFrameDecoder with borrowContent hands out views of the chunk, copies otherwise", () => {
  const chunk = encodeRequest("search", "morpheus");
  const borrowed = new AppFrameDecoder({ borrowContent: true }).push(chunk).frames[0];
  const copied = new AppFrameDecoder().push(chunk).frames[0];
  assert.equal(borrowed.content.buffer, chunk.buffer, "a view of the chunk");
  assert.notEqual(copied.content.buffer, chunk.buffer, "a copy");
  assert.deepEqual(borrowed.content, copied.content);
  // Content split across reads is held by the decoder either way, never borrowed.
  const split = new AppFrameDecoder({ borrowContent: true });
  split.push(chunk.subarray(0, chunk.length - 5));
  const tail = chunk.slice(chunk.length - 5);
  const whole = split.push(tail).frames[0];
  assert.notEqual(whole.content.buffer, tail.buffer);
  assert.deepEqual(whole.content, copied.content);
});
