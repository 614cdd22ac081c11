/**
 * The app protocol under random and mutated input (fast-check): the codec
 * decodes the same whatever the chunking and holds no more than its limits;
 * the live endpoint, fed over real sockets in random chunkings, answers each
 * connection exactly as the codec says (valid answers, then one error frame
 * if the input is malformed, then a graceful close) while a control
 * connection keeps getting answers, and leaves nothing behind.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import {
  answerRequest,
  type AppFrame,
  AppFrameDecoder,
  type AppProtocolError,
  errorAnswer,
} from "../lib/protocol/app_codec.ts";
import { concat } from "../lib/bytes.ts";
import {
  appFrame,
  AppReader,
  appRequest,
  closeQuietly,
  connect,
  decoder,
  encoder,
  rawAppFrame,
  readToEnd,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

/** Splits `bytes` at the given cut points (taken modulo its length, sorted). */
function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = cuts.map((cut) => cut % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = Math.max(start, point);
  }
  if (start < bytes.length || chunks.length === 0) chunks.push(bytes.subarray(start));
  return chunks;
}

// --- Generators: valid requests, then ways of breaking them.

const searchValue = fc.oneof(
  fc.constantFrom("morpheus", "ring", "🐶"),
  fc.string({ maxLength: 12 }),
);
/** A request as header fields and content, so its content-length can be made to lie. */
const requestSpec = fc.oneof(
  searchValue.map((value) => ({ action: "search", value })),
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 12 })).map(([action, value]) => ({
    action,
    value,
  })),
).map(({ action, value }) => {
  const bytes = appRequest(action, value);
  const headerLength = (bytes[0] << 8) | bytes[1];
  return {
    header: JSON.parse(decoder.decode(bytes.subarray(2, 2 + headerLength))) as Record<
      string,
      unknown
    >,
    content: bytes.subarray(2 + headerLength),
  };
});

/** What a `content-length` may be made to say instead of the truth. */
const lyingLength = fc.oneof(
  fc.integer({ min: -3, max: 3 }).map((delta) => ({ delta })),
  fc.constantFrom<unknown>(1024, 1025, 5000, 2 ** 53, -1, 1.5, "10", null, [], {}).map((
    value,
  ) => ({ value })),
);

type Mutation =
  | { op: "flip"; at: number; bit: number }
  | { op: "truncate"; at: number }
  | { op: "prefix"; frame: number; value: number }
  | { op: "duplicate"; from: number; length: number; to: number }
  | { op: "delete"; from: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("prefix" as const), frame: fc.nat(), value: fc.nat(0xffff) }),
  fc.record({
    op: fc.constant("duplicate" as const),
    from: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
    to: fc.nat(),
  }),
  fc.record({
    op: fc.constant("delete" as const),
    from: fc.nat(),
    length: fc.integer({ min: 1, max: 16 }),
  }),
);

/** Valid frames, some content-lengths lying, then byte-level mutations. */
const mutatedFrames = fc.record({
  frames: fc.array(
    fc.tuple(
      requestSpec,
      fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, {
        arbitrary: lyingLength,
        weight: 1,
      }),
    ),
    { minLength: 1, maxLength: 3 },
  ),
  mutations: fc.array(mutation, { maxLength: 3 }),
}).map(({ frames, mutations }) => {
  const encoded = frames.map(([spec, lie]) => {
    const header = { ...spec.header };
    if (lie !== undefined) {
      header["content-length"] = "delta" in lie ? spec.content.length + lie.delta : lie.value;
    }
    return appFrame(header, spec.content);
  });
  for (const m of mutations) {
    if (m.op !== "prefix") continue;
    const frame = encoded[m.frame % encoded.length];
    frame[0] = m.value >> 8;
    frame[1] = m.value & 0xff;
  }
  let bytes = concat(encoded);
  for (const m of mutations) bytes = mutate(bytes, m);
  return bytes;
});

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (bytes.length === 0) return bytes;
  switch (m.op) {
    case "flip": {
      const out = bytes.slice();
      out[m.at % out.length] ^= 1 << m.bit;
      return out;
    }
    case "truncate":
      return bytes.slice(0, m.at % bytes.length);
    case "prefix":
      return bytes;
    case "duplicate": {
      const from = m.from % bytes.length;
      const segment = bytes.subarray(from, from + m.length);
      const to = m.to % (bytes.length + 1);
      return concat([bytes.subarray(0, to), segment, bytes.subarray(to)]);
    }
    case "delete": {
      const from = m.from % bytes.length;
      return concat([bytes.subarray(0, from), bytes.subarray(from + m.length)]);
    }
    default: {
      const unreachable: never = m;
      throw new TypeError(`Unknown mutation "${JSON.stringify(unreachable)}"`);
    }
  }
}

/** Headers of random JSON with a correct length prefix: the header checks, field by field. */
const randomHeaders = fc.tuple(
  fc.oneof(
    fc.json({ maxDepth: 2 }),
    fc.record({
      byteorder: fc.oneof(fc.constant("little"), fc.jsonValue({ maxDepth: 1 })),
      "content-type": fc.oneof(fc.constantFrom("text/json", "a/b"), fc.jsonValue({ maxDepth: 1 })),
      "content-encoding": fc.oneof(fc.constantFrom("utf-8", "binary"), fc.jsonValue()),
      "content-length": fc.oneof(fc.integer({ min: -2, max: 40 }), fc.jsonValue({ maxDepth: 1 })),
    }, { requiredKeys: [] }).map((header) => JSON.stringify(header)),
  ),
  fc.uint8Array({ maxLength: 48 }),
).map(([header, content]) => rawAppFrame(encoder.encode(header), content));

/** Anything at all, and anything after a small header length (so the header gets parsed). */
const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.tuple(fc.nat(64), fc.uint8Array({ maxLength: 128 })).map(([length, rest]) =>
    concat([new Uint8Array([0, length]), rest])
  ),
);

const anyInput = fc.oneof(
  { arbitrary: mutatedFrames, weight: 3 },
  { arbitrary: randomHeaders, weight: 2 },
  { arbitrary: randomBytes, weight: 1 },
);
const cutPoints = fc.array(fc.nat(), { maxLength: 8 });

// --- The codec.

/** Everything `push` returned over `chunks`. */
function decodeChunks(
  chunks: readonly Uint8Array[],
  maxContentLength: number,
): { frames: AppFrame[]; error: AppProtocolError | null; maxBuffered: number } {
  const appDecoder = new AppFrameDecoder({ maxContentLength, maxHeaderLength: 512 });
  const frames: AppFrame[] = [];
  let error: AppProtocolError | null = null;
  let maxBuffered = 0;
  for (const chunk of chunks) {
    const result = appDecoder.push(chunk);
    frames.push(...result.frames);
    error ??= result.error;
    maxBuffered = Math.max(maxBuffered, appDecoder.buffered);
  }
  return { frames, error, maxBuffered };
}

Deno.test("AppFrameDecoder.push() decodes any input the same however it is chunked, within its limits", () => {
  fc.assert(
    fc.property(anyInput, cutPoints, (bytes, cuts) => {
      const whole = decodeChunks([bytes], 1024);
      const chunked = decodeChunks(splitAt(bytes, cuts), 1024);
      deepStrictEqual(chunked.frames, whole.frames);
      deepStrictEqual(chunked.error, whole.error);
      // What a connection's decoder holds is bounded by the larger of its limits (content 1024, header 512).
      ok(chunked.maxBuffered <= 1024, `${chunked.maxBuffered} bytes held`);
    }),
    { numRuns: 5000 },
  );
});

Deno.test("AppFrameDecoder.push() refuses an oversized content-length as soon as the header ends", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4096 }),
      fc.integer({ min: 1, max: 2 ** 40 }),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
      (limit, over, extra) => {
        const header = {
          ...extra,
          byteorder: "big",
          "content-type": "binary/x",
          "content-encoding": "binary",
          "content-length": limit + over,
        };
        const headerOnly = appFrame(header, new Uint8Array(0));
        const result = new AppFrameDecoder({ maxContentLength: limit }).push(headerOnly);
        strictEqual(result.error?.kind, "content-too-large");
      },
    ),
    { numRuns: 300 },
  );
});

// --- The live endpoint.

/**
 * What the endpoint must send for `input` followed by the client's FIN, by the codec: answers,
 * then the error frame, if any (a frame the FIN cuts off is `truncated`).
 */
function expectedReply(input: Uint8Array, maxContentLength: number) {
  const appDecoder = new AppFrameDecoder({ maxContentLength });
  const pushed = appDecoder.push(input);
  const { frames } = pushed;
  const error = pushed.error ?? appDecoder.end().error;
  const parts: Uint8Array[] = [];
  for (const frame of frames) {
    const answer = answerRequest(frame);
    parts.push(answer.bytes);
    if (answer.type === "error") {
      return {
        bytes: concat(parts),
        answers: parts.length,
        malformed: true,
        truncated: false,
        tooLarge: false,
      };
    }
  }
  if (error !== null) parts.push(errorAnswer(error).bytes);
  const tooLarge = error?.kind === "content-too-large";
  return {
    bytes: concat(parts),
    answers: parts.length,
    malformed: error !== null,
    truncated: error?.kind === "truncated",
    tooLarge,
  };
}

/** Parses answer frames without lib/protocol; throws on anything that is not whole frames. */
function parseReplies(bytes: Uint8Array): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let at = 0;
  while (at < bytes.length) {
    ok(at + 2 <= bytes.length, "a cut protoheader");
    const length = (bytes[at] << 8) | bytes[at + 1];
    const header = JSON.parse(decoder.decode(bytes.subarray(at + 2, at + 2 + length)));
    deepStrictEqual(
      Object.keys(header),
      ["byteorder", "content-type", "content-encoding", "content-length"],
    );
    const start = at + 2 + length;
    const content = bytes.subarray(start, start + header["content-length"]);
    strictEqual(content.length, header["content-length"], "a cut content");
    out.push(
      header["content-type"] === "text/json" ? JSON.parse(decoder.decode(content)) : { binary: 1 },
    );
    at = start + content.length;
  }
  return out;
}

/** Sends `request` on `conn` and checks its answer; returns the round trip in ms. */
async function controlRoundTrip(conn: Deno.Conn, reader: AppReader): Promise<number> {
  const started = performance.now();
  await writeAll(conn, appRequest("search", "morpheus"));
  deepStrictEqual((await reader.next(2000)).json, { result: "Follow the white rabbit. 🐰" });
  return performance.now() - started;
}

Deno.test("app endpoint answers random and mutated input like the codec, then closes gracefully, while others are served", async () => {
  const maxContent = 1024;
  await using svc = startService({ appMaxContent: maxContent });
  const port = svc.port("app");
  const baseline = svc.service.registry.size;

  // A well-behaved client keeps asking throughout.
  const control = await connect(port);
  let fuzzing = true;
  const controlRtts: number[] = [];
  const controlLoop = (async () => {
    const reader = new AppReader(control);
    while (fuzzing) {
      controlRtts.push(await controlRoundTrip(control, reader));
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
  })();

  let malformed = 0;
  let tooLarge = 0;
  let answered = 0;
  let runs = 0;
  try {
    await fc.assert(
      fc.asyncProperty(anyInput, cutPoints, fc.boolean(), async (input, cuts, finFirst) => {
        runs++;
        const expected = expectedReply(input, maxContent);
        if (expected.malformed) malformed++;
        if (expected.tooLarge) tooLarge++;
        if (expected.answers > (expected.malformed ? 1 : 0)) answered++;
        const conn = await connect(port);
        try {
          conn.setNoDelay(true);
          for (const chunk of splitAt(input, cuts)) await writeAll(conn, chunk, 2000);
          // Our FIN cuts off a frame left incomplete: the server answers that with the error
          // frame. After other malformed input the server closes on its own, FIN or not.
          if (finFirst || !expected.malformed || expected.truncated) await conn.closeWrite();
          const reply = await readToEnd(conn, { timeoutMs: 3000 });
          strictEqual(reply.end, "eof", "closed with FIN, not RST");
          deepStrictEqual(reply.bytes, expected.bytes);
          const replies = parseReplies(reply.bytes);
          const errors = replies.filter((r) => "error" in r);
          strictEqual(errors.length, expected.malformed ? 1 : 0, "one error frame iff malformed");
          if (expected.malformed) {
            ok("error" in replies[replies.length - 1], "the error comes last");
          }
        } finally {
          closeQuietly(conn);
        }
      }),
      { numRuns: 3000 },
    );
  } finally {
    fuzzing = false;
    await controlLoop.finally(() => closeQuietly(control));
  }

  controlRtts.sort((a, b) => a - b);
  const p99 = controlRtts[Math.floor(controlRtts.length * 0.99)];
  console.log(
    `fuzz: ${runs} connections (${malformed} malformed, ${answered} with valid answers), ` +
      `control: ${controlRtts.length} requests, p99 ${p99.toFixed(2)} ms, max ${
        controlRtts[controlRtts.length - 1].toFixed(2)
      } ms`,
  );
  ok(
    controlRtts.length >= 20,
    `the control connection was served throughout: ${controlRtts.length}`,
  );
  ok(malformed > runs / 4, `the generators reach the error paths: ${malformed} of ${runs}`);
  ok(answered > runs / 10, `and the answering paths: ${answered} of ${runs}`);

  const app = await waitFor("every fuzz connection to be closed", async () => {
    const e = (await svc.endpoints()).app;
    return e.connections === 0 && svc.service.registry.size === baseline && e;
  });
  strictEqual(app.accepted, runs + 1);
  strictEqual(app.errors.protocol ?? 0, malformed);
  // Counted when the error frame says so, whatever else the same read held.
  strictEqual(app.limitHits["app-content-length"] ?? 0, tooLarge);
  strictEqual(svc.service.pool.largeInUse, 0);
});

Deno.test("app endpoint holds at most the content limit for a slow large request and refuses limit + 1 after the header", async () => {
  const limit = 65536;
  await using svc = startService({ appMaxContent: limit });
  const port = svc.port("app");
  const header = {
    byteorder: "little",
    "content-type": "binary/x",
    "content-encoding": "binary",
    "content-length": limit,
  };
  const content = new Uint8Array(limit).map((_, i) => i % 251);
  const frame = appFrame(header, content);
  const headerEnd = frame.length - limit;

  using slow = await connect(port);
  const server = await waitFor(
    "the server to accept",
    () => [...svc.service.tcp.get("app")!.conns][0],
  );
  let maxHeld = 0;
  // Header first, then the content in 4 KiB pieces, looking at what the server holds after each.
  const pieces = [frame.subarray(0, headerEnd)];
  for (let at = headerEnd; at < frame.length; at += 4096) {
    pieces.push(frame.subarray(at, at + 4096));
  }
  let sent = 0;
  for (const piece of pieces.slice(0, -1)) {
    await writeAll(slow, piece);
    sent += piece.length;
    await waitFor(`the server to read ${sent} bytes`, () => server.bytesIn === sent);
    maxHeld = Math.max(maxHeld, server.rxBuffered);
    ok(server.rxBuffered <= limit + headerEnd, `${server.rxBuffered} held`);
  }
  strictEqual(maxHeld, limit - 4096, "the content so far, and nothing more");
  await writeAll(slow, pieces[pieces.length - 1]);
  const answer = await new AppReader(slow).next();
  strictEqual(decoder.decode(answer.content.subarray(0, 27)), "First 10 bytes of request: ");

  // One more byte declared: refused from the header alone, no content needed.
  using over = await connect(port);
  await writeAll(over, appFrame({ ...header, "content-length": limit + 1 }, new Uint8Array(0)));
  const reader = new AppReader(over);
  deepStrictEqual((await reader.next(2000)).json, {
    error: `Cannot read content: "content-length" of "${limit + 1}" exceeds the limit of ${limit}`,
  });
  strictEqual((await reader.rest()).end, "eof");
  const app = (await svc.endpoints()).app;
  deepStrictEqual(app.limitHits, { "app-content-length": 1 });
});

Deno.test("app endpoint counts a content-length limit hit only when its error frame is the one sent", async () => {
  await using svc = startService({ appMaxContent: 16 });
  using conn = await connect(svc.port("app"));
  const header = { byteorder: "little", "content-type": "text/json", "content-encoding": "utf-8" };
  // One write, so one read: a request with bad JSON content, then an oversized header.
  await writeAll(
    conn,
    concat([
      appFrame({ ...header, "content-length": 6 }, encoder.encode("{nope}")),
      appFrame({ ...header, "content-length": 17 }, new Uint8Array(0)),
    ]),
  );
  const reader = new AppReader(conn);
  deepStrictEqual((await reader.next()).json, {
    error: 'Cannot parse content: "{nope}" is not valid JSON',
  });
  strictEqual((await reader.rest()).end, "eof");
  const app = (await svc.endpoints()).app;
  deepStrictEqual([app.errors, app.limitHits], [{ protocol: 1 }, {}]);
});
