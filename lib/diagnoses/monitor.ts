/**
 * Runs the diagnosis engine on a timer against the running service: each
 * tick takes the live sockets joined with the kernel's rows (the service's
 * lean sample where it has one: no object per socket), the recently closed
 * sockets and the system counters, feeds them to the engine and tells
 * subscribers what appeared or cleared. The ticks keep to a share of one core:
 * at 10,000 connections a tick costs tens of ms, so the interval stretches
 * (doubling at most per tick) rather than the service slowing down.
 */
import type { NetCountersReading } from "../kernel/net_counters.ts";
import type { SocketRecord } from "../net/types.ts";
import { type DiagnosisChange, DiagnosisEngine, type DiagnosisEngineOptions } from "./engine.ts";
import type { WireEvidence } from "./types.ts";
import type { RuleThresholds } from "./rules.ts";

/** Share of one core the ticks may take. */
export const DIAGNOSIS_BUDGET = 0.05;

/** Ticks whose cost {@linkcode nextIntervalMs} weighs: the cheapest of them counts. */
export const TICK_COST_WINDOW = 3;

/**
 * The next interval: `baseMs`, or longer so that ticks stay within
 * {@linkcode DIAGNOSIS_BUDGET} of a core. A tick's time is wall time (the snapshot awaits the
 * kernel table and /proc), so one stall (a busy core, a collection, a sample queued behind
 * another) would stretch the interval twelvefold and delay every diagnosis by as much
 * (measured: one 639 ms tick made it 12.8 s): the cheapest of the last
 * {@linkcode TICK_COST_WINDOW} ticks is the cost, which a really costly table (10,000
 * connections) keeps high on every tick. Until there are that many, `baseMs`. And it grows at
 * most to twice `previousMs` a tick (the first after 10,000 connects took 332 ms: 6.6 s at once);
 * ticks that stay slow double it again each time.
 */
export function nextIntervalMs(
  baseMs: number,
  recentTookMs: readonly number[],
  previousMs = Infinity,
): number {
  // The first ticks (a process still compiling, a table cached cold) say little yet.
  if (recentTookMs.length < TICK_COST_WINDOW) return baseMs;
  const budgeted = Math.ceil(Math.min(...recentTookMs) / DIAGNOSIS_BUDGET);
  return Math.max(baseMs, Math.min(budgeted, 2 * previousMs));
}

/** The live sockets as the rules read them (lib/net/service.ts `Service.diagnosisSample`). */
export interface DiagnosisSockets {
  /** Our live sockets joined with the kernel's rows; records may be one object refilled. */
  sockets: Iterable<SocketRecord>;
  /** TIME_WAIT sockets per endpoint among the kernel's rows `sockets` leaves out. */
  timeWait: ReadonlyMap<string, number>;
}

/** What the monitor reads of the service (lib/net/service.ts `Service`). */
export interface DiagnosedService {
  /** Joined rows; the monitor asks for no owners (`owners: false`): no rule reads them. */
  sockets(options: { kernelMaxAgeMs?: number; owners?: boolean }): Promise<SocketRecord[]>;
  /**
   * The sockets for one tick, without a record or kernel row object per socket; where given,
   * the monitor reads this instead of {@linkcode sockets}. At 10,000 connections a tick of
   * joined records allocates ~23 MB that lives a second, which V8 promotes to the old
   * generation: the process's RSS grew ~5 KB per connection with the diagnoses on.
   */
  diagnosisSample?(options: { kernelMaxAgeMs: number }): Promise<DiagnosisSockets>;
  /** The recently closed sockets, with the wire's verdict on how each ended where it has one. */
  readonly registry: { closed(): SocketRecord[] };
  readonly kernelStatus: { available: boolean };
}

/** Options for {@linkcode DiagnosisMonitor}. */
export interface DiagnosisMonitorOptions extends DiagnosisEngineOptions {
  /** Interval between ticks, ms; 0 runs no timer (ticks only on demand). @default 1000 */
  intervalMs?: number;
  /** Reads the system counters and the port range. @default none: counters null */
  readCounters?: () => Promise<NetCountersReading>;
  /** Epoch ms. @default Date.now */
  now?: () => number;
  /**
   * False runs no timer at all (`--no-diagnoses`): nothing is sampled for the diagnoses and the
   * API says they are off. @default true
   */
  enabled?: boolean;
}

/** Listens for diagnoses that appear or clear. */
export type DiagnosisListener = (change: DiagnosisChange) => void;

/** The engine on a timer, with subscribers. */
export class DiagnosisMonitor {
  /** The engine: active diagnoses, history, totals. */
  readonly engine: DiagnosisEngine;
  /** The wire view's evidence; the lead connects lib/wire here. null while it is off. */
  wire: WireEvidence | null = null;
  /** Milliseconds the last tick took (snapshot, counters and rules). */
  lastTookMs = 0;
  /** The ephemeral port range of the last tick, null until known. */
  portRange: readonly [number, number] | null = null;
  /** The rules' thresholds, as given. */
  readonly thresholds: RuleThresholds;
  /** The interval in force: `intervalMs`, or longer when ticks cost more. */
  intervalMs: number;
  /** False when made with `enabled: false`: the timer never runs. */
  readonly enabled: boolean;
  #service: DiagnosedService;
  #baseMs: number;
  #readCounters: (() => Promise<NetCountersReading>) | null;
  #now: () => number;
  #listeners = new Set<DiagnosisListener>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<DiagnosisChange[]> | null = null;
  #stopped = false;
  #recentTookMs: number[] = [];

  /** Makes a monitor of `service`; {@linkcode start} runs its timer. */
  constructor(service: DiagnosedService, options: DiagnosisMonitorOptions = {}) {
    const { intervalMs = 1000, readCounters, now, enabled = true, ...engine } = options;
    if (!(intervalMs >= 0)) {
      throw new RangeError(`Cannot make DiagnosisMonitor: intervalMs "${intervalMs}" is negative`);
    }
    this.#now = now ?? Date.now;
    // Closes from the service's start on are news, also those before the first tick.
    this.engine = new DiagnosisEngine({ startedAt: this.#now(), ...engine });
    this.thresholds = engine;
    this.#service = service;
    this.#baseMs = intervalMs;
    this.intervalMs = intervalMs;
    this.#readCounters = readCounters ?? null;
    this.enabled = enabled;
  }

  /** Calls `listener` for each diagnosis that appears or clears; returns the unsubscribe. */
  subscribe(listener: DiagnosisListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts the timer (unref'd: it never keeps the process alive). */
  start(): void {
    if (!this.enabled || this.#baseMs === 0 || this.#stopped || this.#timer !== undefined) return;
    this.#schedule(this.#baseMs);
  }

  /** Stops the timer for good. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (concurrent callers share it); resolves to what changed. */
  tick(): Promise<DiagnosisChange[]> {
    this.#running ??= this.#tick().finally(() => this.#running = null);
    return this.#running;
  }

  async #tick(): Promise<DiagnosisChange[]> {
    const started = performance.now();
    const kernelMaxAgeMs = Math.max(this.intervalMs, 250);
    const service = this.#service;
    const [{ sockets, timeWait }, reading] = await Promise.all([
      service.diagnosisSample !== undefined
        ? service.diagnosisSample({ kernelMaxAgeMs })
        : service.sockets({ kernelMaxAgeMs, owners: false }).then((sockets) => ({
          sockets,
          timeWait: undefined,
        })),
      this.#readCounters === null
        ? Promise.resolve({ counters: null, portRange: null })
        : this.#readCounters().catch(() => ({ counters: null, portRange: null })),
    ]);
    if (reading.portRange !== null) this.portRange = reading.portRange;
    const changes = this.engine.update({
      now: this.#now(),
      sockets,
      timeWait,
      closed: this.#service.registry.closed(),
      netstat: reading.counters,
      portRange: reading.portRange,
      wire: this.wire,
      kernel: this.#service.kernelStatus.available,
    });
    this.lastTookMs = performance.now() - started;
    for (const change of changes) {
      for (const listener of this.#listeners) {
        try {
          listener(change);
        } catch {
          // A listener's failure (a closed stream) is its own.
        }
      }
    }
    return changes;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.tick().catch(() => []).then(() => {
        if (this.#stopped) return;
        this.#recentTookMs.push(this.lastTookMs);
        if (this.#recentTookMs.length > TICK_COST_WINDOW) this.#recentTookMs.shift();
        this.intervalMs = nextIntervalMs(this.#baseMs, this.#recentTookMs, this.intervalMs);
        this.#schedule(this.intervalMs);
      });
    }, ms);
    this.#timer.unref();
  }
}
