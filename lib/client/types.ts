/** Shapes shared by every client in lib/client and by whoever runs them (the CLI, the server). */

/** Where a client connects: a literal IP address or host name, and a port. */
export interface DialAddress {
  hostname: string;
  port: number;
}

/** Options a dial function may honour. */
export interface DialOptions {
  /** Aborts a connect still in progress. */
  signal?: AbortSignal;
}

/** The part of `Deno.Conn` the clients use, so any observed connection can stand in. */
export interface StreamConn {
  /** Reads into `p`; resolves to the byte count, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes some of `p`; resolves to the byte count the kernel accepted. */
  write(p: Uint8Array): Promise<number>;
  /** Closes both directions; pending reads and writes reject. */
  close(): void;
  /** Half-closes: sends FIN, keeps reading. */
  closeWrite?(): Promise<void>;
  /** Turns Nagle's algorithm off (true) or on (false). */
  setNoDelay?(noDelay?: boolean): void;
}

/** Opens a stream connection; `Deno.connect` by default. */
export interface Dial {
  (address: DialAddress, options?: DialOptions): Promise<StreamConn>;
  /** What it reaches whatever the address, for messages (a Unix socket's path). */
  readonly target?: string;
}

/** Options every TCP client takes. */
export interface TcpClientOptions {
  /**
   * Host to connect to.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /** Port to connect to; each client defaults to its endpoint's port. */
  port?: number;
  /** Stops the client; it closes what it opened and rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Opens the connection, so the server can run a client over its own observed connections.
   *
   * @default {Deno.connect}
   */
  dial?: Dial;
}

/** What a one-message exchange (echo, reverse) did. */
export interface ExchangeResult {
  /** True when the answer is exactly what the endpoint should send back. */
  ok: boolean;
  /** Why the exchange failed, in one line. */
  error?: string;
  address: DialAddress;
  /** Bytes sent. */
  sent: number;
  /** Bytes read back. */
  received: number;
  /** The answer as UTF-8 text (invalid sequences replaced). */
  text: string;
}

/** Milliseconds-based summary of a set of timings, like ping's last line plus percentiles. */
export interface LatencySummary {
  /** How many samples were taken. */
  count: number;
  min: number;
  avg: number;
  max: number;
  /** Standard deviation, as ping's "mdev". */
  mdev: number;
  p50: number;
  p90: number;
  p99: number;
  /** The 99.9th percentile. */
  p999: number;
}
