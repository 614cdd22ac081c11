/** Connection plumbing shared by the TCP clients: dialing, deadlines, full reads and writes. */
import type { Dial, DialAddress, StreamConn } from "./types.ts";

/** The default dial: `Deno.connect`, which also aborts a connect in progress. */
export const defaultDial: Dial = (address, options) =>
  Deno.connect({ hostname: address.hostname, port: address.port, signal: options?.signal });

/** An AbortSignal bounded in time; dispose it to clear its timer. */
export interface Deadline extends Disposable {
  readonly signal: AbortSignal;
}

/**
 * A signal that aborts with `Deno.errors.TimedOut(message)` after `ms`
 * milliseconds (never when `ms` is Infinity), or with the parent's reason.
 */
export function deadline(ms: number, message: string, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = Number.isFinite(ms)
    ? setTimeout(() => controller.abort(new Deno.errors.TimedOut(message)), ms)
    : undefined;
  const onAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onAbort();
  else parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: controller.signal,
    [Symbol.dispose]() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}

/** A connection that closes itself (once) when its signal aborts, and on dispose. */
export interface BoundConn extends StreamConn, Disposable {
  /** The connection's own address (the kernel's 4-tuple needs it); null when the dial hides it. */
  readonly local: DialAddress | null;
}

/** Formats an address as `host:port`, bracketing IPv6 literals. */
export function formatAddress(address: DialAddress): string {
  return address.hostname.includes(":")
    ? `[${address.hostname}]:${address.port}`
    : `${address.hostname}:${address.port}`;
}

/**
 * Dials `address`, giving up after `connectTimeoutMs` or when `signal` aborts
 * (a connection that arrives later is closed), and binds the connection to
 * `signal` so pending reads and writes reject once it fires.
 */
export async function dialBound(
  dial: Dial,
  address: DialAddress,
  signal: AbortSignal,
  connectTimeoutMs = Infinity,
): Promise<BoundConn> {
  signal.throwIfAborted();
  const target = dial.target ?? formatAddress(address);
  using limit = deadline(
    connectTimeoutMs,
    `Cannot connect to "${target}": no answer within ${connectTimeoutMs} ms`,
    signal,
  );
  const pending = dial(address, { signal: limit.signal });
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(limit.signal.reason);
    limit.signal.addEventListener("abort", onAbort, { once: true });
  });
  let conn: StreamConn;
  try {
    conn = await Promise.race([pending, aborted]);
  } catch (err) {
    pending.then(closeQuietly, () => {});
    if (limit.signal.aborted) throw limit.signal.reason;
    throw withContext(err, `Cannot connect to "${target}"`);
  } finally {
    limit.signal.removeEventListener("abort", onAbort);
  }
  return bind(conn, signal);
}

function bind(conn: StreamConn, signal: AbortSignal): BoundConn {
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    signal.removeEventListener("abort", close);
    closeQuietly(conn);
  };
  signal.addEventListener("abort", close, { once: true });
  return {
    local: localOf(conn),
    read: (p) => conn.read(p),
    write: (p) => conn.write(p),
    close,
    closeWrite: conn.closeWrite ? () => conn.closeWrite!() : undefined,
    setNoDelay: conn.setNoDelay ? (noDelay) => conn.setNoDelay!(noDelay) : undefined,
    [Symbol.dispose]: close,
  };
}

/** A `Deno.TcpConn`'s `localAddr`, or an observed connection's `local`. */
function localOf(conn: StreamConn): DialAddress | null {
  const c = conn as { localAddr?: Deno.Addr; local?: DialAddress };
  try {
    if (c.local !== undefined) return { hostname: c.local.hostname, port: c.local.port };
    const addr = c.localAddr;
    if (addr !== undefined && (addr.transport === "tcp" || addr.transport === "udp")) {
      return { hostname: addr.hostname, port: addr.port };
    }
  } catch {
    // Closed already: no address to tell.
  }
  return null;
}

/** Closes `conn`, ignoring "already closed". */
export function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Already closed (by the peer's reset or by an abort): nothing left to release.
  }
}

/** After a failure, prefers the signal's reason: an aborted signal is why the I/O failed. */
export function causeOf(err: unknown, signal: AbortSignal): unknown {
  return signal.aborted ? signal.reason : err;
}

/** Writes all of `bytes`, however many writes the kernel needs. */
export async function writeAll(conn: StreamConn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await conn.write(written === 0 ? bytes : bytes.subarray(written));
  }
}

/** Reads until `buf` is full or the stream ends; resolves to the bytes read. */
export async function readFull(conn: StreamConn, buf: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const n = await conn.read(filled === 0 ? buf : buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/** True when both arrays hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Resolves after `ms` milliseconds, or rejects with the signal's reason. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Re-creates `err` with `context` in front of its message, keeping its class. */
export function withContext(err: unknown, context: string): Error {
  if (!(err instanceof Error)) return new Error(`${context}: ${String(err)}`);
  const Class = err.constructor as new (message: string, options?: ErrorOptions) => Error;
  try {
    return new Class(`${context}: ${err.message}`, { cause: err });
  } catch {
    return new Error(`${context}: ${err.message}`, { cause: err });
  }
}

/** The one-line reason an error gives. */
export function reasonOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n", 1)[0];
}
