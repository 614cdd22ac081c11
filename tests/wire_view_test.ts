/**
 * The wire view in the service: /api/sockets/:id/wire against tshark's reading of an
 * independent capture of the same traffic, from our row and the peer's; the close reason from
 * the wire (seed 004's send-then-close ends in a RST); /api/wire; the pcapng sources; the
 * parameters' 400s; the fallback without CAP_NET_RAW.
 */
import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  ok as assert,
} from "node:assert/strict";
import type { SocketRecord, WireSegment, WireStatus } from "../lib/view/api_types.ts";
import { NO_PERMISSION_REASON } from "../lib/wire/capture.ts";
import { decodeFrame, WirePacket } from "../lib/wire/decode.ts";
import {
  closeQuietly,
  connect,
  encoder,
  readExactly,
  startService,
  type TestService,
  waitFor,
  writeAll,
} from "./_helpers.ts";
import { startMain } from "./_main_process.ts";
import { download, followTcp, hex, pattern, tshark } from "./_tshark.ts";
import { type Frame, recordFrames, tsharkSegments, writePcapng } from "./_wire.ts";

const FLAG_BITS: Record<string, number> = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  NS: 0x100,
};

/** A segment as tshark's lines spell it, without the frame number. */
function line(s: WireSegment): string {
  const bits = s.flags.reduce((n, f) => n | FLAG_BITS[f], 0);
  return [bits.toString(16), s.tcpSeq, s.tcpAck, s.win, s.len, ...s.analysis].join(" ");
}

/** tshark's lines for the frames of one client port, without the frame number. */
async function tsharkLines(frames: readonly Frame[], clientPort: number): Promise<string[]> {
  const p = new WirePacket();
  const mine = frames.filter((f) =>
    decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p) && p.protocol === 6 &&
    (p.srcPort === clientPort || p.dstPort === clientPort)
  );
  const file = await writePcapng(mine);
  try {
    return (await tsharkSegments(file)).map((l) => l.split(" ").slice(1).join(" "));
  } finally {
    await Deno.remove(file);
  }
}

/** Both FINs, then the last ACK, captured. */
function closedOnWire(frames: readonly Frame[], clientPort: number): boolean {
  const p = new WirePacket();
  const flags = frames.filter((f) =>
    decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p) && p.protocol === 6 &&
    (p.srcPort === clientPort || p.dstPort === clientPort)
  ).map((f) => decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p) && p.flags);
  return flags.filter((f) => (Number(f) & 1) !== 0).length === 2 && flags.at(-1) === 0x10;
}

function frameCount(frames: readonly Frame[], clientPort: number, flag = 0): number {
  const p = new WirePacket();
  return frames.filter((f) =>
    decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p) && p.protocol === 6 &&
    (p.srcPort === clientPort || p.dstPort === clientPort) && (flag === 0 || (p.flags & flag) !== 0)
  ).length;
}

/** Our echo socket of the client at `clientPort`, live or closed, through /api/sockets/:id. */
async function serverRow(svc: TestService, clientPort: number): Promise<SocketRecord> {
  const id = await waitFor("the server's socket row", () => {
    const rows = [...svc.service.registry.snapshots(), ...svc.service.registry.closed()];
    return rows.find((r) => r.ours && r.kind === "conn" && r.remote?.port === clientPort)?.id;
  });
  const res = await svc.api<{ socket: SocketRecord }>(`/api/sockets/${id}`);
  assertEquals(res.status, 200);
  return res.body.socket;
}

async function wireOf(svc: TestService, id: string, query = "") {
  const res = await svc.api<{ available: boolean; reason: string | null; segments: WireSegment[] }>(
    `/api/sockets/${id}/wire${query}`,
  );
  assertEquals(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

Deno.test("/api/sockets/:id/wire of an echo exchange equals tshark's reading, from our row and the peer's", async () => {
  await using svc = startService({ wire: true });
  const port = svc.port("echo");
  await using rec = recordFrames([port]);
  const wire = (await svc.api<WireStatus>("/api/wire")).body;
  assertEquals(wire.available, true, JSON.stringify(wire));
  assertEquals(wire.interfaces, ["lo"]);
  const c = await connect(port);
  const clientPort = (c.localAddr as Deno.NetAddr).port;
  const data = pattern(1000, 3);
  await writeAll(c, data);
  await readExactly(c, data.length);
  // While the connection lives the kernel still has the peer's row (the client's socket).
  const peer = await waitFor("the peer row", async () => {
    const rows = (await svc.api<{ sockets: SocketRecord[] }>("/api/sockets?endpoint=echo")).body
      .sockets;
    return rows.find((r) => r.kind === "peer" && r.local.port === clientPort);
  });
  const ours = await serverRow(svc, clientPort);
  await waitFor(
    "the exchange on the wire",
    async () =>
      (await wireOf(svc, peer.id)).segments.length === frameCount(rec.frames, clientPort) &&
      frameCount(rec.frames, clientPort) >= 5,
  );
  const peerSegments = (await wireOf(svc, peer.id)).segments;
  c.close();
  // Both FINs and the last ACK.
  await waitFor("the close on the wire", () => closedOnWire(rec.frames, clientPort));
  const n = frameCount(rec.frames, clientPort);
  const ourWire = await waitFor("every segment in the service", async () => {
    const w = await wireOf(svc, ours.id);
    return w.segments.length === n && w;
  });
  const expected = await tsharkLines(rec.frames, clientPort);
  assertEquals(ourWire.segments.map(line), expected);
  assertEquals(peerSegments.map(line), expected.slice(0, peerSegments.length));
  // Direction from each row's side: the client sent the SYN.
  assertEquals(peerSegments[0].flags, ["SYN"]);
  assertEquals(peerSegments[0].dir, "out");
  assertEquals(ourWire.segments[0].dir, "in");
  assertEquals(ourWire.segments[1].dir, "out");
  assert(ourWire.segments[0].options.mss! > 0 && ourWire.segments[0].options.sackPerm);
  assertEquals(ourWire.segments.filter((s) => s.dir === "in").reduce((n, s) => n + s.len, 0), 1000);
  // seq orders the log; after= and limit= page through it.
  const seqs = ourWire.segments.map((s) => s.seq);
  assertEquals([...seqs].sort((a, b) => a - b), seqs);
  const page = await wireOf(svc, ours.id, `?after=${seqs[1]}&limit=2`);
  assertEquals(page.segments.map((s) => s.seq), seqs.slice(2, 4));
  // The same segments in the diagnoses' query API.
  assertEquals(
    svc.service.wire.connection({ local: ours.local, remote: ours.remote! })?.finRemote,
    true,
  );
});

Deno.test("seed 004's send-then-close ends in a RST on the wire and the socket says reset by peer", async () => {
  await using svc = startService({ wire: true });
  const port = svc.port("echo");
  const c = await connect(port);
  const clientPort = (c.localAddr as Deno.NetAddr).port;
  // As the seed's client: send, close at once without reading the echo.
  await writeAll(c, encoder.encode("Hello"));
  c.close();
  const row = await waitFor("the server's row closed with the wire's verdict", async () => {
    const r = await serverRow(svc, clientPort);
    return r.closeReason?.startsWith("reset") && r;
  });
  assertEquals(row.closeReason, "reset by peer (RST on the wire)");
  const segments = (await wireOf(svc, row.id)).segments;
  const flags = segments.map((s) => `${s.dir}:${s.flags.join("+")}:${s.len}`);
  // The client's FIN comes before the server's echo, then the client's RST.
  const fin = flags.findIndex((f) => f.startsWith("in:FIN"));
  const echo = flags.findIndex((f) => f.startsWith("out:") && f.endsWith(":5"));
  assert(fin !== -1 && echo > fin, flags.join(" "));
  assertMatch(flags.at(-1)!, /^in:RST/);
});

Deno.test("GET /api/capture.pcapng?source=wire is the captured frames: tshark reads what it captured itself", async () => {
  await using svc = startService({ wire: true });
  const port = svc.port("echo");
  await using rec = recordFrames([port]);
  const c = await connect(port);
  const clientPort = (c.localAddr as Deno.NetAddr).port;
  const data = pattern(120, 9);
  await writeAll(c, data);
  await readExactly(c, data.length);
  c.close();
  await waitFor("the close on the wire", () => closedOnWire(rec.frames, clientPort));
  const ours = await serverRow(svc, clientPort);
  const n = frameCount(rec.frames, clientPort);
  await waitFor(
    "the service's copy",
    async () => (await wireOf(svc, ours.id)).segments.length === n,
  );
  const expected = await tsharkLines(rec.frames, clientPort);
  const { file, res } = await download(svc.app, `/api/capture.pcapng?conn=${ours.id}`);
  try {
    assertMatch(res.headers.get("content-disposition")!, /-wire-/);
    const lines = (await tsharkSegments(file)).map((l) => l.split(" ").slice(1).join(" "));
    assertEquals(lines, expected);
    const followed = await followTcp(file, 0);
    assertEquals(followed.from0, hex(data));
    assertEquals(followed.from1, hex(data));
    // The app's read and write ride along as comments; the section says it is the wire.
    const comments = await tshark(["-r", file, "-T", "fields", "-e", "frame.comment"]);
    const sum = (verb: string) =>
      [...comments.matchAll(new RegExp(`app ${verb} (\\d+) bytes \\(socket ${ours.id}\\)`, "g"))]
        .reduce((n, m) => n + Number(m[1]), 0);
    assertEquals([sum("read"), sum("wrote")], [120, 120]);
    const info = await tshark([
      "-r",
      file,
      "-T",
      "fields",
      "-e",
      "frame.interface_name",
      "-c",
      "1",
    ]);
    assertEquals(info.trim(), "lo");
    const section = new TextDecoder().decode(await Deno.readFile(file));
    assertMatch(section, /source=wire: frames captured from the kernel \(eBPF on lo's egress\)/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng?source=app says in its section header that it is synthesized", async () => {
  await using svc = startService({ wire: true });
  const port = svc.port("echo");
  const c = await connect(port);
  await writeAll(c, encoder.encode("synth"));
  await readExactly(c, 5);
  c.close();
  const { file } = await download(svc.app, "/api/capture.pcapng?source=app");
  try {
    const text = await tshark(["-r", file, "-qz", "io,stat,0"]);
    assert(text.length > 0);
    const capinfo = new TextDecoder().decode(await Deno.readFile(file));
    assertMatch(capinfo, /source=app: packets synthesized/);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GET /api/capture.pcapng?source=app orders the peer's FIN before an answer written after it", async () => {
  await using svc = startService();
  const c = await connect(svc.port("frame-close"));
  try {
    const clientPort = (c.localAddr as Deno.NetAddr).port;
    // Seed 002's close framing: the half-close ends the message, the answer follows it.
    await writeAll(c, encoder.encode("Hello"));
    await c.closeWrite();
    await waitFor("the connection closed", () => svc.service.registry.closed().length > 0);
    const { file } = await download(svc.app, "/api/capture.pcapng?source=app&endpoint=frame-close");
    try {
      const rows = (await tshark([
        "-r",
        file,
        "-T",
        "fields",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.flags",
        "-e",
        "tcp.len",
        "-e",
        "tcp.seq",
        "-e",
        "tcp.ack",
      ])).trim().split("\n").map((l) => l.split("\t"));
      const clientFin = rows.findIndex((r) => Number(r[0]) === clientPort && (Number(r[1]) & 1));
      const answer = rows.findIndex((r) => Number(r[0]) !== clientPort && r[2] === "5");
      assert(clientFin !== -1 && answer > clientFin, rows.join("\n"));
      // The answer acknowledges the FIN (relative ack 7 = 1 + 5 bytes + the FIN).
      assertEquals(rows[answer][4], "7");
      const analysis = await tshark([
        "-r",
        file,
        "-Y",
        "tcp.analysis.flags",
        "-T",
        "fields",
        "-e",
        "frame.number",
      ]);
      assertEquals(
        analysis.trim(),
        "",
        "tshark finds no analysis warnings in the synthesized file",
      );
    } finally {
      await Deno.remove(file);
    }
  } finally {
    closeQuietly(c);
  }
});

Deno.test("the wire view's parameters answer 400 when out of bounds", async () => {
  await using svc = startService();
  const c = await connect(svc.port("echo"));
  try {
    await writeAll(c, encoder.encode("x"));
    await readExactly(c, 1);
    const row = await serverRow(svc, (c.localAddr as Deno.NetAddr).port);
    for (const q of ["?limit=-1", "?limit=100001", "?after=x", "?after=-3", "?limit=1.5"]) {
      const res = await svc.api<{ error: string }>(`/api/sockets/${row.id}/wire${q}`);
      assertEquals(res.status, 400, q);
    }
    assertEquals((await svc.api(`/api/sockets/nope/wire`)).status, 404);
    assertEquals((await svc.api(`/api/capture.pcapng?source=raw`)).status, 400);
    // Off in process by default: it says so, and source=wire answers why.
    const off = await wireOf(svc, row.id);
    assertEquals(off, { ...off, available: false, reason: "turned off (--no-wire)", segments: [] });
    const wire = await svc.api<{ error: string }>("/api/capture.pcapng?source=wire");
    assertEquals(wire.status, 404);
    assertMatch(wire.body.error, /--no-wire/);
    const page = await svc.app.fetch(new Request("http://x/sockets"));
    assertMatch(await page.text(), /Wire view off: turned off \(--no-wire\)/);
  } finally {
    closeQuietly(c);
  }
});

/** Reads main.ts's banner through its kernel view line; returns it and the dashboard port. */
async function bannerOf(main: ReturnType<typeof startMain>) {
  let text = "";
  for (let i = 0; i < 200 && !/^ {2}kernel view: /m.test(text); i++) {
    const l = await main.line(20_000);
    if (l === null) throw new Error(`main.ts ended before its banner: ${await main.stderr()}`);
    text += l + "\n";
  }
  const dashboard = Number(
    /^sockscope dashboard {2}http:\/\/127\.0\.0\.1:(\d+)\/$/m.exec(text)![1],
  );
  const echo = Number(/^ {2}echo +tcp 127\.0\.0\.1:(\d+) /m.exec(text)![1]);
  return { text, dashboard, echo };
}

// The capabilities each capture needs: the eBPF one CAP_BPF (or CAP_SYS_ADMIN) and
// CAP_NET_ADMIN for its link on lo, the packet socket CAP_NET_RAW.
const BPF_CAPS = "cap_bpf,cap_perfmon,cap_sys_admin,cap_net_admin";

/** main.ts under capsh with `caps` dropped from its bounding set (the same deno command line). */
function mainWithout(caps: string, args: string[] = []) {
  return startMain(args, {}, { wrap: ["capsh", `--drop=${caps}`, "--", "-c", 'exec "$0" "$@"'] });
}

Deno.test("main.ts with neither capture permitted says why the wire view is off, and echo still works", async () => {
  await using main = mainWithout(`cap_net_raw,${BPF_CAPS}`);
  const { text, dashboard, echo } = await bannerOf(main);
  assert(text.includes(`  wire view: off: ${NO_PERMISSION_REASON}`), text);
  const wire = await (await fetch(`http://127.0.0.1:${dashboard}/api/wire`)).json();
  assertEquals(wire, {
    available: false,
    reason: NO_PERMISSION_REASON,
    method: null,
    interfaces: [],
    snaplen: null,
    packets: 0,
    bytes: 0,
    drops: 0,
  });
  const c = await connect(echo);
  await writeAll(c, encoder.encode("still here"));
  assertEquals(new TextDecoder().decode(await readExactly(c, 10)), "still here");
  c.close();
  const page = await (await fetch(`http://127.0.0.1:${dashboard}/`)).text();
  assert(page.includes("setcap cap_net_raw+ep"), "the page does not say why");
});

Deno.test("main.ts takes frames through eBPF without CAP_NET_RAW, and through the packet socket without the BPF capabilities", async () => {
  for (
    const [caps, method, line] of [
      ["cap_net_raw", "tcx", "eBPF on its egress"],
      [BPF_CAPS, "packet", "an AF_PACKET ring"],
    ] as const
  ) {
    await using main = mainWithout(caps);
    const { text, dashboard, echo } = await bannerOf(main);
    assert(text.includes(`(snaplen 256 bytes, ${line})`), text);
    const c = await connect(echo);
    await writeAll(c, encoder.encode("seen?"));
    await readExactly(c, 5);
    c.close();
    const wire = await waitFor(`${method}: packets in /api/wire`, async () => {
      const w = await (await fetch(`http://127.0.0.1:${dashboard}/api/wire`)).json();
      return w.packets >= 7 && w;
    });
    assertEquals([wire.available, wire.method, wire.drops], [true, method, 0], caps);
  }
});

Deno.test("main.ts --wire-capture tcx without the BPF capabilities is off with the kernel's refusal", async () => {
  await using main = mainWithout(BPF_CAPS, ["--wire-capture", "tcx"]);
  const { text } = await bannerOf(main);
  assertMatch(text, /^ {2}wire view: off: eBPF capture on lo: bpf\(BPF_MAP_CREATE\) .* errno 1$/m);
});

Deno.test("main.ts with the wire view on says where it captures and counts in /metrics", async () => {
  await using main = startMain([]);
  const { text, dashboard, echo } = await bannerOf(main);
  assertMatch(
    text,
    /^ {2}wire view: on, capturing the endpoints' ports on lo \(snaplen 256 bytes, eBPF on its egress\)$/m,
  );
  const c = await connect(echo);
  await writeAll(c, encoder.encode("count me"));
  await readExactly(c, 8);
  c.close();
  const packets = await waitFor("wire packets in /metrics", async () => {
    const m = await (await fetch(`http://127.0.0.1:${dashboard}/metrics`)).text();
    const v = Number(/^sockscope_wire_packets_total (\d+)$/m.exec(m)?.[1] ?? 0);
    return v >= 7 && m;
  });
  assertMatch(packets, /^sockscope_wire_drops_total 0$/m);
  assertMatch(packets, /^sockscope_wire_bytes_total \d+$/m);
});
