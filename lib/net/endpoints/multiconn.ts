/**
 * The multiconn endpoint (seed 003's multi-connection server): an echo on a
 * port of its own, so the load generator's connections and messages are
 * counted apart from echo's.
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import { echoHandler } from "./echo.ts";

/** The multiconn endpoint. */
export const multiconn = defineTcpEndpoint({
  name: "multiconn",
  transport: "tcp",
  defaultPort: 65433,
  description: "Echo that counts each connection's messages, for the multiconn client",
  tryIt: ["nc {host} {port}", "deno task client multiconn --port {port} --conns 4"],
  echoes: true,
  behaviour: () => ({ handler: echoHandler }),
});
