import { notStrictEqual, strictEqual, throws } from "node:assert/strict";
import { listenAll } from "./tcp_endpoint.ts";

/**
 * Runs `fn` while Deno.listen lets a plain listener (a real socket, another process's in life)
 * take the probe's port just before the first SO_REUSEPORT bind; returns that socket's port.
 */
function withThief<T>(fn: () => T): { result: T; stolen: number } {
  const original = Deno.listen;
  let thief: Deno.TcpListener | null = null;
  (Deno as { listen: unknown }).listen = (
    options: Deno.TcpListenOptions & { reusePort?: boolean },
  ) => {
    if (options.reusePort === true && thief === null) {
      thief = original({ hostname: options.hostname, port: options.port });
    }
    return original(options);
  };
  try {
    const result = fn();
    return { result, stolen: (thief!.addr as Deno.NetAddr).port };
  } finally {
    (Deno as { listen: unknown }).listen = original;
    (thief as Deno.TcpListener | null)?.close();
  }
}

Deno.test({
  name:
    "listenAll() on port 0 probes again when the probed port is taken before the listeners bind",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const { result, stolen } = withThief(() => listenAll("127.0.0.1", 0, 16, 2));
    try {
      strictEqual(result.length, 2);
      const port = (result[0].addr as Deno.NetAddr).port;
      notStrictEqual(port, stolen);
      strictEqual((result[1].addr as Deno.NetAddr).port, port);
    } finally {
      for (const l of result) l.close();
    }
  },
});

Deno.test({
  name: "listenAll() on a fixed port taken between probe and bind fails as a port in use",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (free.addr as Deno.NetAddr).port;
    free.close();
    throws(() => withThief(() => listenAll("127.0.0.1", port, 16, 2)), Deno.errors.AddrInUse);
  },
});
