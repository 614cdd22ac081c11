import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { HttpStats } from "./http_stats.ts";
import { type SendEvent, sseResponse, type SseStream } from "./sse.ts";

const decoder = new TextDecoder();

/** The events in SSE text, in order. */
function parse(text: string): { event: string; data: unknown }[] {
  return text.split("\n\n").flatMap((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    return event === undefined || data === undefined ? [] : [{ event, data: JSON.parse(data) }];
  });
}

/** A stream whose producer the test drives through `send`. */
function driven(options: Parameters<typeof sseResponse>[2] = {}) {
  let send!: SendEvent;
  let stream!: SseStream;
  let cleanups = 0;
  const ac = new AbortController();
  const res = sseResponse(ac.signal, (s, st) => {
    send = s;
    stream = st;
    return () => cleanups++;
  }, options);
  return { res, send, stream, ac, cleanups: () => cleanups };
}

/** Reads what a stream has ready: until a read does not settle within `ms` (kept for the next call). */
function readyReader(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | null = null;
  return async function ready(ms = 50): Promise<string> {
    let text = "";
    for (let i = 0; i < 1000; i++) {
      pending ??= reader.read();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<"idle">((resolve) => timer = setTimeout(() => resolve("idle"), ms));
      const next = await Promise.race([pending, idle]).finally(() => clearTimeout(timer));
      if (next === "idle") return text;
      pending = null;
      if (next.done) return text;
      text += decoder.decode(next.value);
    }
    return text;
  };
}

Deno.test("sseResponse() holds the newest snapshot, not every event, for a client that does not read", async () => {
  const stats = new HttpStats();
  const s = driven({ stats, maxBehindMs: 0 });
  const pad = "x".repeat(1000);
  // 10,000 snapshots of 1 KB: the old stream queued all 10 MB for a client that never read.
  for (let n = 0; n < 10_000; n++) ok(s.send("tick", { n, pad }));
  strictEqual(s.stream.behind, true);
  strictEqual(stats.sseCoalesced, 9_999);
  const ready = readyReader(s.res.body!);
  const text = await ready();
  ok(text.length < 4096, `${text.length} characters ready`);
  deepStrictEqual(parse(text), [{ event: "tick", data: { n: 9_999, pad } }]);
  strictEqual(s.stream.behind, false);
  // Once it reads, each event goes out as it comes.
  s.send("tick", { n: 10_000, pad });
  s.send("other", 1);
  deepStrictEqual(parse(await ready()).map((e) => e.event), ["tick", "other"]);
  s.ac.abort();
  strictEqual(s.cleanups(), 1);
  strictEqual(stats.sseStreams, 0);
});

Deno.test("sseResponse() merges events that have a merge function instead of replacing them", async () => {
  const s = driven({
    maxBehindMs: 0,
    merge: { batch: (older: number[], newer: number[]) => [...older, ...newer].slice(-3) },
  });
  s.send("batch", [1, 2]);
  s.send("snapshot", "old");
  s.send("batch", [3, 4]);
  s.send("snapshot", "new");
  s.send("batch", [5]);
  const ready = readyReader(s.res.body!);
  deepStrictEqual(parse(await ready()), [
    { event: "batch", data: [3, 4, 5] },
    { event: "snapshot", data: "new" },
  ]);
  s.ac.abort();
});

Deno.test("sseResponse() closes a stream whose client stays behind maxBehindMs, counted", async () => {
  const stats = new HttpStats();
  let closed = 0;
  const s = driven({ stats, maxBehindMs: 200, closeConnection: () => (closed++, false) });
  strictEqual(stats.sseStreams, 1);
  // The first chunk (retry) fills the queue: this one waits, and nobody reads.
  ok(s.send("tick", 1));
  const started = performance.now();
  for (let i = 0; i < 100 && stats.sseDropped === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  strictEqual(stats.sseDropped, 1);
  ok(performance.now() - started >= 190, "not before maxBehindMs");
  deepStrictEqual([closed, s.cleanups(), stats.sseStreams], [1, 1, 0]);
  strictEqual(s.send("tick", 2), false);
  // No connection to close here: the body ends in an error instead.
  await rejects(s.res.body!.getReader().read(), /stayed behind for 200 ms/);
});

Deno.test("sseResponse() keeps a stream whose client reads, however long it runs", async () => {
  const stats = new HttpStats();
  const s = driven({ stats, maxBehindMs: 100 });
  const ready = readyReader(s.res.body!);
  let seen = 0;
  for (let n = 0; n < 20; n++) {
    s.send("tick", { n });
    seen += parse(await ready(20)).length;
  }
  strictEqual(seen, 20);
  deepStrictEqual([stats.sseDropped, stats.sseCoalesced, s.cleanups()], [0, 0, 0]);
  s.ac.abort();
});
