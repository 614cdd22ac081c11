import assert from "node:assert/strict";
import { PacketLog } from "../capture/packet_log.ts";
import type { LiveEventName, LiveEvents, PacketsEvent } from "../view/live_events.ts";
import type {
  ChatSnapshot,
  ClientRun,
  EndpointView,
  KernelStatus,
  SocketRecord,
} from "../view/api_types.ts";
import { socketRecord as socket } from "../view/_socket_test_util.ts";
import {
  liveEvents,
  type LiveService,
  mergePackets,
  RECENT_RECHECK_MS,
  type SendLiveEvent,
} from "./event_source.ts";

const KERNEL: KernelStatus = {
  available: false,
  source: null,
  reason: "Kernel view not configured",
  sampledAt: null,
  tookMs: null,
};

/** A service with a real packet log, a clock it controls and counted snapshots. */
class FakeService implements LiveService {
  readonly log = new PacketLog({ entries: 10_000, previewBytes: 8 });
  readonly kernelStatus = KERNEL;
  readonly registry = {
    endpoints: new Map([["echo", { toJSON: () => ({ name: "echo" }) as EndpointView }]]),
  };
  /** Milliseconds of the clock given to liveEvents(). */
  now = 0;
  /** How far one snapshot moves the clock: its cost. */
  snapshotCostMs = 0;
  snapshots = 0;
  known = new Map<string, SocketRecord>([["echo-1", socket("echo-1")]]);

  sockets(): Promise<SocketRecord[]> {
    this.snapshots++;
    this.now += this.snapshotCostMs;
    return Promise.resolve([...this.known.values()]);
  }

  socket(id: string): Promise<SocketRecord | undefined> {
    return Promise.resolve(this.known.get(id));
  }

  /** A room whose snapshot is its version and the limit asked for, in the first message's name. */
  readonly chat = {
    version: 0,
    snapshot: (limit: number): ChatSnapshot => ({
      participants: [],
      messages: [{
        seq: this.chat.version,
        ts: 0,
        name: `limit ${limit}`,
        from: "web",
        conn: null,
        text: "",
        bytes: 0,
        relayedTo: 0,
      }],
    }),
  };
  runs: ClientRun[] = [];
  readonly launcher = { list: () => this.runs.map((r) => ({ ...r })) };
  readonly sink = { draining: false };

  record(endpoint: string, text: string): number {
    const src = { id: `${endpoint}-1`, endpoint };
    return this.log.record(src, "in", new TextEncoder().encode(text), Date.now());
  }
}

type Received = { [K in LiveEventName]: { event: K; data: LiveEvents[K] } }[LiveEventName];

/** Collects a stream's events; `next()` waits for one of a name, bounded in time. */
class Collector {
  events: Received[] = [];
  #waiters: { name: LiveEventName; seen: number; resolve: () => void }[] = [];
  behind = false;
  behindReads = 0;
  /** The stream as the source sees it; counts how often it asked. */
  readonly stream: { readonly behind: boolean };

  constructor() {
    const counted = () => (this.behindReads++, this.behind);
    this.stream = {
      get behind() {
        return counted();
      },
    };
  }

  send: SendLiveEvent = (event, data) => {
    this.events.push({ event, data } as Received);
    for (const w of this.#waiters) if (w.name === event) w.resolve();
    return true;
  };

  of<K extends LiveEventName>(name: K): LiveEvents[K][] {
    return this.events.filter((e) => e.event === name).map((e) => e.data as LiveEvents[K]);
  }

  /** Resolves with the first event of `name` after the `seen` already received. */
  async next<K extends LiveEventName>(
    name: K,
    seen = this.of(name).length,
  ): Promise<LiveEvents[K]> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      while (this.of(name).length <= seen) {
        await new Promise<void>((resolve, reject) => {
          this.#waiters.push({ name, seen, resolve });
          timer = setTimeout(() => reject(new Error(`No "${name}" event within 10 s`)), 10_000);
        });
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w.name !== name);
      }
      return this.of(name)[seen];
    } finally {
      clearTimeout(timer);
    }
  }
}

function start(service: FakeService, options: Parameters<typeof liveEvents>[1]) {
  const collector = new Collector();
  const source = liveEvents(service, { clock: () => service.now, ...options });
  const stop = source.run(collector.send, collector.stream);
  return { c: collector, source, [Symbol.dispose]: stop };
}

Deno.test("liveEvents() sends hello, endpoints and the first sockets snapshot at once", async () => {
  const service = new FakeService();
  service.record("echo", "one");
  using s = start(service, { startedAt: 42, packets: false });
  assert.deepEqual(s.c.events.slice(0, 2), [
    { event: "hello", data: { lastSeq: 1, startedAt: 42 } },
    { event: "endpoints", data: [{ name: "echo" }] },
  ]);
  const sockets = await s.c.next("sockets", 0);
  assert.deepEqual(sockets.sockets.map((r) => r.id), ["echo-1"]);
  assert.equal(sockets.kernel, KERNEL);
});

Deno.test("liveEvents() spaces sockets snapshots by what they cost over the budget", async () => {
  const service = new FakeService();
  // 10 ms a snapshot is 200 ms at a 5 % budget: longer than the 20 ms asked for.
  service.snapshotCostMs = 10;
  using s = start(service, { startedAt: 0, packets: false, socketsMs: 20 });
  assert.equal((await s.c.next("sockets", 0)).intervalMs, 200);
  service.snapshotCostMs = 0;
  using t = start(service, { startedAt: 0, packets: false, socketsMs: 20 });
  assert.equal((await t.c.next("sockets", 0)).intervalMs, 20);
});

Deno.test("liveEvents() takes no sockets snapshot while its stream is behind", async () => {
  const service = new FakeService();
  using s = start(service, { startedAt: 0, packets: false, socketsMs: 5 });
  await s.c.next("sockets", 0);
  s.c.behind = true;
  const reads = s.c.behindReads;
  const taken = service.snapshots;
  // Each due snapshot asks whether the stream is behind: let several come due.
  for (let i = 0; i < 500 && s.c.behindReads < reads + 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(s.c.behindReads >= reads + 3, "no snapshot came due");
  assert.ok(service.snapshots <= taken + 1, `${service.snapshots - taken} snapshots while behind`);
  s.c.behind = false;
  await s.c.next("sockets");
});

Deno.test("liveEvents() tails the packet log, filtered, and skips what a slow tail left behind", async () => {
  const service = new FakeService();
  using s = start(service, { startedAt: 0, sockets: false, batch: 10, filter: { endpoint: "a" } });
  service.record("a", "x");
  service.record("b", "y");
  const first = await s.c.next("packets", 0);
  assert.deepEqual(first.packets.map((p) => [p.seq, p.endpoint]), [[1, "a"]]);
  assert.deepEqual([first.skipped, first.lastSeq], [0, 2]);
  // 100 entries at once: only the newest batch * 4 are looked at, the rest are skipped.
  for (let i = 0; i < 100; i++) service.record("a", "z");
  const next = await s.c.next("packets", 1);
  assert.equal(next.skipped, 100 - 40);
  assert.deepEqual(next.packets.map((p) => p.seq), [63, 64, 65, 66, 67, 68, 69, 70, 71, 72]);
});

Deno.test("liveEvents() sends an endpoint's recent packets again when a note attaches late", async () => {
  const service = new FakeService();
  const seq = service.record("frame-fixed", "abc");
  service.record("echo", "other");
  using s = start(service, {
    startedAt: 0,
    sockets: false,
    packets: false,
    recent: ["frame-fixed", "discard"],
    recentLimit: 2,
  });
  const first = await s.c.next("recent", 0);
  assert.deepEqual(Object.keys(first), ["frame-fixed", "discard"]);
  assert.deepEqual(first["frame-fixed"].packets.map((p) => p.seq), [seq]);
  assert.deepEqual(first.discard, { packets: [], evicted: 0 });
  // A note on the entry already sent, with no new packet: the stream notices within its recheck.
  service.log.annotate(seq, { kind: "framing", summary: "the peer half-closed" });
  service.now += RECENT_RECHECK_MS;
  const noted = await s.c.next("recent", 1);
  assert.deepEqual(noted["frame-fixed"].packets[0].decoded, [
    { kind: "framing", summary: "the peer half-closed" },
  ]);
  service.record("frame-fixed", "d");
  service.record("frame-fixed", "e");
  const newer = await s.c.next("recent", 2);
  assert.deepEqual(newer["frame-fixed"].packets.map((p) => p.seq), [seq + 2, seq + 3]);
});

Deno.test("liveEvents() reports one socket, and null once the service forgets it", async () => {
  const service = new FakeService();
  using s = start(service, { startedAt: 0, sockets: false, packets: false, socket: "echo-1" });
  const first = await s.c.next("socket", 0);
  assert.equal(first.socket?.id, "echo-1");
  assert.equal(first.kernel, KERNEL);
  service.known.clear();
  assert.equal((await s.c.next("socket", 1)).socket, null);
});

Deno.test("liveEvents() sends the chat room when asked, at once and then only when it changes", async () => {
  const service = new FakeService();
  using quiet = start(service, { startedAt: 0, packets: false, sockets: false });
  using s = start(service, {
    startedAt: 0,
    packets: false,
    sockets: false,
    chat: true,
    chatLimit: 7,
  });
  const first = s.c.of("chat");
  assert.equal(first.length, 1);
  assert.deepEqual(first[0].messages.map((m) => [m.seq, m.name]), [[0, "limit 7"]]);
  // The next endpoints event comes a second later: four checks of an unchanged room, nothing sent.
  await s.c.next("endpoints", 1);
  assert.equal(s.c.of("chat").length, 1);
  service.chat.version = 5;
  assert.equal((await s.c.next("chat", 1)).messages[0].seq, 5);
  assert.equal(quiet.c.of("chat").length, 0);
});

Deno.test("liveEvents() sends the client runs and the sink's switch when asked and when they change", async () => {
  const service = new FakeService();
  const run = { id: "r1", kind: "multiconn", status: "running" } as ClientRun;
  service.runs = [run];
  using quiet = start(service, { startedAt: 0, packets: false, sockets: false });
  using s = start(service, { startedAt: 0, packets: false, sockets: false, clients: true });
  assert.deepEqual(s.c.of("clients"), [{ runs: [run], sink: { draining: false } }]);
  await s.c.next("endpoints", 1);
  assert.equal(s.c.of("clients").length, 1);
  service.sink.draining = true;
  assert.deepEqual(await s.c.next("clients", 1), { runs: [run], sink: { draining: true } });
  service.runs = [{ ...run, status: "done" }];
  assert.equal((await s.c.next("clients", 2)).runs[0].status, "done");
  assert.equal(quiet.c.of("clients").length, 0);
});

Deno.test("mergePackets() keeps the newest batch entries and counts the rest as skipped", () => {
  const service = new FakeService();
  for (let i = 0; i < 5; i++) service.record("a", "x");
  const [p1, p2, p3, p4, p5] = service.log.query({});
  const older: PacketsEvent = { packets: [p1, p2, p3], skipped: 2, lastSeq: 3 };
  const newer: PacketsEvent = { packets: [p4, p5], skipped: 1, lastSeq: 5 };
  const merged = mergePackets(4)(older, newer);
  assert.deepEqual(merged.packets.map((p) => p.seq), [2, 3, 4, 5]);
  assert.deepEqual([merged.skipped, merged.lastSeq], [4, 5]);
});
