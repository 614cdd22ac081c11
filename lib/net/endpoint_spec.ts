/**
 * What an endpoint module declares: who it is (name, transport, default port,
 * description, the lines to try it, its lab), and for a TCP endpoint how the
 * service builds its behaviour. lib/net/endpoint_table.ts lists the modules.
 *
 * Four transports: TCP and UDP endpoints listen on a port, a Unix endpoint on a path; a
 * link-layer endpoint (the raw lab) has no port: it receives the frames of one EtherType on
 * the capture interface.
 */
import type { TcpBehaviour } from "./tcp_endpoint.ts";

/** Which part of the labs page a lab sits in. */
export type LabGroup = "protocols" | "framing" | "throughput" | "link";

/**
 * How an endpoint is reached: a TCP or UDP port, a Unix socket's path, or frames of an
 * EtherType on an interface.
 */
export type Transport = "tcp" | "udp" | "unix" | "link";

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

/** One endpoint's identity and how to try it, whatever its transport. */
export interface BaseEndpointSpec {
  name: string;
  transport: Transport;
  /** One sentence for the banner and the overview. */
  description: string;
  /**
   * Shell lines to try it; `{host}`, `{port}` and `{path}` (a Unix socket's) are filled in with
   * the real address, `{host}:{port}` with an IPv6 host in brackets, and a link endpoint's
   * `{iface}` with its interface.
   */
  tryIt: readonly string[];
  /** Its section on the labs page; an endpoint without one is not shown there. */
  lab?: LabInfo;
  /** Whether it writes back every byte it reads, which the multiconn load verifies. @default false */
  echoes?: boolean;
}

/** A socket endpoint: TCP and UDP listen on a port (a `--<name>-port` flag each), Unix on a path. */
export interface EndpointSpec extends BaseEndpointSpec {
  transport: "tcp" | "udp" | "unix";
  /** Its port; 0 for a Unix socket, which has a path instead. */
  defaultPort: number;
}

/**
 * A link-layer endpoint: no port; the service opens an `AF_PACKET` socket bound to `etherType`
 * on the interface its endpoints are reached on (`lo` for 127.0.0.1) and hands each frame to
 * the module. Without root or CAP_NET_RAW it is not listening and says why.
 */
export interface LinkEndpointSpec extends BaseEndpointSpec {
  transport: "link";
  /** The EtherType received (0x0801 for seed 004's frames). */
  etherType: number;
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

/** Declares a link-layer endpoint (an identity function, for symmetry and checking). */
export function defineLinkEndpoint(spec: LinkEndpointSpec): LinkEndpointSpec {
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
