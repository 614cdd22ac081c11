import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { buildFrame } from "./_frames_test_util.ts";
import { WireView } from "./wire_view.ts";

const A = { hostname: "127.0.0.1", port: 1000 };

function feed(view: WireView, clientPort: number, n: number, t0 = 1.7e12): void {
  const send = (bytes: Uint8Array, ts: number) =>
    view.ingest({ bytes, offset: 0, capturedLength: bytes.length, wireLength: bytes.length, ts });
  const server = 2000;
  send(buildFrame({ sport: clientPort, dport: server, seq: 100, flags: 0x02 }), t0);
  send(buildFrame({ sport: server, dport: clientPort, seq: 900, ack: 101, flags: 0x12 }), t0 + 1);
  for (let i = 0; i < n; i++) {
    send(
      buildFrame({ sport: clientPort, dport: server, seq: 101 + 10 * i, ack: 901, payload: 10 }),
      t0 + 2 + i,
    );
  }
}

Deno.test("WireView keeps each connection's first and latest segments, both sides' rows find them", () => {
  const view = WireView.off("test", { headSegments: 4, tailSegments: 8, maxSegments: 1000 });
  feed(view, 1000, 1000);
  feed(view, 1001, 3);
  const client = { local: A, remote: { hostname: "127.0.0.1", port: 2000 } };
  const segs = view.segments(client);
  assertEquals(segs.length, 12);
  // The handshake and the first data, then the latest eight in order.
  assertEquals(segs.slice(0, 2).map((s) => s.flags), [["SYN"], ["SYN", "ACK"]]);
  assertEquals(segs.slice(2, 4).map((s) => s.tcpSeq), [1, 11]);
  assertEquals(segs.slice(4).map((s) => s.tcpSeq), [
    9921,
    9931,
    9941,
    9951,
    9961,
    9971,
    9981,
    9991,
  ]);
  assertEquals(segs[0].dir, "out");
  // The server's row is the same connection seen from the other side.
  const server = view.segments({ local: client.remote, remote: client.local });
  assertEquals(server.map((s) => s.seq), segs.map((s) => s.seq));
  assertEquals(server[0].dir, "in");
  // The other connection keeps its five whatever the first did.
  assertEquals(view.segments({ local: { ...A, port: 1001 }, remote: client.remote }).length, 5);
  assertEquals(view.connection(client)?.segments, 1002);
  assertEquals(view.size, { segments: 17, connections: 2 });
  assertEquals(view.payloadBytes, 10_030);
  assertEquals(view.segments(client, { after: segs[5].seq, limit: 2 }).map((s) => s.seq), [
    segs[6].seq,
    segs[7].seq,
  ]);
});

Deno.test("WireView past its global cap drops the connection seen first, whole", () => {
  const view = WireView.off("test", { headSegments: 2, tailSegments: 3, maxSegments: 12 });
  for (let c = 0; c < 4; c++) feed(view, 1000 + c, 10);
  const kept = (port: number) =>
    view.segments({ local: { ...A, port }, remote: { hostname: "127.0.0.1", port: 2000 } }).length;
  assertEquals([kept(1000), kept(1001), kept(1002), kept(1003)], [0, 0, 5, 5]);
  assert(view.size.segments <= 12);
  assertEquals(view.frames().length, 10);
});

// A frame with its payload bytes set to `fill`, so a frame read back shows whose it is.
function filled(spec: Parameters<typeof buildFrame>[0], fill: number): Uint8Array {
  const bytes = buildFrame(spec);
  bytes.fill(fill, bytes.length - (spec.payload ?? 0));
  return bytes;
}

Deno.test("WireView reuses dropped connections' head blocks without mixing their frames", () => {
  const view = WireView.off("test", { headSegments: 3, tailSegments: 2, maxSegments: 30 });
  const sent = new Map<number, Uint8Array[]>();
  let ts = 1.7e12;
  // 40 connections of 3 segments under a cap of 30: the first ones go and their blocks are
  // taken by later ones (sizes differ by port, so blocks of several sizes are reused).
  for (let c = 0; c < 40; c++) {
    const port = 3000 + c;
    const frames = [0, 1, 2].map((k) =>
      filled({
        sport: port,
        dport: 2000,
        seq: 100 + k,
        flags: k === 0 ? 0x02 : 0x10,
        payload: k === 0 ? 0 : (c % 7) * 30,
      }, c)
    );
    sent.set(port, frames);
    for (const bytes of frames) {
      view.ingest({
        bytes,
        offset: 0,
        capturedLength: bytes.length,
        wireLength: bytes.length,
        ts: ts++,
      });
    }
  }
  assertEquals(view.size, { segments: 30, connections: 10 });
  for (let c = 30; c < 40; c++) {
    const port = 3000 + c;
    const tuple = { local: { ...A, port }, remote: { hostname: "127.0.0.1", port: 2000 } };
    assertEquals(view.frames(tuple).map((f) => [...f.bytes]), sent.get(port)!.map((b) => [...b]));
  }
});

Deno.test("WireView moves a growing head out of the shared pages, frames and numbers intact", () => {
  const view = WireView.off("test", { headSegments: 32, tailSegments: 4, snaplen: 256 });
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const bytes = filled({
      sport: 1000,
      dport: 2000,
      seq: 100 + 300 * i,
      flags: i === 0 ? 0x02 : 0x10,
      payload: i === 0 ? 0 : 300,
    }, i);
    sent.push(bytes);
    view.ingest({
      bytes,
      offset: 0,
      capturedLength: bytes.length,
      wireLength: bytes.length,
      ts: 1.7e12 + i,
    });
  }
  const tuple = { local: A, remote: { hostname: "127.0.0.1", port: 2000 } };
  const segs = view.segments(tuple);
  assertEquals(segs.length, 36);
  assertEquals(
    segs.map((s) => s.tcpSeq),
    [...Array(32).keys(), 36, 37, 38, 39].map((i) => 300 * i),
  );
  assertEquals(segs.slice(1).every((s) => s.len === 300), true);
  // Frames cut to the snap length, with their wire length.
  const frames = view.frames(tuple);
  assertEquals(
    frames.map((f) => f.wireLength),
    segs.map((_, i) => sent[i < 32 ? i : i + 4].length),
  );
  assertEquals(
    frames.map((f) => [...f.bytes]),
    sent.filter((_, i) => i < 32 || i >= 36).map((b) => [...b.subarray(0, 256)]),
  );
});

Deno.test("WireView without a head still gives SACK edges relative to the other side", () => {
  const view = WireView.off("test", { headSegments: 0, tailSegments: 4 });
  const send = (bytes: Uint8Array, ts: number) =>
    view.ingest({ bytes, offset: 0, capturedLength: bytes.length, wireLength: bytes.length, ts });
  send(buildFrame({ sport: 1000, dport: 2000, seq: 0xfffff000, flags: 0x02 }), 1);
  send(buildFrame({ sport: 2000, dport: 1000, seq: 7000, ack: 0xfffff001, flags: 0x12 }), 2);
  // SACK block [base + 101, base + 201) of the client's space (wrapping past 2^32).
  const sack = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const left = (0xfffff000 + 101) >>> 0;
  const right = (0xfffff000 + 0x1000 + 201) >>> 0;
  send(
    buildFrame({
      sport: 2000,
      dport: 1000,
      seq: 7001,
      ack: 0xfffff001,
      options: [1, 1, 5, 10, ...sack(left), ...sack(right)],
    }),
    3,
  );
  const segs = view.segments({ local: A, remote: { hostname: "127.0.0.1", port: 2000 } });
  assertEquals(segs.length, 3);
  assertEquals(segs[2].options.sack, [[101, 0x1000 + 201]]);
  assertEquals(view.frames().length, 3);
});
