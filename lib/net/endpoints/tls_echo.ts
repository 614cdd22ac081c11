/**
 * The TLS echo endpoint: the echo endpoint behind TLS. The service listens with
 * `Deno.listenTls` and a certificate it makes at start (or `--tls-cert`/`--tls-key`), so the
 * handler, the packet log and the capture see the decrypted bytes, while the kernel view and
 * the wire view see the TCP socket and the handshake on the port.
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import { echoHandler } from "./echo.ts";

/** The TLS echo endpoint. */
export const tlsEcho = defineTcpEndpoint({
  name: "tls-echo",
  transport: "tcp",
  tls: true,
  defaultPort: 65447,
  description: "Echoes every byte back over TLS (a self-signed certificate made at start)",
  tryIt: [
    "openssl s_client -connect {host}:{port} -quiet",
    "ncat --ssl {host} {port}",
    'deno task client tls-echo --port {port} --insecure "Hello, TLS"',
  ],
  // Not a target of the multiconn load, which dials plain TCP to a port.
  echoes: false,
  behaviour: () => ({ handler: echoHandler }),
});
