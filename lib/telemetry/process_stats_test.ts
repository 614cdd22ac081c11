import { deepStrictEqual, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { parseMaxOpenFiles, parseProcStat, readProcessStats } from "./process_stats.ts";
import { renderMetrics } from "./prometheus.ts";

// A real line from `cat /proc/self/stat` on Linux 6.18.
const CAT_STAT = "7059 (cat) R 7055 7055 6647 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 2046995 " +
  "3133440 359 18446744073709551615 94765497327616 94765497347497 140722743994848 0 0 0 0 0 0 " +
  "0 0 0 17 1 0 0 0 0 0 94765497363504 94765497365120 94765993431040 140722744003287 " +
  "140722744003307 140722744003307 140722744004587 0\n";

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            20000                1048576              files     
Max locked memory         8388608              8388608              bytes     
`;

/** A stat line for a process whose comm is `comm`, with the given times and size. */
function statLine(comm: string, utime: number, stime: number, vsize: number): string {
  return `4242 (${comm}) S 1 4242 4242 0 -1 4194560 1200 0 0 0 ${utime} ${stime} 0 0 20 0 9 0 ` +
    `1500 ${vsize} 9000 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 17 3 0 0 0 0 0\n`;
}

Deno.test("parseProcStat() reads utime, stime and vsize of a real stat line", () => {
  deepStrictEqual(parseProcStat(CAT_STAT), { utimeTicks: 0, stimeTicks: 0, vsizeBytes: 3133440 });
  deepStrictEqual(parseProcStat(statLine("deno", 250, 75, 2_000_000_000)), {
    utimeTicks: 250,
    stimeTicks: 75,
    vsizeBytes: 2_000_000_000,
  });
});

Deno.test("parseProcStat() counts fields from the last ')' of a comm with spaces and ')'", () => {
  const expected = { utimeTicks: 31, stimeTicks: 7, vsizeBytes: 123456789 };
  deepStrictEqual(parseProcStat(statLine("a b) c", 31, 7, 123456789)), expected);
  deepStrictEqual(parseProcStat(statLine(") S 1 2 3 (", 31, 7, 123456789)), expected);
  deepStrictEqual(parseProcStat(statLine(":)", 31, 7, 123456789)), expected);
});

Deno.test("parseProcStat() rejects text that is not a stat line, naming the field", () => {
  throws(() => parseProcStat("4242 deno S 1"), {
    name: "SyntaxError",
    message: 'Cannot parse /proc stat: "4242 deno S 1" has no (comm)',
  });
  throws(() => parseProcStat("4242 (deno) S 1 2 3"), {
    name: "SyntaxError",
    message: 'Cannot parse /proc stat: utime "undefined" is not a count',
  });
  throws(() => parseProcStat(statLine("deno", 1, 2, 3).replace(" 1 2 0 0 ", " 1 -2 0 0 ")), {
    name: "SyntaxError",
    message: 'Cannot parse /proc stat: stime "-2" is not a count',
  });
});

Deno.test("parseMaxOpenFiles() reads the soft limit, unlimited as Infinity", () => {
  strictEqual(parseMaxOpenFiles(LIMITS), 20000);
  strictEqual(parseMaxOpenFiles(LIMITS.replace("20000 ", "unlimited")), Infinity);
  strictEqual(parseMaxOpenFiles("Max cpu time unlimited unlimited seconds\n"), null);
});

Deno.test("readProcessStats() turns ticks into seconds and leaves out what /proc cannot give", async () => {
  const memoryUsage = () => ({ rss: 5000, heapUsed: 300, heapTotal: 400, external: 60 });
  const files: Record<string, string> = {
    "/proc/self/stat": statLine("deno", 250, 75, 2_000_000_000),
    "/proc/self/limits": LIMITS,
  };
  const linux = await readProcessStats(1_700_000_000_500, {
    readTextFile: (path) => Promise.resolve(files[path]),
    countEntries: () => Promise.resolve(12),
    memoryUsage,
  });
  deepStrictEqual(linux, {
    cpuSeconds: 3.25,
    residentBytes: 5000,
    virtualBytes: 2_000_000_000,
    startTimeSeconds: 1_700_000_000.5,
    openFds: 12,
    maxFds: 20000,
    heapUsedBytes: 300,
    heapTotalBytes: 400,
    externalBytes: 60,
  });
  const denied = (path: string) => Promise.reject(new Deno.errors.PermissionDenied(path));
  const noProc = await readProcessStats(1_700_000_000_500, {
    readTextFile: denied,
    countEntries: denied,
    memoryUsage,
  });
  strictEqual(noProc.cpuSeconds, null);
  strictEqual(noProc.virtualBytes, null);
  strictEqual(noProc.openFds, null);
  strictEqual(noProc.maxFds, null);
  strictEqual(noProc.residentBytes, 5000);
  strictEqual(noProc.startTimeSeconds, 1_700_000_000.5);
});

Deno.test("readProcessStats() rejects a /proc/self/stat it cannot parse rather than guess", async () => {
  await rejects(
    readProcessStats(0, {
      readTextFile: () => Promise.resolve("garbage"),
      countEntries: () => Promise.resolve(3),
    }),
    { name: "SyntaxError" },
  );
});

Deno.test("readProcessStats() reads plausible numbers of this process on Linux", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const stats = await readProcessStats(Date.now() - 1000);
  ok(stats.residentBytes > 0, `rss ${stats.residentBytes}`);
  ok(stats.virtualBytes !== null && stats.virtualBytes >= stats.residentBytes);
  ok(stats.cpuSeconds !== null && stats.cpuSeconds >= 0, `cpu ${stats.cpuSeconds}`);
  ok(stats.openFds !== null && stats.openFds >= 3, `open fds ${stats.openFds}`);
  ok(stats.maxFds !== null && stats.maxFds >= stats.openFds, `max fds ${stats.maxFds}`);
  ok(stats.heapUsedBytes > 0 && stats.heapUsedBytes <= stats.heapTotalBytes);
  ok(Math.abs(stats.startTimeSeconds - (Date.now() / 1000 - 1)) < 5);
});

Deno.test("renderMetrics() shows the process families it is given and leaves out unknown ones", async () => {
  const stats = await readProcessStats(1_700_000_000_500, {
    readTextFile: (path) => Promise.reject(new Deno.errors.NotFound(path)),
    countEntries: () => Promise.resolve(12),
    memoryUsage: () => ({ rss: 5000, heapUsed: 300, heapTotal: 400, external: 60 }),
  });
  const base = { endpoints: [], packetLog: { entries: 0, capacity: 1, dropped: 0 } };
  const text = renderMetrics({ ...base, sockets: null, uptimeSeconds: 1, process: stats });
  const lines = text.split("\n");
  for (
    const sample of [
      "process_resident_memory_bytes 5000",
      "process_start_time_seconds 1700000000.5",
      "process_open_fds 12",
      "sockscope_js_heap_used_bytes 300",
      "sockscope_js_heap_total_bytes 400",
      "sockscope_js_external_bytes 60",
    ]
  ) {
    const name = sample.split(" ")[0];
    ok(lines.includes(sample), `missing ${sample}`);
    ok(lines.some((l) => l.startsWith(`# HELP ${name} `)), `no HELP for ${name}`);
    ok(lines.includes(`# TYPE ${name} gauge`), `no TYPE for ${name}`);
  }
  for (
    const name of ["process_cpu_seconds_total", "process_virtual_memory_bytes", "process_max_fds"]
  ) {
    ok(!text.includes(name), `${name} shown without /proc`);
  }
  const without = renderMetrics({ ...base, sockets: null, uptimeSeconds: 1 });
  ok(!without.includes("process_"), "process families without process stats");
  ok(!without.includes("sockscope_js_"), "heap families without process stats");
});
