/**
 * Scenarios that reproduce each diagnosis: the service plays the situation
 * against its own endpoints on loopback, for a bounded time, so a learner can
 * watch the evidence build and the diagnosis appear, then clear. The tests
 * drive the same scenarios. Each run undoes what it set (a fault) and closes
 * what it opened in `finally`.
 */
import { encodeRequest } from "../protocol/app_codec.ts";
import type { Fault } from "../view/fault.ts";
import type { Address, SocketRecord } from "../net/types.ts";
import { DIAGNOSIS_KINDS, type DiagnosisKind } from "./types.ts";
import { sendAndCloseUnread } from "./_raw_client.ts";
import {
  type AttachedFilter,
  attachSocketFilter,
  dropAllFilter,
  dropFractionFilter,
  socketFilterUnavailable,
} from "../net/socket_filter.ts";
import { listenBacklogUnavailable, setListenBacklog } from "../net/listen_backlog.ts";

/** A scenario's state. */
export type ScenarioState = "idle" | "running" | "done" | "failed" | "unavailable";

/** One kind's scenario and its latest run, as `GET /api/diagnoses/reproduce` lists it. */
export interface ScenarioRun {
  kind: DiagnosisKind;
  /** What the scenario does, in a sentence. */
  description: string;
  state: ScenarioState;
  startedAt: number | null;
  endedAt: number | null;
  /** What happened (connects made, datagrams sent, …) or why it failed or cannot run. */
  note: string | null;
}

/** What the scenarios use of the service (lib/net/service.ts `Service`). */
export interface ScenarioHost {
  /** The bound address of an endpoint, or undefined. */
  address(endpoint: string): Address | undefined;
  /** The fault in force on a TCP endpoint. */
  fault(endpoint: string): Fault;
  /** Sets a TCP endpoint's fault. */
  setFault(endpoint: string, fault: Fault): void;
  /** Joined socket rows of one endpoint. */
  sockets(filter: { endpoint?: string; states?: string[] }): Promise<SocketRecord[]>;
  /** TIME_WAIT sockets on one endpoint that make a pile-up (the rules' threshold). */
  timeWaitLimit(): number;
}

/** Options for {@linkcode Scenarios}. */
export interface ScenariosOptions {
  /** How long a scenario holds its situation, ms. @default 8000 */
  holdMs?: number;
  /** Most connects the accept-queue scenario makes; a larger backlog is refused. @default 4096 */
  maxConnects?: number;
}

interface Play {
  description: string;
  /** Null when it can run here, else why not. */
  unavailable?: string;
  run(signal: AbortSignal): Promise<string>;
}

/** Share of incoming segments the retransmissions scenario's client drops. */
export const SCENARIO_LOSS = 0.15;

/**
 * Backlog each of echo's listeners gets during the accept-queue scenario, when larger (and
 * FFI allows): a few dozen connects fill the queues instead of thousands.
 */
export const SCENARIO_BACKLOG = 8;

// What the filtered scenarios' client sends through echo at most.
const BULK_BYTES = 64 * 1024 * 1024;
// How long a filtered scenario's client waits for echo's end of stream once the filter is off.
const DRAIN_MS = 5000;

/** The scenarios of every kind, with their latest runs; one run per kind at a time. */
export class Scenarios {
  #host: ScenarioHost;
  #holdMs: number;
  #maxConnects: number;
  #runs = new Map<DiagnosisKind, ScenarioRun>();
  #plays: Record<DiagnosisKind, Play>;
  #running = new Map<DiagnosisKind, { done: Promise<void>; abort: AbortController }>();

  /** Makes the scenarios of `host`. */
  constructor(host: ScenarioHost, options: ScenariosOptions = {}) {
    this.#host = host;
    this.#holdMs = options.holdMs ?? 8000;
    this.#maxConnects = options.maxConnects ?? 4096;
    this.#plays = this.#makePlays();
    for (const kind of DIAGNOSIS_KINDS) {
      const play = this.#plays[kind];
      this.#runs.set(kind, {
        kind,
        description: play.description,
        state: play.unavailable ? "unavailable" : "idle",
        startedAt: null,
        endedAt: null,
        note: play.unavailable ?? null,
      });
    }
  }

  /** Every kind's scenario and its latest run. */
  list(): ScenarioRun[] {
    return DIAGNOSIS_KINDS.map((k) => ({ ...this.#runs.get(k)! }));
  }

  /**
   * Starts the scenario of `kind`; returns its run at once (state `running`). Throws a
   * RangeError when it cannot run here or is already running.
   */
  start(kind: DiagnosisKind): ScenarioRun {
    const play = this.#plays[kind];
    if (play.unavailable) {
      throw new RangeError(`Cannot reproduce "${kind}": ${play.unavailable}`);
    }
    if (this.#running.has(kind)) {
      throw new RangeError(`Cannot reproduce "${kind}": it is already running`);
    }
    const run: ScenarioRun = {
      kind,
      description: play.description,
      state: "running",
      startedAt: Date.now(),
      endedAt: null,
      note: null,
    };
    this.#runs.set(kind, run);
    const abort = new AbortController();
    const done = play.run(abort.signal).then((note) => {
      run.state = "done";
      run.note = note;
    }, (err) => {
      run.state = "failed";
      run.note = err instanceof Error ? err.message : String(err);
    }).finally(() => {
      run.endedAt = Date.now();
      this.#running.delete(kind);
    });
    this.#running.set(kind, { done, abort });
    return { ...run };
  }

  /** Resolves when the running scenario of `kind` (if any) has ended. */
  async finished(kind: DiagnosisKind): Promise<ScenarioRun> {
    await this.#running.get(kind)?.done;
    return { ...this.#runs.get(kind)! };
  }

  /** Stops every running scenario early and waits for their cleanup. */
  async close(): Promise<void> {
    for (const r of this.#running.values()) r.abort.abort();
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  #addr(endpoint: string): Address {
    const a = this.#host.address(endpoint);
    if (a === undefined) throw new RangeError(`Cannot reproduce: no endpoint "${endpoint}"`);
    return a;
  }

  #hold(signal: AbortSignal): Promise<void> {
    return sleep(this.#holdMs, signal);
  }

  /** Sets `fault` on `endpoint` while `body` runs, restoring the one in force before. */
  async #withFault<T>(endpoint: string, fault: Fault, body: () => Promise<T>): Promise<T> {
    const before = this.#host.fault(endpoint);
    this.#host.setFault(endpoint, fault);
    try {
      return await body();
    } finally {
      this.#host.setFault(endpoint, before);
    }
  }

  #makePlays(): Record<DiagnosisKind, Play> {
    const filterWhy = socketFilterUnavailable();
    const lossNote = filterWhy === null ? undefined : "needs a socket filter on the scenario's " +
      `own connection (SO_ATTACH_FILTER through FFI), which cannot be attached here: ${filterWhy}`;
    const mechanism = "the scenario's client drops incoming segments with a socket filter " +
      "(SO_ATTACH_FILTER): real loss at the receiver, not a simulation";
    return {
      "peer-not-reading": {
        description: "A client connects to chargen and never reads: chargen's Send-Q fills.",
        run: async (signal) => {
          const conn = await Deno.connect(this.#addr("chargen"));
          try {
            await this.#hold(signal);
          } finally {
            conn.close();
          }
          return "held one unread chargen connection; closed it (with data unread: RST)";
        },
      },
      "service-not-reading": {
        description:
          "The stall fault on discard, and a client that keeps writing: discard's Recv-Q fills.",
        run: (signal) =>
          this.#withFault("discard", { mode: "stall" }, async () => {
            const conn = await Deno.connect(this.#addr("discard"));
            const block = new Uint8Array(65536);
            let written = 0;
            const writer = (async () => {
              try {
                while (!signal.aborted && written < 64 * 1024 * 1024) {
                  written += await conn.write(block);
                }
              } catch {
                // Closed below.
              }
            })();
            try {
              await this.#hold(signal);
            } finally {
              conn.close();
              await writer;
            }
            return `wrote ${written} bytes into a stalled discard connection`;
          }),
      },
      "accept-queue-overflow": {
        description:
          "The pause-accept fault on echo and a burst of connects beyond the accept queue; " +
          `a backlog larger than ${SCENARIO_BACKLOG} per listener is set to ${SCENARIO_BACKLOG} ` +
          "(listen(2) again on echo's sockets, as --backlog does) for the run, then restored.",
        run: (signal) => this.#acceptBurst(signal),
      },
      "nagle-delayed-ack": {
        description:
          "A client with Nagle on writes each app request in two writes and waits for the answer.",
        run: async (signal) => {
          const conn = await Deno.connect(this.#addr("app"));
          conn.setNoDelay(false);
          const frame = encodeRequest("search", "nagle");
          const buf = new Uint8Array(65536);
          let exchanges = 0;
          const end = Date.now() + this.#holdMs;
          try {
            while (!signal.aborted && Date.now() < end && exchanges < 1000) {
              // The header length and header, then the content: two small writes.
              await writeAll(conn, frame.subarray(0, frame.length - 10));
              await writeAll(conn, frame.subarray(frame.length - 10));
              if (await conn.read(buf) === null) break;
              exchanges++;
            }
          } finally {
            conn.close();
          }
          return `${exchanges} write-write-read exchanges`;
        },
      },
      "peer-vanished": {
        description: "A client sends 1 KiB to echo, then hears nothing: " + mechanism +
          ". Every segment for it is dropped, so echo's answer is never acknowledged and the " +
          "service retransmits with backoff, with no FIN or RST; after the hold the filter " +
          "comes off and the client closes.",
        unavailable: lossNote,
        run: (signal) => this.#vanish(signal),
      },
      "retransmissions": {
        description: "A client streams data through echo and reads it back while it drops " +
          `${SCENARIO_LOSS * 100}% of the segments that arrive for it, at random: ` + mechanism +
          ". Echo retransmits what was lost and the transfer goes on.",
        unavailable: lossNote,
        run: (signal) => this.#lossyTransfer(signal),
      },
      "reset-with-unread-data": {
        description:
          "A client sends to echo and closes at once without reading the echo (seed 004): its kernel answers with RST.",
        run: async (signal) => {
          // Deno's close() sends FIN first: a plain close(2) through libc, as seed 004's client.
          await sendAndCloseUnread(this.#addr("echo"), new Uint8Array(65536).fill(0x61), 200);
          await this.#hold(signal).catch(() => {});
          return "sent 65536 bytes to echo and closed with the echo unread";
        },
      },
      "time-wait-pileup": {
        description:
          "Many short connections to echo that the client closes first: each leaves a TIME_WAIT for 60 s.",
        run: async (signal) => {
          const target = this.#host.timeWaitLimit() + 50;
          const addr = this.#addr("echo");
          let made = 0;
          const worker = async () => {
            while (!signal.aborted && made < target) {
              made++;
              const conn = await Deno.connect(addr);
              // Wait for the server's side to exist, so the close is a normal one.
              await conn.write(new Uint8Array([0x0a]));
              await conn.read(new Uint8Array(16));
              conn.close();
            }
          };
          await Promise.all(Array.from({ length: 32 }, worker));
          await this.#hold(signal).catch(() => {});
          return `${made} connections opened and closed; their TIME_WAITs last 60 s`;
        },
      },
      "udp-receive-drops": {
        description: "A burst of datagrams at the udp endpoint, faster than it reads.",
        run: (signal) => this.#udpBurst(signal),
      },
    };
  }

  async #acceptBurst(signal: AbortSignal): Promise<string> {
    const addr = this.#addr("echo");
    const listening = async () => {
      const rows = await this.#host.sockets({ endpoint: "echo", states: ["LISTEN"] });
      const backlog = rows.find((r) => r.kind === "listener")?.kernel?.sendQ;
      // /proc has no backlog for LISTEN (0); sock_diag through FFI has.
      if (backlog === undefined || backlog === 0) {
        throw new RangeError(
          "Cannot reproduce: the kernel view does not show echo's backlog; run the service with --allow-ffi (sock_diag shows it, /proc does not)",
        );
      }
      return backlog;
    };
    // The listener row sums the backlogs of echo's listeners (SO_REUSEPORT).
    let backlog = await listening();
    let shrunk: Awaited<ReturnType<typeof setListenBacklog>> | null = null;
    let how = "";
    const ffiWhy = listenBacklogUnavailable();
    if (ffiWhy === null && backlog > SCENARIO_BACKLOG) {
      // listen(2) again on echo's own sockets, as --backlog does at bind; set back after.
      shrunk = await setListenBacklog(addr, SCENARIO_BACKLOG);
      how = `echo's backlog shrunk from ${
        shrunk.before.join("+")
      } to ${SCENARIO_BACKLOG} per listener for the run, then restored; `;
    }
    try {
      if (shrunk !== null) backlog = await listening();
      const listeners = shrunk?.fds.length ?? 1;
      const count = backlog + 16 * Math.max(1, listeners);
      if (count > this.#maxConnects) {
        throw new RangeError(
          `Cannot reproduce: filling echo's accept queues (backlog ${backlog}) takes ${count} connects, more than ${this.#maxConnects}, and the scenario cannot shrink the backlog for its run (${ffiWhy}); run the service with --allow-ffi, or start it with a smaller --backlog (e.g. --backlog 64)`,
        );
      }
      return how + await this.#burst(signal, addr, count, backlog);
    } finally {
      shrunk?.restore();
    }
  }

  async #burst(
    signal: AbortSignal,
    addr: Address,
    count: number,
    backlog: number,
  ): Promise<string> {
    const conns: Deno.Conn[] = [];
    let closing = false;
    const pending: Promise<void>[] = [];
    const note = await this.#withFault("echo", { mode: "pause-accept" }, async () => {
      for (let i = 0; i < count && !signal.aborted; i++) {
        // Connects beyond the queue wait for their SYN to be retried: never awaited one by one.
        pending.push(
          Deno.connect(addr).then((c) => {
            if (closing) c.close();
            else conns.push(c);
          }, () => {}),
        );
      }
      await this.#hold(signal).catch(() => {});
      return `${count} connects against a backlog of ${backlog} with accept paused`;
    });
    // Accept runs again: the connects still waiting complete (SYN retries), closed as they do.
    closing = true;
    for (const c of conns) c.close();
    const waited = new AbortController();
    await Promise.race([Promise.all(pending), sleep(10_000, waited.signal).catch(() => {})]);
    waited.abort();
    return note;
  }

  /** A connection to echo whose incoming segments are all dropped for the hold. */
  async #vanish(signal: AbortSignal): Promise<string> {
    const conn = await Deno.connect(this.#addr("echo"));
    let filter: AttachedFilter | null = null;
    try {
      // One exchange first: echo's kernel then has a round-trip time from data, so its
      // retransmission timer starts at the 200 ms floor and backs off from there (without a
      // sample it was 1 s in some runs, and backoff 3 took ~10 s instead of ~1.5 s).
      await writeAll(conn, new Uint8Array([0x76]));
      await conn.read(new Uint8Array(16));
      filter = await attachSocketFilter(conn, dropAllFilter());
      // Small, so echo's answer is one segment and nothing looks like a full queue.
      await writeAll(conn, new Uint8Array(1024).fill(0x76));
      await this.#hold(signal).catch(() => {});
    } finally {
      // Echo's answer comes at the server's next retransmission, which backoff puts up to
      // about the hold's length later: read it, so the close is clean (no RST, which would be
      // a reset-with-unread-data of its own).
      await endFiltered(conn, filter, undefined, this.#holdMs + DRAIN_MS);
    }
    return "held a connection to echo whose every incoming segment was dropped for " +
      `${this.#holdMs / 1000} s; then took the filter off and closed it`;
  }

  /** A bulk transfer through echo while a random share of incoming segments is dropped. */
  async #lossyTransfer(signal: AbortSignal): Promise<string> {
    const conn = await Deno.connect(this.#addr("echo"));
    let filter: AttachedFilter | null = null;
    let written = 0;
    let read = 0;
    let reader: Promise<void> = Promise.resolve();
    try {
      filter = await attachSocketFilter(conn, dropFractionFilter(SCENARIO_LOSS));
      // Read all along: echo writes each chunk back before it reads the next.
      reader = (async () => {
        const buf = new Uint8Array(65536);
        try {
          while (true) {
            const n = await conn.read(buf);
            if (n === null) break;
            read += n;
          }
        } catch {
          // Closed below.
        }
      })();
      // Paced (16 KiB every 4 ms, ~4 MB/s): a few hundred segments a second make tens of
      // losses a second, and the service's own loop, which runs this client and echo both,
      // stays free for its monitor.
      const block = new Uint8Array(16384).fill(0x72);
      const end = Date.now() + this.#holdMs;
      while (!signal.aborted && Date.now() < end && written < BULK_BYTES) {
        await writeAll(conn, block);
        written += block.length;
        await sleep(4, signal).catch(() => {});
      }
    } finally {
      await endFiltered(conn, filter, reader);
    }
    return `${written} bytes through echo with ${
      SCENARIO_LOSS * 100
    }% of incoming segments dropped; ${read} read back`;
  }

  async #udpBurst(signal: AbortSignal): Promise<string> {
    const addr = this.#addr("udp");
    const socks = Array.from(
      { length: 8 },
      () => Deno.listenDatagram({ transport: "udp", hostname: addr.hostname, port: 0 }),
    );
    const payload = new Uint8Array(1400);
    let sent = 0;
    let dropped = 0;
    const end = Date.now() + Math.min(this.#holdMs, 3000);
    const drops = async () =>
      (await this.#host.sockets({ endpoint: "udp" })).find((r) => r.kind === "udp")?.kernel?.info
        ?.drops ?? 0;
    const before = await drops();
    try {
      // The burst stops once the kernel counts drops: enough to see, no more load than that.
      const watch = (async () => {
        while (!signal.aborted && Date.now() < end && dropped === 0) {
          await sleep(100, signal).catch(() => {});
          dropped = (await drops()) - before;
        }
      })();
      await Promise.all(socks.map(async (s) => {
        while (!signal.aborted && Date.now() < end && dropped === 0 && sent < 2_000_000) {
          const batch: Promise<number>[] = [];
          for (let i = 0; i < 64; i++) batch.push(s.send(payload, { transport: "udp", ...addr }));
          await Promise.all(batch);
          sent += 64;
        }
      }));
      await watch;
      await this.#hold(signal).catch(() => {});
    } finally {
      for (const s of socks) s.close();
    }
    return `${sent} datagrams of 1400 bytes sent from 8 sockets; the kernel dropped ${dropped}`;
  }
}

/**
 * Ends a filtered scenario's connection cleanly: the filter off, our FIN, then echo's
 * remaining bytes and end of stream read (bounded), so neither side closes with data unread
 * (which would reset, and be a diagnosis of its own).
 */
async function endFiltered(
  conn: Deno.TcpConn,
  filter: AttachedFilter | null,
  reader?: Promise<void>,
  drainMs = DRAIN_MS,
): Promise<void> {
  try {
    filter?.detach();
    await conn.closeWrite();
    const drained = reader ?? (async () => {
      const buf = new Uint8Array(65536);
      while (await conn.read(buf) !== null) {
        // Echo's answer, retransmitted now that the filter is off.
      }
    })().catch(() => {});
    const waited = new AbortController();
    await Promise.race([drained, sleep(drainMs, waited.signal).catch(() => {})]);
    waited.abort();
  } catch {
    // The connection failed: closed below all the same.
  } finally {
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let at = 0;
  while (at < bytes.length) at += await conn.write(bytes.subarray(at));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
