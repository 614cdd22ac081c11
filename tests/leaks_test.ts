/**
 * Clients that go away badly (a reset in the middle of a message, a
 * half-close in the middle of a message, a close with a large answer still
 * unread) on the echo, app, chat and framing endpoints: each leaves no
 * registry entry, no live connection, no room member and no borrowed buffer
 * behind, and Deno's sanitizers find no timer, op or resource left over.
 */
import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { concat } from "../lib/bytes.ts";
import {
  appRequest,
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readToEnd,
  startService,
  type TestService,
  waitFor,
} from "./_helpers.ts";
import type { ObservedConn } from "../lib/net/observed_conn.ts";

/** An endpoint, a message cut in the middle, and a message whose answer is large when repeated. */
interface Case {
  endpoint: string;
  /** The first bytes of a message the server keeps waiting for the rest of. */
  partial: Uint8Array;
  /** A whole message; repeated, the answers pile up unread. */
  message: Uint8Array;
}

function chatMessage(text: string): Uint8Array {
  const body = encoder.encode(text);
  return concat([encoder.encode(String(body.length).padEnd(64)), body]);
}

const CASES: Case[] = [
  {
    endpoint: "echo",
    partial: encoder.encode("the first half of a li"),
    message: new Uint8Array(65536).fill(0x65),
  },
  {
    endpoint: "app",
    partial: appRequest("search", "morpheus").subarray(0, 40),
    message: appRequest("search", "ring"),
  },
  {
    endpoint: "chat",
    partial: chatMessage("a message cut short").subarray(0, 70),
    message: chatMessage("hello"),
  },
  {
    endpoint: "frame-prefixed",
    partial: encoder.encode("00020only ten b"),
    message: concat([encoder.encode("60000"), new Uint8Array(60000).fill(0x66)]),
  },
];

/** The server's side of the one connection on `endpoint`, once accepted. */
function serverConn(svc: TestService, endpoint: string): Promise<ObservedConn> {
  return waitFor(
    `the ${endpoint} endpoint to accept`,
    () => [...svc.service.tcp.get(endpoint)!.conns][0],
  );
}

/** Waits until nothing of the connection is left, and returns how it was closed. */
async function assertNothingLeft(
  svc: TestService,
  endpoint: string,
  baseline: number,
  conn: ObservedConn,
): Promise<string> {
  await waitFor(
    `the ${endpoint} connection to be gone`,
    () =>
      svc.service.tcp.get(endpoint)!.conns.size === 0 &&
      svc.service.registry.size === baseline,
  );
  const stats = (await svc.endpoints())[endpoint];
  deepStrictEqual([stats.connections, stats.accepted, stats.closed], [0, 1, 1]);
  strictEqual(svc.service.registry.live(conn.id), undefined, "not in the registry");
  strictEqual(svc.service.pool.largeInUse, 0, "every large buffer returned");
  deepStrictEqual([conn.rxBuffered, conn.txBuffered], [0, 0]);
  strictEqual(svc.service.chat.snapshot().participants.length, 0, "nobody left in the room");
  strictEqual(svc.service.registry.get(conn.id)?.state, "CLOSED");
  return conn.closeReason!;
}

/** Connects from Python, sends `bytes`, and on our word closes with SO_LINGER 0: an RST. */
async function pythonResetAfter(port: number, bytes: Uint8Array, ready: () => Promise<void>) {
  const script = [
    "import socket, struct, sys",
    `s = socket.create_connection(("${HOST}", ${port}))`,
    "s.sendall(bytes.fromhex(sys.argv[1]))",
    "print('sent', flush=True)",
    "sys.stdin.readline()",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))",
    "s.close()",
  ].join("\n");
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const child = new Deno.Command("python3", {
    args: ["-c", script, hex],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const killer = setTimeout(() => child.kill(), 10_000);
  const stdin = child.stdin.getWriter();
  const stdout = child.stdout.getReader();
  try {
    // print() may reach the pipe as "sent" and "\n" in two writes: read up to the newline.
    let said = "";
    for (let i = 0; i < 10 && !said.includes("\n"); i++) {
      const { value, done } = await stdout.read();
      if (done) break;
      said += decoder.decode(value);
    }
    strictEqual(said, "sent\n");
    await ready();
    await stdin.write(encoder.encode("\n"));
    await stdin.close();
    while (!(await stdout.read()).done);
  } finally {
    clearTimeout(killer);
    await stdin.close().catch(() => {});
    await stdout.cancel().catch(() => {});
    try {
      child.kill();
    } catch {
      // Exited already, as it should have.
    }
    await child.status;
  }
  strictEqual((await child.status).code, 0, "the Python client exited cleanly");
}

for (const { endpoint, partial, message } of CASES) {
  Deno.test(`${endpoint} endpoint leaves nothing behind when a client resets mid-message`, async () => {
    await using svc = startService();
    const baseline = svc.service.registry.size;
    let conn: ObservedConn | undefined;
    await pythonResetAfter(svc.port(endpoint), partial, async () => {
      conn = await serverConn(svc, endpoint);
      // The server has read the partial message (and, for echo, answered it: left unread).
      await waitFor("the server to read it", () => conn!.bytesIn === partial.length);
      if (endpoint !== "echo") ok(conn.rxBuffered > 0, "the server holds part of a message");
    });
    const reason = await assertNothingLeft(svc, endpoint, baseline, conn!);
    strictEqual(reason, "error: reset");
    strictEqual((await svc.endpoints())[endpoint].errors.reset, 1);
  });

  Deno.test(`${endpoint} endpoint leaves nothing behind when a client half-closes mid-message`, async () => {
    await using svc = startService();
    const baseline = svc.service.registry.size;
    using client = await connect(svc.port(endpoint));
    const conn = await serverConn(svc, endpoint);
    let sent = 0;
    for (const byte of partial) sent += await client.write(new Uint8Array([byte]));
    await waitFor("the server to read it", () => conn.bytesIn === sent);
    await client.closeWrite();
    // Whatever the endpoint says about the cut message, it then closes with FIN.
    const rest = await readToEnd(client);
    strictEqual(rest.end, "eof");
    if (endpoint === "frame-prefixed") {
      ok(decoder.decode(rest.bytes).startsWith("Error: "), decoder.decode(rest.bytes));
    }
    if (endpoint === "echo") deepStrictEqual(rest.bytes, partial);
    const reason = await assertNothingLeft(svc, endpoint, baseline, conn);
    strictEqual(reason, "closed by peer");
  });

  Deno.test(`${endpoint} endpoint leaves nothing behind when a client vanishes with a large answer unread`, async () => {
    await using svc = startService();
    const baseline = svc.service.registry.size;
    const client = await connect(svc.port(endpoint));
    const conn = await serverConn(svc, endpoint);
    const burst = concat(Array.from({ length: Math.ceil(65536 / message.length) }, () => message));
    let vanished = false;
    // Keep sending whole messages without reading a byte, until the server's writes block.
    const writer = (async () => {
      try {
        while (!vanished) {
          let view = burst;
          while (view.length > 0) view = view.subarray(await client.write(view));
        }
      } catch (err) {
        if (!vanished) throw err;
      }
    })();
    try {
      // Backed up: the server holds unsent bytes and has written nothing since the last look.
      let lastOut = -1;
      await waitFor("the server's answers to back up", () => {
        const stuck = conn.txBuffered > 0 && conn.bytesOut === lastOut;
        lastOut = conn.bytesOut;
        return stuck;
      }, { timeoutMs: 10_000, intervalMs: 50 });
    } finally {
      vanished = true;
      closeQuietly(client);
      await writer;
    }
    const reason = await assertNothingLeft(svc, endpoint, baseline, conn);
    ok(/^error: (reset|broken-pipe)$/.test(reason), reason);
  });
}
