/**
 * The diagnosis engine: feeds samples of evidence through the rules
 * (./rules.ts) and turns what holds into diagnoses with hysteresis: one
 * appears once its condition has held for `appearMs` (events at once) and
 * clears once it has been false for `clearMs`, then keeps its `until` in the
 * history. Pure: the caller gives each sample its time.
 */
import { evaluate, type Finding, RuleMemory, type RuleThresholds } from "./rules.ts";
import type { DiagnosisSample } from "./rules.ts";
import { type Diagnosis, DIAGNOSIS_KINDS, type DiagnosisKind } from "./types.ts";

/** Options for {@linkcode DiagnosisEngine}. */
export interface DiagnosisEngineOptions extends RuleThresholds {
  /** How long a condition must hold before its diagnosis appears (events appear at once), ms. @default 1000 */
  appearMs?: number;
  /** How long a condition must be false before its diagnosis clears, ms. @default 3000 */
  clearMs?: number;
  /** Cleared diagnoses kept in the history. @default 200 */
  keepCleared?: number;
  /** Epoch ms the engine starts watching: closes before it are history. @default the first sample's time */
  startedAt?: number;
}

/** What the engine reports as diagnoses come and go. */
export interface DiagnosisChange {
  change: "appear" | "clear";
  diagnosis: Diagnosis;
}

interface Tracked {
  firstSeen: number;
  lastSeen: number;
  active: Diagnosis | null;
}

/** Turns samples into diagnoses; keeps the active ones, the history and counts per kind. */
export class DiagnosisEngine {
  #memory = new RuleMemory();
  #tracked = new Map<string, Tracked>();
  #cleared: Diagnosis[] = [];
  #appearMs: number;
  #clearMs: number;
  #keepCleared: number;
  #thresholds: RuleThresholds;
  #next = 1;
  /** Diagnoses that appeared, per kind, since the engine started. */
  readonly totals: Record<DiagnosisKind, number>;

  /** Makes an engine with the given thresholds. */
  constructor(options: DiagnosisEngineOptions = {}) {
    const { appearMs = 1000, clearMs = 3000, keepCleared = 200, startedAt, ...thresholds } =
      options;
    if (startedAt !== undefined) this.#memory.closedUpTo = startedAt;
    for (const [name, value] of [["appearMs", appearMs], ["clearMs", clearMs]] as const) {
      if (!(value >= 0)) {
        throw new RangeError(`Cannot make DiagnosisEngine: ${name} "${value}" is not 0 or more`);
      }
    }
    this.#appearMs = appearMs;
    this.#clearMs = clearMs;
    this.#keepCleared = keepCleared;
    this.#thresholds = thresholds;
    this.totals = Object.fromEntries(DIAGNOSIS_KINDS.map((k) => [k, 0])) as Record<
      DiagnosisKind,
      number
    >;
  }

  /** Evaluates one sample; returns the diagnoses that appeared or cleared with it. */
  update(sample: DiagnosisSample): DiagnosisChange[] {
    const now = sample.now;
    const findings = evaluate(sample, this.#memory, this.#thresholds);
    const changes: DiagnosisChange[] = [];
    const seen = new Set<string>();
    for (const f of findings) {
      if (seen.has(f.key)) continue;
      seen.add(f.key);
      let t = this.#tracked.get(f.key);
      if (t === undefined) {
        t = { firstSeen: now, lastSeen: now, active: null };
        this.#tracked.set(f.key, t);
      }
      t.lastSeen = now;
      if (t.active !== null) {
        Object.assign(t.active, pick(f));
      } else if (f.event || now - t.firstSeen >= this.#appearMs) {
        t.active = {
          id: `${f.kind}-${this.#next++}`,
          ...pick(f),
          since: t.firstSeen,
          until: null,
        };
        this.totals[f.kind]++;
        changes.push({ change: "appear", diagnosis: t.active });
      }
    }
    for (const [key, t] of this.#tracked) {
      if (seen.has(key)) continue;
      if (t.active === null) {
        // The condition broke before it held long enough: no diagnosis, start over.
        this.#tracked.delete(key);
      } else if (now - t.lastSeen >= this.#clearMs) {
        t.active.until = now;
        this.#cleared.push(t.active);
        if (this.#cleared.length > this.#keepCleared) this.#cleared.shift();
        changes.push({ change: "clear", diagnosis: t.active });
        this.#tracked.delete(key);
      }
    }
    return changes;
  }

  /** The active diagnoses, oldest first. */
  active(): Diagnosis[] {
    const out: Diagnosis[] = [];
    for (const t of this.#tracked.values()) if (t.active !== null) out.push(t.active);
    return out.sort((a, b) => a.since - b.since);
  }

  /** The active diagnoses and the cleared ones kept, newest cleared last. */
  all(): Diagnosis[] {
    return [...this.#cleared, ...this.active()];
  }

  /** Active diagnoses per kind. */
  activeByKind(): Record<DiagnosisKind, number> {
    const out = Object.fromEntries(DIAGNOSIS_KINDS.map((k) => [k, 0])) as Record<
      DiagnosisKind,
      number
    >;
    for (const d of this.active()) out[d.kind]++;
    return out;
  }

  /** The kinds active per socket id, for the socket rows. */
  kindsBySocket(): Map<string, DiagnosisKind[]> {
    const out = new Map<string, DiagnosisKind[]>();
    for (const t of this.#tracked.values()) {
      const d = t.active;
      if (d === null || d.socket === null) continue;
      const list = out.get(d.socket);
      if (list === undefined) out.set(d.socket, [d.kind]);
      else if (!list.includes(d.kind)) list.push(d.kind);
    }
    return out;
  }
}

function pick(f: Finding): Omit<Diagnosis, "id" | "since" | "until"> {
  return {
    kind: f.kind,
    severity: f.severity,
    socket: f.socket,
    endpoint: f.endpoint,
    summary: f.summary,
    evidence: f.evidence,
    advice: f.advice,
  };
}
