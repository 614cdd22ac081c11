/**
 * Clients the service runs itself (the multiconn load generator, the sink
 * writer), over observed connections, so their sockets show up in the table
 * like any other: endpoint "launcher", role "client".
 */
import { multiconn, type MulticonnResult } from "../client/multiconn.ts";
import { sink, type SinkResult } from "../client/sink.ts";
import type { Dial } from "../client/types.ts";
import { ObservedConn } from "./observed_conn.ts";
import { EndpointStats } from "./registry.ts";
import type { ServiceContext } from "./service_context.ts";
import type { Address } from "./types.ts";

/** One client run as `/api/clients` shows it. */
export interface ClientRun {
  id: string;
  kind: "multiconn" | "sink";
  status: "running" | "done" | "failed" | "stopped";
  target: Address;
  options: Record<string, unknown>;
  startedAt: number;
  endedAt: number | null;
  /** Live figures while running (bytes, messages, phase). */
  progress: Record<string, unknown> | null;
  result: MulticonnResult | SinkResult | null;
  error: string | null;
}

/** Parameters of a multiconn run started from the API or the dashboard. */
export interface MulticonnRunOptions {
  target: Address;
  conns: number;
  messages: number;
  /** Bytes per message; without it, the tutorial's messages. */
  size?: number;
}

/** Sizing of the run list. */
export interface ClientRunsOptions {
  /** Finished runs kept for `/api/clients`. @default 50 */
  keepFinished?: number;
  /** Runs at once. @default 4 */
  maxRunning?: number;
  /** How long the sink writer holds its stalled connection open. @default 300000 */
  sinkHoldMs?: number;
}

let nextRunId = 1;

/** Starts, tracks and stops the service's own client runs. */
export class Launcher {
  readonly stats = new EndpointStats("launcher", "tcp", "Connections the service opened itself");
  readonly conns = new Set<ObservedConn>();
  #runs = new Map<string, ClientRun & { abort: AbortController }>();
  #ctx: ServiceContext;
  #keepFinished: number;
  #maxRunning: number;
  #sinkHoldMs: number;
  #connCtx;

  constructor(ctx: ServiceContext, options: ClientRunsOptions = {}) {
    this.#ctx = ctx;
    this.#keepFinished = options.keepFinished ?? 50;
    this.#maxRunning = options.maxRunning ?? 4;
    this.#sinkHoldMs = options.sinkHoldMs ?? 300_000;
    ctx.registry.addEndpoint(this.stats);
    this.#connCtx = {
      endpoint: this.stats.name,
      log: ctx.log,
      pool: ctx.pool,
      counters: this.stats,
      onClose: (conn: ObservedConn) => {
        this.conns.delete(conn);
        ctx.fds?.release();
        this.stats.live--;
        this.stats.closed++;
        ctx.registry.remove(conn);
      },
    };
  }

  /**
   * Opens an observed client connection (a `Dial` for lib/client). Each is a descriptor, so it
   * counts against the service's descriptor budget like an accepted one; when the budget is
   * spent the dial fails (the run reports it) instead of taking the dashboard's descriptors.
   */
  readonly dial: Dial = async (address, options) => {
    const fds = this.#ctx.fds;
    if (fds !== undefined && !fds.acquire()) {
      this.stats.refused++;
      this.stats.hit("fd-budget");
      throw new Error(
        `Descriptor budget spent (${fds.used} of ${fds.budget} connections open)`,
      );
    }
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: address.hostname, port: address.port });
    } catch (err) {
      fds?.release();
      throw err;
    }
    if (options?.signal?.aborted) {
      conn.close();
      fds?.release();
      throw options.signal.reason;
    }
    const observed = new ObservedConn(conn, this.#connCtx, "client");
    this.stats.accepted++;
    this.stats.live++;
    this.conns.add(observed);
    this.#ctx.registry.add(observed);
    return observed;
  };

  /** Every run, newest last, without internals. */
  list(): ClientRun[] {
    return [...this.#runs.values()].map(({ abort: _, ...run }) => run);
  }

  /** One run by id. */
  get(id: string): ClientRun | undefined {
    const run = this.#runs.get(id);
    if (run === undefined) return undefined;
    const { abort: _, ...rest } = run;
    return rest;
  }

  /** Starts the multiconn load generator against `target`; throws RangeError when too many run. */
  startMulticonn(options: MulticonnRunOptions): ClientRun {
    const run = this.#begin("multiconn", options.target, {
      conns: options.conns,
      messages: options.messages,
      size: options.size,
    });
    this.#finish(
      run,
      multiconn({
        hostname: options.target.hostname,
        port: options.target.port,
        conns: options.conns,
        messages: options.messages,
        size: options.size,
        dial: this.dial,
        signal: run.abort.signal,
        onProgress: (p) => run.progress = { ...p },
      }),
    );
    return this.get(run.id)!;
  }

  /** Starts writing to `target` until the buffers fill, then holds the connection open. */
  startSink(target: Address): ClientRun {
    const run = this.#begin("sink", target, { holdMs: this.#sinkHoldMs });
    this.#finish(
      run,
      sink({
        hostname: target.hostname,
        port: target.port,
        holdMs: this.#sinkHoldMs,
        dial: this.dial,
        signal: run.abort.signal,
        onProgress: (p) => run.progress = { ...p },
      }),
    );
    return this.get(run.id)!;
  }

  /** Stops a running run (its connections close); false if it is not running. */
  stop(id: string): boolean {
    const run = this.#runs.get(id);
    if (run === undefined || run.status !== "running") return false;
    run.status = "stopped";
    run.abort.abort(new Error("Stopped through the API"));
    return true;
  }

  /** Stops every run and closes every client connection. */
  close(): void {
    for (const run of this.#runs.values()) {
      if (run.status === "running") run.abort.abort(new Error("Service stopping"));
    }
    for (const conn of [...this.conns]) conn.close("service stopping");
  }

  #begin(
    kind: ClientRun["kind"],
    target: Address,
    options: Record<string, unknown>,
  ): ClientRun & { abort: AbortController } {
    const running = [...this.#runs.values()].filter((r) => r.status === "running").length;
    if (running >= this.#maxRunning) {
      throw new RangeError(
        `Cannot start client: ${running} runs already running (limit ${this.#maxRunning})`,
      );
    }
    const run = {
      id: `r${nextRunId++}`,
      kind,
      status: "running" as ClientRun["status"],
      target,
      options,
      startedAt: Date.now(),
      endedAt: null,
      progress: null,
      result: null,
      error: null,
      abort: new AbortController(),
    };
    this.#runs.set(run.id, run);
    this.#trim();
    return run;
  }

  #finish(
    run: ClientRun & { abort: AbortController },
    done: Promise<MulticonnResult | SinkResult>,
  ): void {
    done.then(
      (result) => {
        run.result = result;
        if (run.status === "running") run.status = result.ok ? "done" : "failed";
        run.error = result.ok ? null : result.error ?? null;
      },
      (err) => {
        if (run.status === "running") run.status = "failed";
        run.error = err instanceof Error ? err.message : String(err);
      },
    ).finally(() => run.endedAt = Date.now());
  }

  #trim(): void {
    const finished = [...this.#runs.values()].filter((r) => r.status !== "running");
    for (const run of finished.slice(0, Math.max(0, finished.length - this.#keepFinished))) {
      this.#runs.delete(run.id);
    }
  }
}
