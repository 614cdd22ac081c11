/**
 * The client list client (seed 004): send a name and read the JSON map of
 * every client the server has seen. Unlike the seed's single recv(1024), it
 * reads until the server closes, so a long list arrives whole.
 */
import { causeOf, deadline, dialBound, writeAll } from "./_conn.ts";
import { checkInteger, resolveTcpOptions } from "./_check.ts";
import { halfClose, readToEnd } from "./_stream.ts";
import type { DialAddress, TcpClientOptions } from "./types.ts";
import { clients as clientsEndpoint } from "../net/endpoints/client_list.ts";

/** Default port of the client list endpoint, as lib/net/endpoints/clients.ts declares it. */
export const CLIENTS_PORT = clientsEndpoint.defaultPort;

/** Options for {@linkcode clientList}. */
export interface ClientListOptions extends TcpClientOptions {
  /**
   * Port of the clients endpoint.
   *
   * @default {65438}
   */
  port?: number;
  /**
   * Longest the whole exchange may take, in milliseconds.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Largest reply accepted, in bytes.
   *
   * @default {16777216}
   */
  maxBytes?: number;
}

/** One client in the list. */
export interface ListedClient {
  name: string;
  address: string;
  port: number;
}

/** What one exchange did. */
export interface ClientListResult {
  /** True when the reply parsed and lists the name sent. */
  ok: boolean;
  /** Why the exchange failed, in one line. */
  error?: string;
  address: DialAddress;
  name: string;
  /** The list, keyed by name, oldest first. */
  clients: Record<string, ListedClient>;
  count: number;
  /** Bytes of the reply. */
  bytes: number;
  /** Reads the reply took: more than one when it is longer than a read buffer. */
  reads: number;
  seconds: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks options and fills in defaults; throws TypeError or RangeError. */
export function resolveClientListOptions(
  options: ClientListOptions = {},
): Required<ClientListOptions> {
  return {
    ...resolveTcpOptions(options, CLIENTS_PORT),
    timeoutMs: checkInteger(options.timeoutMs ?? 5000, "timeoutMs", 1, 3_600_000),
    maxBytes: checkInteger(options.maxBytes ?? 16 * 1024 * 1024, "maxBytes", 1, 2 ** 30),
  };
}

/** Sends `name` (then half-closes, which ends it) and reads the whole client list. */
export async function clientList(
  name: string,
  options: ClientListOptions = {},
): Promise<ClientListResult> {
  const { hostname, port, timeoutMs, maxBytes, signal, dial } = resolveClientListOptions(options);
  const payload = encoder.encode(name);
  if (payload.length === 0 || payload.length > 1024) {
    throw new RangeError(`Invalid name: ${payload.length} bytes is not in 1..1024`);
  }
  if (name.includes("\n")) throw new RangeError("Invalid name: a newline ends a name");
  const address = { hostname, port };
  const started = performance.now();
  using limit = deadline(timeoutMs, `No client list within ${timeoutMs} ms`, signal);
  using conn = await dialBound(dial, address, limit.signal);
  let reply: { bytes: Uint8Array; reads: number };
  try {
    await writeAll(conn, payload);
    await halfClose(conn);
    reply = await readToEnd(conn, maxBytes);
  } catch (err) {
    throw causeOf(err, limit.signal);
  }
  const base = {
    address,
    name,
    bytes: reply.bytes.length,
    reads: reply.reads,
    seconds: (performance.now() - started) / 1000,
  };
  let clients: Record<string, ListedClient>;
  try {
    clients = JSON.parse(decoder.decode(reply.bytes));
  } catch (err) {
    return {
      ...base,
      ok: false,
      error: `Cannot parse the client list: ${(err as Error).message}`,
      clients: {},
      count: 0,
    };
  }
  const count = Object.keys(clients).length;
  if (!Object.hasOwn(clients, name)) {
    return { ...base, ok: false, error: `The list does not name "${name}"`, clients, count };
  }
  return { ...base, ok: true, clients, count };
}
