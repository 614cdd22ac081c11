/** The echo endpoint: every byte read is written back (the tutorial's echo server, seed 003). */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler } from "../observed_conn.ts";

/**
 * Writes each chunk back (as an echo, so the capture stores it once); the next
 * read waits for the write, so a slow reader slows the echo.
 */
export const echoHandler: ConnHandler = {
  data: (conn, chunk) => conn.echo(chunk),
};

/** The echo endpoint. */
export const echo = defineTcpEndpoint({
  name: "echo",
  transport: "tcp",
  defaultPort: 65432,
  description: "Echoes every byte back, many clients at once",
  tryIt: ["nc {host} {port}", 'deno task client echo --port {port} "Hello, world"'],
  echoes: true,
  behaviour: () => ({ handler: echoHandler }),
});
