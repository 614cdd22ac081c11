/**
 * Throwaway servers on 127.0.0.1 port 0 for the client tests, standing in for
 * sockscope's own endpoints. Each is an AsyncDisposable that closes every
 * socket it opened.
 */
import { answerRequest, AppFrameDecoder, errorAnswer } from "../lib/protocol/app_codec.ts";

/** A listening test socket; dispose to close it and everything it accepted. */
export interface TestPort extends AsyncDisposable {
  /** The port it listens on. */
  port: number;
}

/** A running Deno test server. */
export interface TestServer extends TestPort {
  /** Connections accepted so far. */
  readonly accepted: number;
}

/** What a TCP test server does with each accepted connection; `disposed` settles on dispose. */
type Handle = (conn: Deno.TcpConn, disposed: Promise<void>) => Promise<void>;

/** Options for {@linkcode startEchoServer}. */
export interface EchoServerOptions {
  /**
   * Changes each chunk before it is echoed (to make a faulty server).
   *
   * @default {undefined}
   */
  alter?: (chunk: Uint8Array) => Uint8Array;
}

/** Starts a TCP echo server (Deno) that writes back every byte it reads. */
export function startEchoServer(options: EchoServerOptions = {}): TestServer {
  return serveTcp(async (conn) => {
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      const chunk = options.alter ? options.alter(buf.slice(0, n)) : buf.subarray(0, n);
      for (let written = 0; written < chunk.length;) {
        written += await conn.write(chunk.subarray(written));
      }
    }
  });
}

/** Starts a TCP server that accepts and never reads or writes, until it is disposed. */
export function startSilentServer(): TestServer {
  return serveTcp((_conn, disposed) => disposed);
}

/** Starts an app-protocol server built from the codec: answers every request in order. */
export function startAppServer(): TestServer {
  return serveTcp(async (conn) => {
    const decoder = new AppFrameDecoder();
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(buf);
      if (n === null) return;
      const { frames, error } = decoder.push(buf.subarray(0, n));
      for (const frame of frames) await writeAll(conn, answerRequest(frame).bytes);
      if (error !== null) {
        await writeAll(conn, errorAnswer(error).bytes);
        return;
      }
    }
  });
}

/** Starts a UDP server that echoes each datagram to its sender (or, when silent, reads nothing). */
export function startUdpEcho(options: { silent?: boolean } = {}): TestPort {
  const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (sock.addr as Deno.NetAddr).port;
  const loop = options.silent ? Promise.resolve() : (async () => {
    const buf = new Uint8Array(65_536);
    try {
      while (true) {
        const [data, from] = await sock.receive(buf);
        await sock.send(data, from);
      }
    } catch {
      // Closed by dispose.
    }
  })();
  return {
    port,
    async [Symbol.asyncDispose]() {
      sock.close();
      await loop;
    },
  };
}

/** A python3 TCP echo server (the tutorial's echo-server.py, threaded), run as a child process. */
export async function startPythonEchoServer(): Promise<TestPort> {
  const script = [
    "import socket, sys, threading",
    "s = socket.socket()",
    "s.bind(('127.0.0.1', 0))",
    "s.listen()",
    "print(s.getsockname()[1], flush=True)",
    "def serve(c):",
    "    with c:",
    "        while True:",
    "            data = c.recv(1024)",
    "            if not data:",
    "                break",
    "            c.sendall(data)",
    "while True:",
    "    c, _ = s.accept()",
    "    threading.Thread(target=serve, args=(c,), daemon=True).start()",
  ].join("\n");
  const child = new Deno.Command("python3", {
    args: ["-c", script],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) break;
    text += value;
  }
  const port = Number(text.trim());
  if (!Number.isInteger(port) || port <= 0) {
    child.kill();
    await lines.cancel();
    await child.status;
    throw new Error(`Cannot start the python echo server: it printed "${text.trim()}"`);
  }
  return {
    port,
    async [Symbol.asyncDispose]() {
      child.kill();
      await lines.cancel();
      await child.status;
    },
  };
}

function serveTcp(handle: Handle): TestServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.TcpConn>();
  const handlers = new Set<Promise<void>>();
  let accepted = 0;
  const { promise: disposed, resolve: dispose } = Promise.withResolvers<void>();
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      const handler = handle(conn, disposed)
        .catch(() => {
          // The client reset or closed: that is its business in these tests.
        })
        .finally(() => {
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // Already closed.
          }
          handlers.delete(handler);
        });
      handlers.add(handler);
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      await loop.catch(() => {});
      dispose();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.all(handlers);
    },
  };
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** A port nothing listens on: bound to learn a free one, then released. */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
