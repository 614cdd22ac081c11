/** The UDP client: send datagrams to an echo endpoint and wait for each echo, like ping. */
import { formatAddress, sameBytes, sleep } from "./_conn.ts";
import { checkHostname, checkInteger, checkPort } from "./_check.ts";
import { LatencyRecorder } from "./stats.ts";
import type { DialAddress, LatencySummary } from "./types.ts";
import { udp as udpEndpoint } from "../net/endpoints/udp.ts";

/** Default port of the UDP endpoint, as lib/net/endpoints/udp.ts declares it. */
export const UDP_PORT = udpEndpoint.defaultPort;

/** Largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65_507;

/** Options for {@linkcode udp}. */
export interface UdpOptions {
  /**
   * Host to send to.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Port of the UDP endpoint.
   *
   * @default {65435}
   */
  port?: number;
  /**
   * Datagrams to send.
   *
   * @default {1}
   */
  count?: number;
  /**
   * Milliseconds between one send and the next.
   *
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * Longest wait for each echo, in milliseconds; later echoes count as lost.
   *
   * @default {1000}
   */
  timeoutMs?: number;
  /**
   * Local address to bind, port 0.
   *
   * @default {"127.0.0.1" for a loopback target, "::" for IPv6, else "0.0.0.0"}
   */
  bindHostname?: string;
  /** Stops the client; it closes the socket and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each datagram is answered or given up on. */
  onReply?: (reply: UdpReply) => void;
}

/** What happened to one datagram. */
export interface UdpReply {
  /** 1-based sequence number. */
  seq: number;
  outcome: "echo" | "mismatch" | "timeout";
  /** Milliseconds until the echo; null on timeout. */
  rttMs: number | null;
  /** Bytes in the reply (0 on timeout). */
  bytes: number;
}

/** What a UDP run did. */
export interface UdpResult {
  /** True when every datagram came back byte for byte. */
  ok: boolean;
  /** Why the run failed, in one line. */
  error?: string;
  address: DialAddress;
  /** The local address the datagrams came from. */
  local: DialAddress;
  sent: number;
  /** Echoes that matched what was sent. */
  received: number;
  /** Replies that differed from what was sent. */
  mismatched: number;
  /** Datagrams with no reply within the timeout. */
  lost: number;
  lossPercent: number;
  /** The first reply as UTF-8 text (invalid sequences replaced); "" when none arrived. */
  text: string;
  /** Round-trip time of the matched echoes, in milliseconds. */
  rttMs: LatencySummary | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Checks UDP options and fills in defaults; throws TypeError or RangeError. */
export function resolveUdpOptions(
  options: UdpOptions = {},
): Required<Omit<UdpOptions, "onReply">> & UdpOptions {
  const hostname = checkHostname(options.hostname ?? "127.0.0.1");
  return {
    hostname,
    port: checkPort(options.port ?? UDP_PORT),
    count: checkInteger(options.count ?? 1, "count", 1, 1_000_000),
    intervalMs: checkInteger(options.intervalMs ?? 1000, "intervalMs", 0, 3_600_000),
    timeoutMs: checkInteger(options.timeoutMs ?? 1000, "timeoutMs", 1, 3_600_000),
    bindHostname: checkHostname(options.bindHostname ?? bindFor(hostname), "bindHostname"),
    signal: options.signal ?? new AbortController().signal,
    onReply: options.onReply,
  };
}

/** Sends `message` `count` times and waits for each echo. */
export async function udp(
  message: string | Uint8Array,
  options: UdpOptions = {},
): Promise<UdpResult> {
  const { hostname, port, count, intervalMs, timeoutMs, bindHostname, signal, onReply } =
    resolveUdpOptions(options);
  const payload = typeof message === "string" ? encoder.encode(message) : message;
  if (payload.length === 0) throw new RangeError('Invalid message: "" is empty');
  if (payload.length > MAX_DATAGRAM) {
    throw new RangeError(
      `Invalid message: "${payload.length}" bytes exceed the UDP limit of ${MAX_DATAGRAM}`,
    );
  }
  signal.throwIfAborted();
  const address = { hostname, port };
  const target: Deno.NetAddr = { transport: "udp", hostname, port };
  const sock = Deno.listenDatagram({ transport: "udp", hostname: bindHostname, port: 0 });
  const localAddr = sock.addr as Deno.NetAddr;
  const inbox = receiveFrom(sock, port);
  const onAbort = () => sock.close();
  signal.addEventListener("abort", onAbort, { once: true });
  const rtt = new LatencyRecorder();
  let mismatched = 0;
  let lost = 0;
  let text: string | null = null;
  try {
    for (let seq = 1; seq <= count; seq++) {
      // An echo arriving after its timeout must not pass for the next one.
      inbox.clear();
      const sentAt = performance.now();
      await sock.send(payload, target);
      const reply = await inbox.next(timeoutMs);
      signal.throwIfAborted();
      const now = performance.now();
      let outcome: UdpReply["outcome"];
      if (reply === null) {
        lost++;
        outcome = "timeout";
      } else {
        text ??= decoder.decode(reply);
        if (sameBytes(reply, payload)) {
          rtt.add(now - sentAt);
          outcome = "echo";
        } else {
          mismatched++;
          outcome = "mismatch";
        }
      }
      onReply?.({
        seq,
        outcome,
        rttMs: outcome === "timeout" ? null : now - sentAt,
        bytes: reply?.length ?? 0,
      });
      if (seq < count) await sleep(Math.max(0, sentAt + intervalMs - performance.now()), signal);
    }
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    try {
      sock.close();
    } catch {
      // Closed by an abort already.
    }
    await inbox.done;
  }
  const result: UdpResult = {
    ok: rtt.count === count,
    address,
    local: { hostname: localAddr.hostname, port: localAddr.port },
    sent: count,
    received: rtt.count,
    mismatched,
    lost,
    lossPercent: (lost / count) * 100,
    text: text ?? "",
    rttMs: rtt.summary(),
  };
  if (result.ok) return result;
  let error: string;
  if (mismatched > 0) error = `${mismatched} of ${count} echoes differ from what was sent`;
  else if (count === 1) error = `No echo from "${formatAddress(address)}" within ${timeoutMs} ms`;
  else error = `${lost} of ${count} datagrams lost (no echo within ${timeoutMs} ms)`;
  return { ...result, error };
}

/** The datagrams from the target's port, handed out one at a time. */
interface Inbox {
  /** The next datagram, or null after `timeoutMs`. */
  next(timeoutMs: number): Promise<Uint8Array | null>;
  /** Drops datagrams that arrived but were not taken. */
  clear(): void;
  /** Settles once the socket is closed and the receive loop has ended. */
  done: Promise<void>;
}

function receiveFrom(sock: Deno.DatagramConn, port: number): Inbox {
  // One buffer for every receive: receive() without one allocates 64 KiB per datagram.
  const buf = new Uint8Array(MAX_DATAGRAM + 1);
  const held: Uint8Array[] = [];
  let waiter = null as ((datagram: Uint8Array | null) => void) | null;
  const done = (async () => {
    try {
      while (true) {
        let datagram: [Uint8Array, Deno.Addr];
        try {
          datagram = await sock.receive(buf);
        } catch (err) {
          // An ICMP "port unreachable" for an earlier send surfaces here as
          // ConnectionRefused: that datagram is lost, the socket still works.
          if (err instanceof Deno.errors.ConnectionRefused) continue;
          // Anything else means the socket was closed: the run is over.
          return;
        }
        const [data, from] = datagram;
        if ((from as Deno.NetAddr).port !== port) continue;
        const copy = data.slice();
        if (waiter) waiter(copy);
        // Only the latest few matter: each send clears what is left.
        else if (held.length < 16) held.push(copy);
      }
    } finally {
      waiter?.(null);
    }
  })();
  return {
    next(timeoutMs) {
      const ready = held.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(null), timeoutMs);
        const settle = (datagram: Uint8Array | null) => {
          clearTimeout(timer);
          waiter = null;
          resolve(datagram);
        };
        waiter = settle;
      });
    },
    clear() {
      held.length = 0;
    },
    done,
  };
}

function bindFor(hostname: string): string {
  if (hostname === "localhost" || hostname.startsWith("127.")) return "127.0.0.1";
  if (hostname === "::1") return "::1";
  return hostname.includes(":") ? "::" : "0.0.0.0";
}
