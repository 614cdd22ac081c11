/**
 * OpenTelemetry: with OTEL_DENO=true, main.ts exports a span per connection
 * and per app request over OTLP (a receiver in the test takes the JSON
 * POSTs); without it, no tracer is installed. The span hooks are also tested
 * in process with a fake tracer.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { SpanAttributes, SpanLike, TracerLike } from "../lib/telemetry/tracing.ts";
import {
  AppReader,
  appRequest,
  connect,
  HOST,
  startService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { startMain } from "./_main_process.ts";

interface FakeSpan {
  name: string;
  kind?: number;
  attributes: SpanAttributes;
  status?: { code: number; message?: string };
  parent?: unknown;
  ended: boolean;
}

function fakeTracer(): { tracer: TracerLike; spans: FakeSpan[] } {
  const spans: FakeSpan[] = [];
  const tracer: TracerLike = {
    startSpan(name, options = {}, parent) {
      const span: FakeSpan = {
        name,
        kind: options.kind,
        attributes: { ...options.attributes },
        parent,
        ended: false,
      };
      spans.push(span);
      const like: SpanLike = {
        setAttributes(a) {
          Object.assign(span.attributes, a);
        },
        setStatus(s) {
          span.status = s;
        },
        end() {
          span.ended = true;
        },
      };
      return like;
    },
  };
  return { tracer, spans };
}

Deno.test("a tracer gets a span per connection and per app request, ended with the outcome", async () => {
  const { tracer, spans } = fakeTracer();
  await using svc = startService({ kernel: undefined, tracer });
  const conn = await connect(svc.port("app"));
  const reader = new AppReader(conn);
  await writeAll(conn, appRequest("search", "morpheus"));
  await reader.next();
  conn.close();
  await waitFor(
    "the connection span ended",
    () => spans.find((s) => s.name === "app connection")?.ended,
  );
  const connSpan = spans.find((s) => s.name === "app connection")!;
  const request = spans.find((s) => s.name === "app request")!;
  ok(request.ended);
  strictEqual(request.attributes["sockscope.conn"], connSpan.attributes["sockscope.conn"]);
  ok(request.parent !== undefined, "the request span has no parent");
  deepStrictEqual(
    [
      connSpan.attributes["sockscope.close_reason"],
      connSpan.attributes["sockscope.bytes_out"] as number > 0,
    ],
    ["closed by peer", true],
  );
  strictEqual(connSpan.status, undefined);
});

Deno.test("a UDP flow gets a span labelled udp, ended when the service stops", async () => {
  const { tracer, spans } = fakeTracer();
  const svc = startService({ kernel: undefined, tracer });
  const sock = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  try {
    await sock.send(new TextEncoder().encode("ping"), {
      transport: "udp",
      hostname: HOST,
      port: svc.port("udp"),
    });
    await sock.receive();
  } finally {
    sock.close();
    await svc[Symbol.asyncDispose]();
  }
  const flow = spans.find((s) => s.name === "udp flow");
  ok(flow, `spans: ${spans.map((s) => s.name)}`);
  strictEqual(flow.attributes["network.transport"], "udp");
  ok(flow.ended, "the flow's span was not ended");
});

Deno.test("without OTEL_DENO no tracer is installed", async () => {
  await using svc = startService({ kernel: undefined });
  strictEqual(svc.service.tracing, null);
});

Deno.test("main.ts with OTEL_DENO=true exports connection and request spans over OTLP", async () => {
  const bodies: string[] = [];
  await using receiver = Deno.serve(
    { hostname: HOST, port: 0, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      const text = await req.text();
      if (path === "/v1/traces") bodies.push(text);
      return new Response("{}", { headers: { "content-type": "application/json" } });
    },
  );
  {
    await using main = startMain([], {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://${HOST}:${receiver.addr.port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_SERVICE_NAME: "sockscope-test",
      OTEL_DENO_CONSOLE: "ignore",
    });
    let appPort = 0;
    for (let i = 0; i < 40 && appPort === 0; i++) {
      const m = /^\s+app\s+tcp \S+:(\d+)/.exec((await main.line(20_000)) ?? "");
      if (m) appPort = Number(m[1]);
    }
    ok(appPort > 0, "no app endpoint in the banner");
    const conn = await connect(appPort);
    const reader = new AppReader(conn);
    await writeAll(conn, appRequest("search", "ring"));
    await reader.next();
    conn.close();
    // Spans are batched: the exporter flushes at the latest when the process exits.
    strictEqual(await main.stop(), 0);
  }
  const names = await waitFor("the spans at the receiver", () => {
    const all = bodies.flatMap((b) =>
      (JSON.parse(b).resourceSpans ?? []).flatMap((
        r: { scopeSpans: { spans: { name: string }[] }[] },
      ) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => sp.name)))
    );
    return all.includes("app request") && all.includes("app connection") ? all : null;
  }, { timeoutMs: 10_000 });
  ok(names.includes("app request"));
});
