/**
 * The dashboard's token never reaches a store: cookies ignore ports, so a
 * browser sends `Cookie: sockscope_token=…` to the http-hello lab (or any
 * endpoint), and the packet log, the follow-stream view, the pcapng export,
 * `--capture-dir` files, JSON event lines and spans keep it masked, while the
 * endpoints still get (and echo) the bytes as sent. Real sockets on port 0.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { PacketEntry } from "../lib/capture/packet_log.ts";
import type { SpanAttributes, SpanLike, TracerLike } from "../lib/telemetry/tracing.ts";
import { concat } from "../lib/bytes.ts";
import {
  AppReader,
  appRequest,
  connect,
  decoder,
  encoder,
  readExactly,
  readToEnd,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const TOKEN = crypto.randomUUID();
const latin1 = new TextDecoder("latin1");

/** Every run of 8 of the token's bytes: none may be in a store (a read may end with 7). */
function leaks(what: string, bytes: Uint8Array | string): void {
  const text = typeof bytes === "string" ? bytes : latin1.decode(bytes);
  for (let i = 0; i + 8 <= TOKEN.length; i++) {
    const at = text.indexOf(TOKEN.slice(i, i + 8));
    ok(
      at === -1,
      `${what} holds the token: ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 50))}`,
    );
  }
}

/** A tracer that keeps every attribute and status message it is given. */
function recordingTracer(seen: string[]): TracerLike {
  const span = (attributes: SpanAttributes = {}): SpanLike => {
    seen.push(JSON.stringify(attributes));
    return {
      setAttributes: (more) => void seen.push(JSON.stringify(more)),
      setStatus: (status) => void seen.push(JSON.stringify(status)),
      end() {},
    };
  };
  return { startSpan: (_name, options) => span(options?.attributes) };
}

Deno.test("the token a browser sends to an endpoint is masked in every store, not in the endpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sockscope-token-" });
  const events: string[] = [];
  const spans: string[] = [];
  try {
    await using svc = startService({
      kernel: undefined,
      token: TOKEN,
      captureDir: dir,
      logFormat: "json",
      eventSink: (line) => void events.push(line),
      tracer: recordingTracer(spans),
    });
    const request = encoder.encode(
      `GET /?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Cookie: theme=dark; sockscope_token=${TOKEN}\r\n\r\n`,
    );

    // The http-hello lab answers with a page quoting the request: it got the cookie as sent.
    const hello = await connect(svc.port("http-hello"));
    await writeAll(hello, request);
    const page = decoder.decode((await readToEnd(hello, { timeoutMs: 5000 })).bytes);
    hello.close();
    ok(page.includes(`sockscope_token=${TOKEN}`), "http-hello saw the cookie");

    // Echo, once whole and once cut inside the token: both come back byte for byte.
    const echo = await connect(svc.port("echo"));
    await writeAll(echo, request);
    deepStrictEqual(await readExactly(echo, request.length, 5000), request);
    const cut = decoder.decode(request).indexOf(`sockscope_token=`) + 16 + 12;
    const parts = [request.subarray(0, cut), request.subarray(cut)];
    const echoed: Uint8Array[] = [];
    for (const part of parts) {
      // One read each: the server echoed the first part before the second is sent.
      await writeAll(echo, part);
      echoed.push(await readExactly(echo, part.length, 5000));
    }
    deepStrictEqual(concat(echoed), request);
    echo.close();

    // The app protocol: the token as a search value, into a note and a span.
    const app = await connect(svc.port("app"));
    await writeAll(app, appRequest("search", TOKEN));
    await new AppReader(app).next(5000);
    app.close();

    await waitFor("every connection to close", async () => {
      const e = await svc.endpoints();
      return e.echo.connections + e["http-hello"].connections + e.app.connections === 0;
    }, { timeoutMs: 10_000 });
    await svc.service.captureFiles!.flush();

    const packets = await svc.api<{ packets: PacketEntry[] }>("/api/packets?limit=10000");
    strictEqual(packets.status, 200);
    const conns = new Set(packets.body.packets.map((p) => p.conn));
    strictEqual(conns.size, 3);
    leaks("/api/packets", JSON.stringify(packets.body));
    for (const p of packets.body.packets) {
      leaks(`/api/packets ${p.conn} #${p.seq}`, Uint8Array.fromBase64(p.data));
    }
    // The masked copy keeps lengths: the echo's reads and writes add up to what was sent.
    const echoIn = packets.body.packets.filter((p) => p.endpoint === "echo" && p.dir === "in");
    strictEqual(echoIn.reduce((n, p) => n + p.len, 0), 2 * request.length);

    for (const conn of conns) {
      const stream = await svc.api<{ records: { data: string; len: number }[] }>(
        `/api/sockets/${conn}/stream`,
      );
      strictEqual(stream.status, 200, conn);
      ok(stream.body.records.length > 0, conn);
      for (const r of stream.body.records) {
        const bytes = Uint8Array.fromBase64(r.data);
        strictEqual(bytes.length, r.len);
        leaks(`/api/sockets/${conn}/stream`, bytes);
      }
    }

    const pcap = await svc.app.fetch(new Request("http://x/api/capture.pcapng"));
    strictEqual(pcap.status, 200);
    const pcapBytes = new Uint8Array(await pcap.arrayBuffer());
    ok(
      latin1.decode(pcapBytes).includes("sockscope_token=****"),
      "the pcapng has the masked cookie",
    );
    leaks("/api/capture.pcapng", pcapBytes);

    const files = [...Deno.readDirSync(dir)];
    ok(files.length > 0, "no capture file written");
    for (const f of files) leaks(`capture file ${f.name}`, await Deno.readFile(`${dir}/${f.name}`));

    ok(events.length >= 6, `events: ${events.length}`);
    leaks("the JSON event log", events.join("\n"));
    ok(spans.some((s) => s.includes("sockscope.app.request")), "no app request span");
    leaks("the spans", spans.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("without a token nothing is masked: the capture keeps the bytes as sent", async () => {
  await using svc = startService({ kernel: undefined });
  const text = encoder.encode(`Cookie: sockscope_token=${TOKEN}\r\n`);
  const echo = await connect(svc.port("echo"));
  await writeAll(echo, text);
  deepStrictEqual(await readExactly(echo, text.length, 5000), text);
  echo.close();
  const packets = await svc.api<{ packets: PacketEntry[] }>("/api/packets?endpoint=echo");
  ok(
    packets.body.packets.some((p) => latin1.decode(Uint8Array.fromBase64(p.data)).includes(TOKEN)),
  );
  strictEqual(svc.service.redactor, null);
});
