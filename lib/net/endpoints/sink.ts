/**
 * The sink: accepts and never reads until drained through the API, so the
 * kernel's receive queue fills on this side and the writer's send queue on
 * the other (the buffer demonstration in seed 003's troubleshooting section).
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler } from "../observed_conn.ts";
import type { TcpBehaviour, TcpEndpoint } from "../tcp_endpoint.ts";

/** The sink's behaviour and its drain switch. */
export class Sink implements TcpBehaviour {
  #draining = false;
  #endpoint: TcpEndpoint | null = null;

  /** Bytes read are discarded: only the counters and the packet log keep them. */
  readonly handler: ConnHandler = { data: () => {} };

  /** Whether the sink currently reads. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Binds the switch to the endpoint whose connections it pauses and resumes. */
  attach(endpoint: TcpEndpoint): void {
    this.#endpoint = endpoint;
  }

  /** New connections start held unless the sink is draining. */
  startPaused(): boolean {
    return !this.#draining;
  }

  /** Starts (true) or stops (false) reading on every sink connection; returns how many changed. */
  drain(on: boolean): number {
    this.#draining = on;
    let n = 0;
    for (const conn of this.#endpoint?.conns ?? []) {
      if (on) conn.resume();
      else conn.pause();
      n++;
    }
    return n;
  }
}

/** The sink endpoint: it serves the service's drain switch, which the API flips. */
export const sink = defineTcpEndpoint({
  name: "sink",
  transport: "tcp",
  defaultPort: 65436,
  description: "Accepts and never reads until drained, so Recv-Q and the writer's Send-Q fill",
  tryIt: [
    "deno task client sink --port {port}",
    "curl --json '{\"drain\":true}' http://{dashboard}/api/sink/drain",
  ],
  behaviour: ({ sink }: { sink: Sink }) => sink,
});
