/**
 * The app endpoint over real sockets: requests whole, byte by byte and
 * pipelined; every malformed input gets one error frame and a graceful close
 * while other connections carry on; the packet log shows what was decoded.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { PacketEntry } from "../lib/capture/packet_log.ts";
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
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const RESULT_HEADER = {
  byteorder: "little",
  "content-type": "text/json",
  "content-encoding": "utf-8",
};

Deno.test("app endpoint answers a request written in one write", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("app"));
  await writeAll(conn, appRequest("search", "morpheus"));
  const answer = await new AppReader(conn).next();
  deepStrictEqual(answer.json, { result: "Follow the white rabbit. 🐰" });
  deepStrictEqual(answer.header, { ...RESULT_HEADER, "content-length": 43 });
});

Deno.test("app endpoint answers a request written one byte per write", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("app"));
  conn.setNoDelay(true);
  const request = appRequest("search", "🐶");
  for (let i = 0; i < request.length - 1; i++) await writeAll(conn, request.subarray(i, i + 1));
  // All but the last byte: the server holds part of the content, unparsed, and has not answered.
  const held = await waitFor("the partial content to show as app.rxBuffered", async () => {
    const row = (await svc.sockets("?endpoint=app")).find((s) => s.kind === "conn");
    return row !== undefined && row.app!.rxBuffered > 0 && row;
  });
  strictEqual(held.bytesOut, 0);
  await writeAll(conn, request.subarray(request.length - 1));
  const answer = await new AppReader(conn).next();
  deepStrictEqual(answer.json, { result: "🐾 Playing ball! 🏐" });
  const row = (await svc.sockets("?endpoint=app")).find((s) => s.kind === "conn")!;
  strictEqual(row.bytesIn, request.length);
  strictEqual(row.app!.rxBuffered, 0);
});

Deno.test("app endpoint answers several requests in one write, in order", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("app"));
  await writeAll(
    conn,
    concat([
      appRequest("search", "morpheus"),
      appRequest("search", "ring"),
      appRequest("binary", "😃"),
      appRequest("search", "🐶"),
      appRequest("search", "neo"),
      appFrame({
        byteorder: "big",
        "content-type": "text/json",
        "content-encoding": "utf-8",
        "content-length": 32,
      }, encoder.encode('{"action":"find","value":"neo"}\n')),
    ]),
  );
  const reader = new AppReader(conn);
  deepStrictEqual((await reader.next()).json, { result: "Follow the white rabbit. 🐰" });
  deepStrictEqual((await reader.next()).json, {
    result: "In the caves beneath the Misty Mountains. 💍",
  });
  const binary = await reader.next();
  deepStrictEqual(binary.header, {
    byteorder: "little",
    "content-type": "binary/custom-server-binary-type",
    "content-encoding": "binary",
    "content-length": 37,
  });
  deepStrictEqual(
    binary.content,
    concat([encoder.encode("First 10 bytes of request: binary"), encoder.encode("😃")]),
  );
  deepStrictEqual((await reader.next()).json, { result: "🐾 Playing ball! 🏐" });
  deepStrictEqual((await reader.next()).json, { result: 'No match for "neo".' });
  deepStrictEqual((await reader.next()).json, { result: 'Error: invalid action "find".' });
  // The connection stays open for more.
  await writeAll(conn, appRequest("search", "morpheus"));
  deepStrictEqual((await reader.next()).json, { result: "Follow the white rabbit. 🐰" });
});

const HEADER = { byteorder: "little", "content-type": "text/json", "content-encoding": "utf-8" };

/** Every malformed input PRODUCT.md names, with the error message the user sees. */
const MALFORMED: {
  name: string;
  bytes: Uint8Array;
  error: string;
  kind: string;
  /** The limit counted in /metrics, where the input hit one. */
  limit?: string;
}[] = [
  {
    name: "a header that is not JSON",
    bytes: rawAppFrame(encoder.encode("{byteorder: little}")),
    error: 'Cannot parse header: "{byteorder: little}" is not valid JSON',
    kind: "header-json",
  },
  {
    name: "a header missing content-encoding",
    bytes: appFrame(
      { byteorder: "little", "content-type": "text/json", "content-length": 2 },
      encoder.encode("{}"),
    ),
    error: 'Cannot parse header: missing required field "content-encoding"',
    kind: "header-field",
  },
  {
    name: "a content-length that is a string",
    bytes: appFrame({ ...HEADER, "content-length": "2" }, encoder.encode("{}")),
    error: 'Cannot parse header: "content-length" is not an integer',
    kind: "content-length",
  },
  {
    name: "a content-length that is a fraction",
    bytes: appFrame({ ...HEADER, "content-length": 1.5 }, encoder.encode("{}")),
    error: 'Cannot parse header: "content-length" is not an integer',
    kind: "content-length",
  },
  {
    name: "an oversized content-length",
    // The first bytes of the content come along; the error frame must still arrive intact.
    bytes: appFrame({ ...HEADER, "content-length": 1_048_577 }, new Uint8Array(30_000).fill(120)),
    error: 'Cannot read content: "content-length" of "1048577" exceeds the limit of 1048576',
    kind: "content-too-large",
    limit: "app-content-length",
  },
  {
    name: "a header length of 0",
    bytes: new Uint8Array([0, 0, 0x7b, 0x7d]),
    error: "Cannot parse header: header length is 0",
    kind: "header-empty",
  },
  {
    name: "a header that is not UTF-8",
    bytes: rawAppFrame(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
    error: "Cannot parse header: not valid UTF-8",
    kind: "header-utf8",
  },
];

for (const { name, bytes, error, kind, limit } of MALFORMED) {
  Deno.test(`app endpoint answers ${name} with one error frame, then closes gracefully`, async () => {
    await using svc = startService();
    const port = svc.port("app");
    using good = await connect(port);
    const bad = await connect(port);
    try {
      // A valid request first: the error must not undo answers already owed.
      await writeAll(bad, concat([appRequest("search", "ring"), bytes]));
      const reader = new AppReader(bad);
      deepStrictEqual((await reader.next()).json, {
        result: "In the caves beneath the Misty Mountains. 💍",
      });
      const frame = await reader.next();
      deepStrictEqual(frame.json, { error });
      strictEqual(frame.header["content-type"], "text/json");
      strictEqual(frame.header["content-encoding"], "utf-8");
      const rest = await reader.rest();
      strictEqual(rest.end, "eof", "the server closes with FIN after the error frame, not RST");
      strictEqual(rest.bytes.length, 0, "exactly one error frame");
    } finally {
      closeQuietly(bad);
    }

    // Another connection, opened before the bad one, is unaffected.
    await writeAll(good, appRequest("search", "morpheus"));
    deepStrictEqual((await new AppReader(good).next()).json, {
      result: "Follow the white rabbit. 🐰",
    });

    const app = await waitFor("the bad connection to be closed", async () => {
      const e = (await svc.endpoints()).app;
      return e.closed === 1 && e;
    });
    strictEqual(app.connections, 1);
    deepStrictEqual(app.errors, { protocol: 1 });
    deepStrictEqual(app.limitHits, limit === undefined ? {} : { [limit]: 1 });

    // The packet log tells what was decoded and what was wrong.
    const log = await svc.api<{ packets: PacketEntry[] }>("/api/packets?endpoint=app&limit=50");
    const notes = log.body.packets.flatMap((p) =>
      (p.decoded ?? []).map((n) => ({ dir: p.dir, ...n }))
    );
    ok(
      notes.some((n) =>
        n.dir === "in" && n.kind === "app" &&
        n.summary === 'app request text/json search "ring" (34 B)'
      ),
      JSON.stringify(notes),
    );
    ok(
      notes.some((n) => n.dir === "in" && n.kind === "app-error" && n.error && n.summary === error),
      JSON.stringify(notes),
    );
    ok(
      notes.some((n) => n.dir === "out" && n.error && n.summary.startsWith(`app error ${kind} `)),
      JSON.stringify(notes),
    );
  });
}

Deno.test("app endpoint answers bad JSON content with one error frame, then closes", async () => {
  await using svc = startService();
  using conn = await connect(svc.port("app"));
  await writeAll(conn, appFrame({ ...HEADER, "content-length": 6 }, encoder.encode("{nope}")));
  const reader = new AppReader(conn);
  deepStrictEqual((await reader.next()).json, {
    error: 'Cannot parse content: "{nope}" is not valid JSON',
  });
  const rest = await reader.rest();
  strictEqual(rest.end, "eof");
  strictEqual(decoder.decode(rest.bytes), "");
});

Deno.test("app endpoint error frame reaches a client that keeps writing", async () => {
  // The server reads what the client still sends after the error instead of resetting.
  await using svc = startService();
  using conn = await connect(svc.port("app"));
  await writeAll(conn, new Uint8Array([0, 0]));
  const reader = new AppReader(conn);
  deepStrictEqual((await reader.next()).json, { error: "Cannot parse header: header length is 0" });
  await writeAll(conn, new Uint8Array(64 * 1024).fill(1));
  const rest = await reader.rest();
  strictEqual(rest.end, "eof");
});
