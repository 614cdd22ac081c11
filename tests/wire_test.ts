/**
 * The wire capture against tshark: real loopback traffic captured by lib/wire, written as a
 * pcapng, read back by tshark; every TCP segment's flags, relative seq/ack, scaled window,
 * length and analysis flags must be equal to ours.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  NO_PERMISSION_REASON,
  openWireCapture,
  sendFrame,
  type WireLibc,
} from "../lib/wire/capture.ts";
import { decodeFrame, TCP_FIN, TCP_RST, WirePacket } from "../lib/wire/decode.ts";
import { closeQuietly, readExactly, waitFor, writeAll } from "./_helpers.ts";
import { type Frame, ourSegments, recordFrames, tsharkSegments, writePcapng } from "./_wire.ts";
import { pattern } from "./_tshark.ts";
import { sequenceFrames, SEQUENCES } from "../lib/wire/_frames_test_util.ts";

const HOST = "127.0.0.1";

function listen(): Deno.TcpListener {
  return Deno.listen({ hostname: HOST, port: 0 });
}

function portOf(l: Deno.Listener): number {
  return (l.addr as Deno.NetAddr).port;
}

function decoded(frames: readonly Frame[]): WirePacket[] {
  return frames.map((f) => {
    const p = new WirePacket();
    decodeFrame(f.bytes, 0, f.bytes.length, f.wireLength, f.ts, p);
    return p;
  });
}

/** Both sides' FIN (or a RST) and the last ACK after them were captured. */
function closed(frames: readonly Frame[], conns = 1): boolean {
  const ps = decoded(frames);
  const fins = ps.filter((p) => p.flags & TCP_FIN).length;
  const rsts = ps.filter((p) => p.flags & TCP_RST).length;
  return fins + rsts >= 2 * conns && (rsts > 0 || ps.at(-1)!.flags === 0x10);
}

async function assertSameAsTshark(frames: readonly Frame[]): Promise<string[]> {
  const file = await writePcapng(frames);
  try {
    const theirs = await tsharkSegments(file);
    const ours = ourSegments(frames);
    assertEquals(ours, theirs);
    return ours;
  } finally {
    await Deno.remove(file);
  }
}

function echoServer(l: Deno.TcpListener): Promise<void> {
  return (async () => {
    for await (const c of l) c.readable.pipeTo(c.writable).catch(() => closeQuietly(c));
  })().catch(() => undefined);
}

Deno.test("wire capture of echo exchanges equals tshark segment by segment", async () => {
  const l = listen();
  const server = echoServer(l);
  const rec = recordFrames([portOf(l)]);
  try {
    const sizes = [5, 1400, 70_000, 300_000];
    await Promise.all(sizes.map(async (n, i) => {
      const c = await Deno.connect({ hostname: HOST, port: portOf(l) });
      const data = pattern(n, i + 1);
      const [, echoed] = await Promise.all([writeAll(c, data), readExactly(c, n)]);
      assertEquals(echoed, data);
      c.close();
    }));
    const frames = await rec.stop((f) => closed(f, sizes.length), "every connection closed");
    assertEquals(rec.stats().drops, 0);
    const lines = await assertSameAsTshark(frames);
    // Bulk made segments bigger than one MSS would allow on a wire (GSO on lo) and the
    // receiver advertised a scaled window.
    assert(lines.some((l) => Number(l.split(" ")[5]) > 65_483 / 2), "no big segment");
  } finally {
    await rec[Symbol.asyncDispose]();
    l.close();
    await server;
  }
});

Deno.test("wire capture of seed 004's send-then-close shows the client's RST, as tshark", async () => {
  const l = listen();
  const rec = recordFrames([portOf(l)]);
  try {
    const accepted = l.accept();
    const c = await Deno.connect({ hostname: HOST, port: portOf(l) });
    await c.write(new TextEncoder().encode("Hello"));
    c.close();
    const s = await accepted;
    const got = await readExactly(s, 5);
    // The echo reaches a socket closed with nothing unread: the kernel answers RST.
    await s.write(got);
    const frames = await rec.stop(
      (f) => decoded(f).some((p) => p.flags & TCP_RST),
      "the client's RST",
    );
    closeQuietly(s);
    const lines = await assertSameAsTshark(frames);
    const flags = lines.map((l) => l.split(" ")[1]);
    // SYN, SYN/ACK, ACK, the data, then the client's FIN before the server's echo, then RST.
    assert(flags.indexOf("11") < flags.lastIndexOf("18"), flags.join(","));
    assertEquals(flags.at(-1), "4");
  } finally {
    await rec[Symbol.asyncDispose]();
    l.close();
  }
});

Deno.test("wire capture of a receiver that never reads shows zero window and probes, as tshark", async () => {
  const l = listen();
  const rec = recordFrames([portOf(l)]);
  const accepted = l.accept();
  const c = await Deno.connect({ hostname: HOST, port: portOf(l) });
  const s = await accepted;
  try {
    const chunk = pattern(64 * 1024, 7);
    const writing = (async () => {
      for (let i = 0; i < 4096; i++) await c.write(chunk);
    })().catch(() => undefined);
    // Linux probes a zero window at the RTO and backs off (0.2 s, 0.4 s, ...): two probes
    // and their answers come within a few seconds.
    const frames = await rec.stop(
      (f) => {
        const lines = ourSegments(f);
        const probes = lines.filter((l) => / (keep_alive|zero_window_probe)( |$)/.test(l));
        return lines.some((l) => / zero_window( |$)/.test(l)) && probes.length >= 2;
      },
      "zero window and two probes",
      20_000,
    );
    closeQuietly(c);
    closeQuietly(s);
    await writing;
    const lines = await assertSameAsTshark(frames);
    if (Deno.env.get("WIRE_DEBUG")) console.log(lines.slice(-12).join("\n"));
    assert(lines.some((l) => l.includes("window_full")), "no window_full");
  } finally {
    closeQuietly(c);
    closeQuietly(s);
    await rec[Symbol.asyncDispose]();
    l.close();
  }
});

Deno.test("wire capture of a segment re-sent through a raw socket is a retransmission, as tshark", async () => {
  const l = listen();
  const server = echoServer(l);
  const rec = recordFrames([portOf(l)]);
  try {
    const c = await Deno.connect({ hostname: HOST, port: portOf(l) });
    const data = new TextEncoder().encode("once, then again");
    await writeAll(c, data);
    await readExactly(c, data.length);
    // Copies of the client's data segment (already acknowledged) and of its SYN, sent again
    // on lo as a retransmitting stack would.
    const sofar = decoded(
      await waitFor("the echo captured", () => {
        const ps = decoded(rec.frames);
        return ps.filter((p) => p.payloadLength > 0).length >= 2 && rec.frames;
      }),
    );
    const clientPort = (c.localAddr as Deno.NetAddr).port;
    const dataIndex = sofar.findIndex((p) => p.srcPort === clientPort && p.payloadLength > 0);
    const synIndex = sofar.findIndex((p) => p.srcPort === clientPort && p.flags === 0x02);
    const n = rec.frames.length;
    sendFrame("lo", rec.frames[dataIndex].bytes);
    sendFrame("lo", rec.frames[synIndex].bytes);
    await waitFor("the copies captured", () => rec.frames.length >= n + 2);
    await writeAll(c, data);
    await readExactly(c, data.length);
    c.close();
    const frames = await rec.stop((f) => closed(f), "the connection closed");
    const lines = await assertSameAsTshark(frames);
    const copies = lines.filter((l) => /retransmission/.test(l));
    assert(copies.some((l) => / spurious_retransmission/.test(l)), lines.join("\n"));
    assert(copies.some((l) => / retransmission$/.test(l)), lines.join("\n"));
  } finally {
    await rec[Symbol.asyncDispose]();
    l.close();
    await server;
  }
});

Deno.test("wire capture keeps only the given ports and cuts frames to the snap length", async () => {
  const kept = listen();
  const other = listen();
  const servers = [echoServer(kept), echoServer(other)];
  const rec = recordFrames([portOf(kept)], { snaplen: 100 });
  try {
    for (const l of [other, kept]) {
      const c = await Deno.connect({ hostname: HOST, port: portOf(l) });
      await writeAll(c, pattern(1000));
      await readExactly(c, 1000);
      c.close();
    }
    const frames = await rec.stop((f) => closed(f), "the kept connection closed");
    const ps = decoded(frames);
    assert(ps.every((p) => p.srcPort === portOf(kept) || p.dstPort === portOf(kept)));
    assert(frames.every((f) => f.bytes.length <= 100));
    const payload = ps.reduce((n, p) => n + p.payloadLength, 0);
    assertEquals(payload, 2000);
  } finally {
    await rec[Symbol.asyncDispose]();
    kept.close();
    other.close();
    await Promise.all(servers);
  }
});

async function openInChild(command: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(command, {
    args,
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return JSON.parse(text.split("\n").at(-1)!);
}

Deno.test("openWireCapture() answers unavailable with the setcap line when socket() fails EPERM", () => {
  const errnoCell = new Int32Array([1]); // EPERM
  const calls: string[] = [];
  const libc = {
    socket: () => {
      calls.push("socket");
      return -1;
    },
    __errno_location: () => Deno.UnsafePointer.of(errnoCell),
  } as unknown as WireLibc;
  const opened = openWireCapture({ ports: [80], libc });
  assertEquals(opened, { available: false, reason: NO_PERMISSION_REASON });
  assert(NO_PERMISSION_REASON.includes("setcap cap_net_raw+ep"));
  errnoCell[0] = 13; // EACCES
  assertEquals(openWireCapture({ libc }).available, false);
  assertEquals(calls, ["socket", "socket"]);
});

Deno.test("openWireCapture() in a process without CAP_NET_RAW answers unavailable, no throw", async () => {
  const script = "tests/fixtures/wire_open.ts";
  const deno = Deno.execPath();
  const dropped = await openInChild("capsh", [
    "--drop=cap_net_raw",
    "--",
    "-c",
    `exec '${deno}' run -A '${script}'`,
  ]);
  assertEquals(dropped, { available: false, reason: NO_PERMISSION_REASON });
  const noFfi = await openInChild(deno, ["run", "--allow-read", "--allow-env", script]);
  assertEquals(noFfi.available, false);
  assert(String(noFfi.reason).includes("--allow-ffi"), String(noFfi.reason));
  // As root with every capability it opens.
  assertEquals(await openInChild(deno, ["run", "-A", script]), { available: true });
});

Deno.test("hand-built segment sequences analyse as tshark analyses them", async () => {
  // The unit tests' sequences (lib/wire/tcp_analysis_test.ts): each rule checked against tshark.
  for (const sequence of Object.values(SEQUENCES)) {
    const frames = sequenceFrames(sequence, 1.7e12).map((f) => ({
      ...f,
      wireLength: f.bytes.length,
    }));
    await assertSameAsTshark(frames);
  }
});
