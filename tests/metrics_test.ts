/**
 * `/metrics` as Prometheus reads it: the whole exposition parsed by a small
 * strict parser (every family has HELP and TYPE before its samples, names
 * and labels well formed, no duplicate series, histograms cumulative), and
 * the counters moving with real traffic.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  AppReader,
  appRequest,
  closeQuietly,
  connect,
  encoder,
  HOST,
  rawAppFrame,
  readExactly,
  readToEnd,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";

interface Family {
  name: string;
  type: string;
  help: string;
  /** Samples by series key: `name{a="1",b="2"}` with labels in order. */
  samples: Map<string, number>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

/** Parses the text exposition format (0.0.4) strictly; throws on anything malformed. */
function parseExposition(text: string): Map<string, Family> {
  ok(text.endsWith("\n"), "the exposition ends with a newline");
  const families = new Map<string, Family>();
  let current: Family | null = null;
  const seen = new Set<string>();
  for (const [i, line] of text.slice(0, -1).split("\n").entries()) {
    const where = `line ${i + 1}: ${line}`;
    if (line.startsWith("# HELP ")) {
      const [, name, help] = /^# HELP (\S+) (.+)$/.exec(line) ?? [];
      ok(name && NAME.test(name) && help, `bad HELP at ${where}`);
      ok(!families.has(name), `second HELP for ${name}`);
      current = { name, type: "", help, samples: new Map() };
      families.set(name, current);
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [, name, type] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? [];
      ok(current !== null && current.name === name, `TYPE without its HELP first at ${where}`);
      ok(current.type === "", `second TYPE for ${name}`);
      ok(TYPES.has(type), `unknown type at ${where}`);
      current.type = type;
      continue;
    }
    ok(!line.startsWith("#") && line.trim() !== "", `stray line at ${where}`);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    ok(m !== null, `bad sample at ${where}`);
    const [, name, , labelText, valueText] = m;
    ok(current !== null && current.type !== "", `sample before HELP/TYPE at ${where}`);
    const suffixes = current.type === "histogram" ? ["_bucket", "_sum", "_count"] : [""];
    ok(suffixes.some((s) => name === current!.name + s), `sample of another family at ${where}`);
    const labels: string[] = [];
    let rest = labelText ?? "";
    while (rest !== "") {
      const lm = /^([^=]+)="((?:[^"\\]|\\["\\n])*)"(,|$)/.exec(rest);
      ok(lm !== null && LABEL.test(lm[1]), `bad labels at ${where}`);
      labels.push(`${lm[1]}="${lm[2]}"`);
      rest = rest.slice(lm[0].length);
    }
    const value = valueText === "+Inf"
      ? Infinity
      : valueText === "-Inf"
      ? -Infinity
      : Number(valueText);
    ok(valueText === "NaN" || !Number.isNaN(value), `bad value at ${where}`);
    const key = `${name}{${labels.join(",")}}`;
    ok(!seen.has(key), `duplicate series ${key}`);
    seen.add(key);
    current.samples.set(key, value);
  }
  for (const f of families.values()) {
    ok(f.type !== "", `${f.name} has no TYPE`);
    if (f.type === "counter") ok(f.name.endsWith("_total"), `counter ${f.name} without _total`);
    if (f.type === "histogram") checkHistogram(f);
  }
  return families;
}

function checkHistogram(f: Family): void {
  const series = new Map<string, [number, number][]>();
  for (const [key, value] of f.samples) {
    const m = /^(\w+)_bucket\{(.*),le="([^"]+)"\}$/.exec(key);
    if (m === null) continue;
    const le = m[3] === "+Inf" ? Infinity : Number(m[3]);
    series.set(m[2], [...(series.get(m[2]) ?? []), [le, value]]);
  }
  for (const [labels, buckets] of series) {
    for (let i = 1; i < buckets.length; i++) {
      ok(buckets[i][0] > buckets[i - 1][0], `${f.name}{${labels}} bounds not ascending`);
      ok(buckets[i][1] >= buckets[i - 1][1], `${f.name}{${labels}} buckets not cumulative`);
    }
    strictEqual(buckets[buckets.length - 1][0], Infinity);
    strictEqual(buckets[buckets.length - 1][1], f.samples.get(`${f.name}_count{${labels}}`));
    ok(f.samples.has(`${f.name}_sum{${labels}}`));
  }
}

async function scrape(svc: TestService) {
  const res = await svc.app.fetch(new Request("http://x/metrics"));
  strictEqual(res.status, 200);
  strictEqual(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const families = parseExposition(await res.text());
  return (name: string, labels = ""): number => {
    const family = families.get(name.replace(/_(bucket|sum|count)$/, "")) ?? families.get(name);
    ok(family !== undefined, `no family ${name}`);
    return family.samples.get(`${name}{${labels}}`) ?? 0;
  };
}

Deno.test("GET /metrics parses strictly and its counters move with traffic", async () => {
  await using svc = startService({ maxConns: 3 });
  const before = await scrape(svc);
  const ep = (name: string) => `endpoint="${name}"`;

  // Echo: one connection, 11 bytes each way, closed by us.
  const echo = await connect(svc.port("echo"));
  await writeAll(echo, encoder.encode("hello there"));
  await readExactly(echo, 11);
  echo.close();
  // App: two requests on one connection, then a malformed one (protocol error, then close).
  const app = await connect(svc.port("app"));
  const reader = new AppReader(app);
  for (const req of [appRequest("search", "ring"), appRequest("binary", "x")]) {
    await writeAll(app, req);
    await reader.next();
  }
  await writeAll(app, rawAppFrame(encoder.encode("{not json")));
  await reader.next();
  await reader.rest();
  closeQuietly(app);
  // UDP: one datagram each way.
  const udp = Deno.listenDatagram({ transport: "udp", hostname: HOST, port: 0 });
  await udp.send(encoder.encode("dgram"), {
    transport: "udp",
    hostname: HOST,
    port: svc.port("udp"),
  });
  await udp.receive();
  udp.close();
  // A fourth connection over maxConns 3 is refused.
  const held = await Promise.all([0, 1, 2].map(() => connect(svc.port("multiconn"))));
  for (const c of held) {
    await writeAll(c, encoder.encode("x"));
    await readExactly(c, 1);
  }
  const refused = await connect(svc.port("multiconn"));
  await readToEnd(refused);
  for (const c of [...held, refused]) closeQuietly(c);

  await waitFor("the echo and app connections closed", async () => {
    const m = await scrape(svc);
    return m("sockscope_connections", ep("echo")) === 0 &&
      m("sockscope_connections", ep("app")) === 0;
  });
  const after = await scrape(svc);
  const delta = (name: string, labels = "") => after(name, labels) - before(name, labels);

  deepStrictEqual(
    [
      delta("sockscope_connections_accepted_total", ep("echo")),
      delta("sockscope_connections_closed_total", ep("echo")),
      delta("sockscope_received_bytes_total", ep("echo")),
      delta("sockscope_sent_bytes_total", ep("echo")),
    ],
    [1, 1, 11, 11],
  );
  ok(
    delta("sockscope_reads_total", ep("echo")) >= 1 &&
      delta("sockscope_writes_total", ep("echo")) >= 1,
  );
  strictEqual(delta("sockscope_errors_total", `${ep("app")},kind="protocol"`), 1);
  strictEqual(delta("sockscope_connections_refused_total", ep("multiconn")), 1);
  strictEqual(delta("sockscope_limit_hits_total", `${ep("multiconn")},kind="max-conns"`), 1);
  deepStrictEqual(
    [
      delta("sockscope_received_bytes_total", ep("udp")),
      delta("sockscope_sent_bytes_total", ep("udp")),
    ],
    [5, 5],
  );
  // Two requests answered, each timed; the malformed frame is an error, not a request.
  const count = delta("sockscope_app_request_duration_seconds_count", ep("app"));
  strictEqual(count, 2);
  ok(delta("sockscope_app_request_duration_seconds_sum", ep("app")) > 0);
  strictEqual(delta("sockscope_app_request_duration_seconds_bucket", `${ep("app")},le="+Inf"`), 2);
  // The capture saw every byte of it; nothing was dropped.
  ok(delta("sockscope_capture_packets_total") >= 8);
  ok(delta("sockscope_capture_bytes_total") >= 11 + 11 + 10);
  strictEqual(after("sockscope_capture_dropped_packets_total"), 0);
  strictEqual(after("sockscope_capture_enabled"), 1);
  ok(after("sockscope_packet_log_entries") > before("sockscope_packet_log_entries"));
});

Deno.test("GET /metrics declares the capture families even with the capture off", async () => {
  await using svc = startService({ captureBytes: 0, kernel: undefined });
  const m = await scrape(svc);
  strictEqual(m("sockscope_capture_enabled"), 0);
  strictEqual(m("sockscope_app_request_duration_seconds_count", 'endpoint="app"'), 0);
});
