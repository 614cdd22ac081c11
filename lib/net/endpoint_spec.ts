/**
 * What an endpoint module declares: who it is (name, transport, default port,
 * description, the lines to try it, its lab), and for a TCP endpoint how the
 * service builds its behaviour. lib/net/endpoint_table.ts lists the modules.
 */
import type { TcpBehaviour } from "./tcp_endpoint.ts";

/** Which part of the labs page a lab sits in. */
export type LabGroup = "protocols" | "framing" | "throughput";

/** What the labs page says about an endpoint built from a tutorial. */
export interface LabInfo {
  group: LabGroup;
  /** Where the system comes from: a seed tutorial or an RFC. */
  seed: string;
  /** The lesson, in one or two sentences. */
  lesson: string;
  /** Whether the page links to the endpoint's address for a browser to open. @default false */
  browser?: boolean;
}

/** One endpoint's identity and how to try it. */
export interface EndpointSpec {
  name: string;
  /** "unix": a Unix stream socket at a path (`--unix-path`), served like a TCP endpoint. */
  transport: "tcp" | "udp" | "unix";
  /** Its port; 0 for a Unix socket, which has a path instead. */
  defaultPort: number;
  /** One sentence for the banner and the overview. */
  description: string;
  /**
   * Shell lines to try it; `{host}`, `{port}` and `{path}` (a Unix socket's) are filled in
   * with the real address, `{host}:{port}` with an IPv6 host in brackets.
   */
  tryIt: readonly string[];
  /** Its section on the labs page; an endpoint without one is not shown there. */
  lab?: LabInfo;
  /** Whether it writes back every byte it reads, which the multiconn load verifies. @default false */
  echoes?: boolean;
}

/**
 * A TCP endpoint: its spec and how to build its behaviour from `setup`, the
 * part of what the service holds that this endpoint reads (its options, the
 * chat room, the app latency histogram, …).
 */
export interface TcpEndpointSpec<Setup = unknown> extends EndpointSpec {
  transport: "tcp";
  /**
   * Whether it speaks TLS: the service listens with `Deno.listenTls` and its certificate
   * (lib/net/tls_cert.ts), and the handler sees the decrypted bytes. @default false
   */
  tls?: boolean;
  behaviour(setup: Setup): TcpBehaviour;
}

/**
 * A Unix stream endpoint: served by the same connection code as TCP (lib/net/tcp_endpoint.ts),
 * listening at the service's `unixPath` instead of a port.
 */
export interface UnixEndpointSpec<Setup = unknown> extends EndpointSpec {
  transport: "unix";
  defaultPort: 0;
  behaviour(setup: Setup): TcpBehaviour;
}

/** A UDP endpoint: the service runs it as a `UdpEndpoint` (lib/net/endpoints/udp.ts). */
export interface UdpEndpointSpec extends EndpointSpec {
  transport: "udp";
}

/** Declares a TCP endpoint (an identity function, for type inference of `Setup`). */
export function defineTcpEndpoint<Setup>(spec: TcpEndpointSpec<Setup>): TcpEndpointSpec<Setup> {
  return spec;
}

/** Declares a Unix stream endpoint (an identity function, like {@linkcode defineTcpEndpoint}). */
export function defineUnixEndpoint<Setup>(
  spec: UnixEndpointSpec<Setup>,
): UnixEndpointSpec<Setup> {
  return spec;
}

/** Declares a UDP endpoint (an identity function, for symmetry and checking). */
export function defineUdpEndpoint(spec: UdpEndpointSpec): UdpEndpointSpec {
  return spec;
}
