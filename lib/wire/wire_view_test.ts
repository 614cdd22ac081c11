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
