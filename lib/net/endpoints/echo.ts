/** The echo endpoint: every byte read is written back (the tutorial's echo server, seed 003). */
import type { ConnHandler } from "../observed_conn.ts";

/** Writes each chunk back; the next read waits for the write, so a slow reader slows the echo. */
export const echoHandler: ConnHandler = {
  data: (conn, chunk) => conn.write(chunk),
};
