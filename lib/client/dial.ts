/**
 * Dial functions for the clients beyond plain TCP: TLS (`tls-echo`) and Unix stream sockets
 * (`unix-echo`). Each is a {@linkcode Dial}, so every client that takes `dial` runs over them.
 */
import { connect as nodeTlsConnect, type TLSSocket } from "node:tls";
import type { Dial, StreamConn } from "./types.ts";

/** Options for {@linkcode tlsDial}. */
export interface TlsDialOptions {
  /** PEM certificates to trust instead of the system's (e.g. the service's, `--ca file`). */
  caCerts?: string[];
  /**
   * Skip certificate and name verification (`--insecure`, as curl's): for the self-signed
   * certificate the service makes at start. @default false
   */
  insecure?: boolean;
  /** The name the certificate must carry. @default the address dialed */
  serverName?: string;
}

/**
 * Dials TLS over TCP. Verified connections are `Deno.connectTls`; `insecure` ones go through
 * `node:tls` with `rejectUnauthorized: false`, as Deno's own TLS client has no switch to skip
 * verification per connection.
 */
export function tlsDial(options: TlsDialOptions = {}): Dial {
  if (options.insecure) {
    return (address, dialOptions) => insecureConnect(address.hostname, address.port, dialOptions);
  }
  return (address) =>
    Deno.connectTls({
      hostname: address.hostname,
      port: address.port,
      caCerts: options.caCerts,
      serverName: options.serverName,
    } as Deno.ConnectTlsOptions);
}

/** Dials the Unix stream socket at `path`, whatever address the client passes. */
export function unixDial(path: string): Dial {
  return Object.assign(() => Deno.connect({ transport: "unix", path }), { target: path });
}

function insecureConnect(
  host: string,
  port: number,
  options?: { signal?: AbortSignal },
): Promise<StreamConn> {
  return new Promise((resolve, reject) => {
    const socket = nodeTlsConnect({ host, port, rejectUnauthorized: false, servername: "" });
    const onAbort = () => {
      socket.destroy();
      reject(options?.signal?.reason);
    };
    options?.signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("error", (err) => {
      options?.signal?.removeEventListener("abort", onAbort);
      reject(err);
    });
    socket.once("secureConnect", () => {
      options?.signal?.removeEventListener("abort", onAbort);
      resolve(new NodeTlsConn(socket));
    });
  });
}

/** A node:tls socket read and written as a {@linkcode StreamConn}. */
class NodeTlsConn implements StreamConn {
  #socket: TLSSocket;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #error: unknown = null;
  #wake: (() => void) | null = null;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      // Hold further reads until this one is consumed: the kernel's buffers then push back.
      socket.pause();
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (err) => {
      this.#error = err;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      this.#socket.resume();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#chunks[0];
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#socket.write(p.slice(), (err) => err ? reject(err) : resolve(p.length));
    });
  }

  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(resolve));
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }
}
