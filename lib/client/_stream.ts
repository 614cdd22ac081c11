/** Reading helpers for the lab clients: reads bounded in time and in bytes. */
import { concat } from "../bytes.ts";
import type { StreamConn } from "./types.ts";

/**
 * Settles like `op`, a read or write on `conn`; after `ms` without settling,
 * closes `conn` (so `op` ends) and throws `Deno.errors.TimedOut(message)`.
 */
export async function within<T>(
  op: Promise<T>,
  ms: number,
  conn: { close(): void },
  message: string,
): Promise<T> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, ms);
  try {
    return await op;
  } catch (err) {
    if (timedOut) throw new Deno.errors.TimedOut(message);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** What {@linkcode readToEnd} read. */
export interface ReadAll {
  bytes: Uint8Array;
  /** Reads it took. */
  reads: number;
}

/**
 * Reads until the peer closes; throws RangeError past `maxBytes`. Bound it
 * in time through the connection's signal (see dialBound).
 */
export async function readToEnd(conn: StreamConn, maxBytes: number): Promise<ReadAll> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let reads = 0;
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    reads++;
    total += n;
    if (total > maxBytes) throw new RangeError(`Reply larger than ${maxBytes} bytes`);
    chunks.push(buf.slice(0, n));
  }
  return { bytes: concat(chunks), reads };
}

/** Half-closes `conn` (sends FIN); throws TypeError if the connection cannot. */
export async function halfClose(conn: StreamConn): Promise<void> {
  if (conn.closeWrite === undefined) {
    throw new TypeError("Cannot half-close: the connection has no closeWrite()");
  }
  await conn.closeWrite();
}

/**
 * Sends FIN and reads what is still in flight until the server closes, within
 * `ms`: closing with a generator's bytes unread would reset the connection.
 */
export async function drainAndClose(
  conn: {
    read(p: Uint8Array): Promise<number | null>;
    closeWrite?(): Promise<void>;
    close(): void;
  },
  ms: number,
): Promise<void> {
  const timer = setTimeout(() => conn.close(), ms);
  try {
    await conn.closeWrite?.();
    const sink = new Uint8Array(256 * 1024);
    while (await conn.read(sink) !== null) {
      // Discarding what the generator wrote before it saw our FIN.
    }
  } catch {
    // Reset or closed by the timer: either way the run is over.
  } finally {
    clearTimeout(timer);
  }
}
