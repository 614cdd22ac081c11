/**
 * The service under test: sockscope's `Service` with every endpoint on port 0
 * and default options (packet log on), the wire view on as `deno task start` runs it
 * (`--options '{"wire":false}'` for `--no-wire`). Prints `{"port":N}` (the echo port)
 * once listening; on SIGTERM prints `{"stats":{…}}` (the echo endpoint's
 * counters) and exits.
 *
 * With `--dashboard`, a consumer polls the packet log every 250 ms the way
 * routes/api/events.ts does (new entries after the last seen, 500 at most,
 * serialised to JSON), to show what an open dashboard costs.
 *
 * `--options JSON` adds service options (`'{"captureBytes":0}'`), to tell
 * which part of the observation costs what.
 *
 *     deno run -A bench/observed_echo.ts [--dashboard] [--options JSON] [--max-seconds 600]
 */
import { ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { Service, type ServiceOptions } from "../lib/net/service.ts";
import { onStop, serverArgs } from "./_server.ts";

const { maxSeconds, dashboard, serviceOptions } = serverArgs(Deno.args);
// Every endpoint on a free port, so a running service on the default ports does not collide.
const ports = Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0]));
const service = new Service({ wire: true, ...serviceOptions, ports } as ServiceOptions);
const echo = service.tcp.get("echo")!;

const polled = { polls: 0, entries: 0, jsonBytes: 0 };
let poller: ReturnType<typeof setInterval> | undefined;
if (dashboard) {
  const batch = 500;
  let after = service.log.lastSeq;
  poller = setInterval(() => {
    const last = service.log.lastSeq;
    polled.polls++;
    if (last <= after) return;
    const oldest = Math.max(after, last - batch * 4);
    const list = service.log.query({ after: oldest, limit: batch });
    after = list.length === batch ? list[list.length - 1].seq : last;
    polled.entries += list.length;
    polled.jsonBytes += JSON.stringify({ packets: list, lastSeq: after }).length;
  }, 250);
}

onStop(maxSeconds, async () => {
  if (poller !== undefined) clearInterval(poller);
  const s = echo.stats;
  // Share of the newest reads that filled exactly one small slot (see buffer_pool.ts).
  const recent = service.log.query({ endpoint: "echo", dir: "in", limit: service.log.capacity });
  const smallFull = recent.filter((e) => e.len === service.pool.smallSize).length;
  // Frames still in the ring's open block are handed over within its 8 ms retire timeout.
  let before = -1;
  for (let i = 0; i < 20 && service.wire.available; i++) {
    const now = service.wire.status().packets;
    if (now === before) break;
    before = now;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const wire = service.wire.status();
  const stats = {
    accepted: s.accepted,
    bytesIn: s.bytesIn,
    reads: s.messagesIn,
    writes: s.messagesOut,
    errors: Object.values(s.errors).reduce((a, b) => a + b, 0),
    logSeq: service.log.lastSeq,
    largeInUse: service.pool.largeInUse,
    recentReads: recent.length,
    recentSmallFullReads: smallFull,
    wire: {
      available: wire.available,
      reason: wire.reason,
      packets: wire.packets,
      drops: wire.drops,
      payloadBytes: service.wire.payloadBytes,
      retransmittedBytes: service.wire.retransmittedBytes,
      appBytes: s.bytesIn + s.bytesOut,
    },
    ...(dashboard ? { dashboard: polled } : {}),
  };
  await service.close();
  return stats;
});
console.log(JSON.stringify({ port: echo.port }));
