/**
 * The endpoint modules' contract: what each declares is consistent, the
 * flags other code reads from them tell the truth over real sockets, and a
 * behaviour gets the endpoint that serves it without the service naming it.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import { PacketLog } from "../lib/capture/packet_log.ts";
import { BufferPool } from "../lib/net/buffer_pool.ts";
import { ECHOING, ENDPOINTS, LINK_ENDPOINTS, PORT_ENDPOINTS } from "../lib/net/endpoint_table.ts";
import { EndpointStats, Registry } from "../lib/net/registry.ts";
import { type TcpBehaviour, TcpEndpoint } from "../lib/net/tcp_endpoint.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  HOST,
  readExactly,
  startService,
  writeAll,
} from "./_helpers.ts";

Deno.test("ENDPOINTS: names and default ports are unique, every endpoint can be tried", () => {
  strictEqual(new Set(ENDPOINTS.map((e) => e.name)).size, ENDPOINTS.length);
  strictEqual(new Set(PORT_ENDPOINTS.map((e) => e.defaultPort)).size, PORT_ENDPOINTS.length);
  deepStrictEqual(LINK_ENDPOINTS.map((e) => e.name), ["raw"]);
  for (const e of ENDPOINTS) {
    ok(e.tryIt.length > 0, `${e.name} has no try-it line`);
    // A link endpoint has no port: its lines name the interface; a Unix one names its path.
    const where = e.transport === "link" ? "{iface}" : e.transport === "unix" ? "{path}" : "{port}";
    ok(e.tryIt.some((line) => line.includes(where)), `${e.name}: no line names its ${where}`);
    if (e.lab !== undefined) ok(e.lab.seed !== "" && e.lab.lesson !== "", `${e.name}: lab`);
  }
});

Deno.test("ECHOING endpoints write back every byte they read", async () => {
  await using t = startService();
  deepStrictEqual([...ECHOING], ["echo", "multiconn"]);
  for (const name of ECHOING) {
    const conn = await connect(t.port(name));
    try {
      const message = encoder.encode(`hello from ${name}\n`);
      await writeAll(conn, message);
      strictEqual(decoder.decode(await readExactly(conn, message.length)), `hello from ${name}\n`);
    } finally {
      closeQuietly(conn);
    }
  }
});

Deno.test("POST /api/clients/multiconn takes only the ECHOING endpoints", async () => {
  await using t = startService();
  const res = await t.api<{ error: string }>("/api/clients/multiconn", {
    method: "POST",
    body: JSON.stringify({ endpoint: "discard" }),
  });
  strictEqual(res.status, 400);
  match(res.body.error, /"endpoint" must be one of echo, multiconn: "discard"/);
});

Deno.test("TcpEndpoint calls its behaviour's attach() once, with itself, before serving", async () => {
  const attached: TcpEndpoint[] = [];
  const behaviour: TcpBehaviour = {
    handler: { data: (conn, chunk) => conn.echo(chunk) },
    attach: (endpoint) => void attached.push(endpoint),
  };
  const registry = new Registry();
  const endpoint = new TcpEndpoint(
    new EndpointStats("attach-test", "tcp", "test"),
    { registry, log: new PacketLog(), pool: new BufferPool() },
    behaviour,
    { hostname: HOST, port: 0, listeners: 1 },
  );
  try {
    strictEqual(attached.length, 1);
    strictEqual(attached[0], endpoint);
    // What the sink relies on: the connections it pauses are the attached endpoint's.
    const conn = await connect(endpoint.stats.address!.port);
    try {
      await writeAll(conn, encoder.encode("x"));
      await readExactly(conn, 1);
      strictEqual(attached[0].conns.size, 1);
    } finally {
      closeQuietly(conn);
    }
  } finally {
    await endpoint.close();
  }
});
