/**
 * The Unix echo endpoint: the echo endpoint on a Unix stream socket at a path
 * (`--unix-path`), its queues read from sock_diag's AF_UNIX family.
 */
import { defineUnixEndpoint } from "../endpoint_spec.ts";
import { echoHandler } from "./echo.ts";

/** The Unix echo endpoint. */
export const unixEcho = defineUnixEndpoint({
  name: "unix-echo",
  transport: "unix",
  defaultPort: 0,
  description: "Echoes every byte back on a Unix stream socket (--unix-path)",
  tryIt: [
    "ncat -U {path}",
    "socat - UNIX-CONNECT:{path}",
    'deno task client unix-echo --path {path} "Hello, Unix"',
  ],
  // Not a target of the multiconn load, which dials plain TCP to a port.
  echoes: false,
  behaviour: () => ({ handler: echoHandler }),
});
