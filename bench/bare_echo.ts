/**
 * The baseline: the plainest Deno echo server (one 64 KiB buffer per
 * connection, `read` then write all of it, loop). Prints `{"port":N}` once
 * listening; on SIGTERM prints `{"stats":{…}}` and exits.
 *
 *     deno run -A bench/bare_echo.ts [--max-seconds 600]
 */
import { onStop, serverArgs } from "./_server.ts";

const { maxSeconds } = serverArgs(Deno.args);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
// Counted like the observed connection counts them, to compare bytes per read.
const stats = { accepted: 0, bytesIn: 0, reads: 0, writes: 0, errors: 0 };

async function serve(conn: Deno.TcpConn): Promise<void> {
  // Same socket option as the service's endpoints, so only observation differs.
  conn.setNoDelay(true);
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const n = await conn.read(buf);
      if (n === null) break;
      stats.reads++;
      stats.bytesIn += n;
      let off = 0;
      while (off < n) {
        off += await conn.write(buf.subarray(off, n));
        stats.writes++;
      }
    }
  } catch {
    // Reset by the load generator at the end of a run.
    stats.errors++;
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function acceptLoop(): Promise<void> {
  try {
    for await (const conn of listener) {
      stats.accepted++;
      void serve(conn);
    }
  } catch {
    // The listener was closed on stop.
  }
}

onStop(maxSeconds, () => {
  listener.close();
  return stats;
});
console.log(JSON.stringify({ port: (listener.addr as Deno.NetAddr).port }));
await acceptLoop();
