/**
 * Pure helpers of the benchmark: a latency histogram, medians and the
 * Markdown table. No `Deno.*` here, so they are tested without sockets.
 */

/** Latencies in whole microseconds: exact below `limitUs`, counted above it. */
export class LatencyHistogram {
  readonly limitUs: number;
  #counts: Uint32Array;
  #count = 0;
  #over: number[] = [];
  #maxOver: number;

  /** `limitUs` buckets of 1 µs; at most `maxOver` slower samples are kept exactly. */
  constructor(limitUs = 100_000, maxOver = 100_000) {
    this.limitUs = limitUs;
    this.#counts = new Uint32Array(limitUs);
    this.#maxOver = maxOver;
  }

  /** Samples recorded. */
  get count(): number {
    return this.#count;
  }

  /** Records one latency in milliseconds (as `performance.now()` differences give). */
  add(ms: number): void {
    const us = Math.round(ms * 1000);
    this.#count++;
    if (us < this.limitUs) this.#counts[us < 0 ? 0 : us]++;
    else if (this.#over.length < this.#maxOver) this.#over.push(us);
    else this.#over[this.#over.length - 1] = Math.max(this.#over[this.#over.length - 1], us);
  }

  /** Adds every sample of `other` (same bucket width). */
  merge(other: LatencyHistogram): void {
    const n = Math.min(this.limitUs, other.limitUs);
    for (let i = 0; i < n; i++) this.#counts[i] += other.#counts[i];
    for (const us of other.#over) {
      if (this.#over.length < this.#maxOver) this.#over.push(us);
    }
    this.#count += other.#count;
  }

  /** The `p`-th percentile (0–100) in microseconds, nearest rank; null when empty. */
  percentileUs(p: number): number | null {
    if (this.#count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let us = 0; us < this.limitUs; us++) {
      seen += this.#counts[us];
      if (seen >= rank) return us;
    }
    const over = this.#over.toSorted((a, b) => a - b);
    return over[Math.min(over.length - 1, rank - seen - 1)] ?? this.limitUs;
  }
}

/** Median of the finite numbers in `values`; null when there are none. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v))
    .toSorted((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

/** `a / b`, or null when either is missing or `b` is zero. */
export function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

/** Server CPU seconds from two `/proc/<pid>/stat` texts and the clock tick rate. */
export function cpuSecondsBetween(before: string, after: string, ticksPerSecond = 100): number {
  return (cpuTicks(after) - cpuTicks(before)) / ticksPerSecond;
}

/** utime + stime of a `/proc/<pid>/stat` line (all threads of the process). */
export function cpuTicks(stat: string): number {
  // The command name may contain spaces and parentheses: fields are counted after the last ")".
  const close = stat.lastIndexOf(")");
  if (close < 0) throw new SyntaxError(`Cannot parse /proc stat: no ")" in "${stat.slice(0, 40)}"`);
  const fields = stat.slice(close + 2).split(" ");
  // After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new SyntaxError(`Cannot parse /proc stat: utime "${fields[11]}" is not a number`);
  }
  return utime + stime;
}

/** Busy ticks of all CPUs (everything but idle and iowait) from the first line of `/proc/stat`. */
export function busyTicks(procStat: string): number {
  const line = procStat.slice(0, procStat.indexOf("\n"));
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== "cpu") {
    throw new SyntaxError(
      `Cannot parse /proc/stat: first line "${line.slice(0, 40)}" is not "cpu"`,
    );
  }
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = fields.slice(1, 9).map(Number);
  return user + nice + system + (irq || 0) + (softirq || 0) + (steal || 0);
}

/** Formats `n` with `digits` significant digits at most, or "–" for null. */
export function fmt(n: number | null, digits = 3): string {
  if (n === null) return "–";
  if (n === 0) return "0";
  const abs = Math.abs(n);
  if (abs >= 10 ** digits) return Math.round(n).toLocaleString("en-US");
  return Number(n.toPrecision(digits)).toString();
}

/** A Markdown table with a header row; cells are padded so the plain text lines up too. */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ")} |`;
  return [
    line(header),
    `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`,
    ...rows.map(line),
  ].join("\n");
}
