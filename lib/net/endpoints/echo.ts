/** The echo endpoint: every byte read is written back (the tutorial's echo server, seed 003). */
import type { ConnHandler } from "../observed_conn.ts";

/**
 * Writes each chunk back (as an echo, so the capture stores it once); the next
 * read waits for the write, so a slow reader slows the echo.
 */
export const echoHandler: ConnHandler = {
  data: (conn, chunk) => conn.echo(chunk),
};
