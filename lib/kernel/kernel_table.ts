/** The kernel's socket table, sampled on demand: netlink sock_diag first, /proc/net/* as the fallback. */

import type { KernelSocket } from "../net/types.ts";
import { portFilter, sortedPorts } from "./_row.ts";
import type { KernelRows } from "./kernel_rows.ts";
import { readSockDiag, readSockDiagRows, readUnixDiag } from "./netlink.ts";
import { parseProcNet, type ProcNetTable } from "./proc_net.ts";
import { SocketOwners } from "./socket_owners.ts";

/** One look at the kernel's socket table, or why there is none. */
export type KernelSample =
  | {
    ok: true;
    source: "netlink" | "proc";
    /** When the sample was taken, epoch ms. */
    at: number;
    tookMs: number;
    sockets: KernelSocket[];
  }
  | { ok: false; reason: string; source: null; at: number };

/** What to sample. */
export interface KernelSampleOptions {
  /** Only sockets whose local or remote port is one of these; empty means every socket. */
  ports?: readonly number[];
  /**
   * Reuse a sample no older than this, when it is less than the table's `minIntervalMs`: a
   * view refreshed every 250 ms asks for samples that fresh. @default the table's minIntervalMs
   */
  maxAgeMs?: number;
  /**
   * Find each row's process (the table's `owners`). The diagnoses' per-second sample says
   * false: they never read owners, and a lookup after a new connection scans /proc (tens of ms
   * at 10,000 connections). A sample taken without owners gets them when a later caller wants
   * them. @default true
   */
  owners?: boolean;
}

/** Reads the rows of one source, keeping only `ports` when given (sorted, distinct). */
export type KernelReader = (
  options: KernelSampleOptions,
) => KernelSocket[] | Promise<KernelSocket[]>;

/** What {@linkcode KernelTable.sampleRows} tells of the rows it filled, or why there are none. */
export type KernelRowsSample =
  | { ok: true; source: "netlink" | "proc"; at: number; tookMs: number }
  | { ok: false; reason: string; source: null; at: number };

/** Reads the table into `rows` through netlink, with {@linkcode KernelReader}'s options. */
export type KernelRowsReader = (rows: KernelRows, options: KernelSampleOptions) => Promise<void>;

/** Options for {@linkcode KernelTable}. */
export interface KernelTableOptions {
  /** Reads the table through netlink sock_diag; `null` goes straight to /proc. @default readSockDiag, through FFI */
  readNetlink?: KernelReader | null;
  /**
   * Reads the table through netlink into columns ({@linkcode KernelTable.sampleRows}); null:
   * those samples are made of `readNetlink`'s rows. @default readSockDiagRows when
   * `readNetlink` is the default, else null
   */
  readNetlinkRows?: KernelRowsReader | null;
  /**
   * Reads the AF_UNIX stream sockets at these paths and their peers; null: none (the Unix
   * rows then say why). @default readUnixDiag, through FFI
   */
  readUnix?: ((paths: readonly string[]) => Promise<KernelSocket[]>) | null;
  /** Reads a whole file, for /proc/net/*. @default Deno.readFile */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** The folder holding the tcp, tcp6, udp and udp6 tables. @default "/proc/net" */
  procDir?: string;
  /** A sample younger than this is answered from cache instead of asking the kernel again. @default 500 */
  minIntervalMs?: number;
  /** The operating system, as `Deno.build.os` names it. @default Deno.build.os */
  os?: string;
  /** Wall clock for `at`, epoch ms. @default Date.now */
  now?: () => number;
  /** Monotonic clock for `tookMs` and the interval, ms. @default performance.now */
  clock?: () => number;
  /**
   * Whether to read the IPv6 tables too. A service bound to an IPv4 address has no IPv6
   * sockets, nor peers on IPv6, and the kernel's walk of the IPv6 table costs a few ms at
   * 20,000 sockets even when it finds nothing. @default true
   */
  ipv6?: boolean;
  /**
   * Finds the process holding each row's socket (as `ss -p`), once per sample, for the callers
   * that want owners; `null` for none. @default a SocketOwners reading /proc
   */
  owners?: Pick<SocketOwners, "attach"> | null;
}

interface Entry {
  sample?: KernelSample;
  takenAt: number;
  pending?: Promise<KernelSample>;
}

const PROC_TABLES: readonly ProcNetTable[] = ["tcp", "tcp6", "udp", "udp6"];
// Distinct port filters cached at once; each caller usually asks for the same few.
const MAX_CACHED_FILTERS = 64;

/** Samples the kernel's TCP and UDP sockets, at most once per `minIntervalMs` per port filter; concurrent callers share one read. */
export class KernelTable {
  #readNetlink: KernelReader | null;
  #readNetlinkRows: KernelRowsReader | null;
  #procTables: readonly ProcNetTable[];
  #readFile: (path: string) => Promise<Uint8Array>;
  #procDir: string;
  #minIntervalMs: number;
  #os: string;
  #now: () => number;
  #clock: () => number;
  #entries = new Map<string, Entry>();
  #owners: Pick<SocketOwners, "attach"> | null;
  #readUnix: ((paths: readonly string[]) => Promise<KernelSocket[]>) | null;
  #unix: Entry = { takenAt: -Infinity };
  // The row lists whose owners were looked up already (a cached sample is asked again).
  #owned = new WeakSet<KernelSocket[]>();

  /** Makes a table reading the real kernel unless readers are given. */
  constructor(options: KernelTableOptions = {}) {
    const { minIntervalMs = 500 } = options;
    if (!(minIntervalMs >= 0)) {
      throw new RangeError(`Cannot make KernelTable: minIntervalMs "${minIntervalMs}" is negative`);
    }
    const ipv6 = options.ipv6 ?? true;
    this.#readNetlink = options.readNetlink === undefined
      ? (read) => readSockDiag({ ports: read.ports, families: ipv6 ? [4, 6] : [4] })
      : options.readNetlink;
    this.#readNetlinkRows = options.readNetlinkRows !== undefined
      ? options.readNetlinkRows
      : options.readNetlink === undefined
      ? (rows, read) => readSockDiagRows(rows, { ports: read.ports, families: ipv6 ? [4, 6] : [4] })
      : null;
    // Without netlink there are no Unix rows either: /proc/net/unix has no queue lengths.
    this.#readUnix = options.readUnix === undefined
      ? (this.#readNetlink === null ? null : (paths) => readUnixDiag({ paths }))
      : options.readUnix;
    this.#procTables = ipv6 ? PROC_TABLES : PROC_TABLES.filter((t) => !t.endsWith("6"));
    this.#readFile = options.readFile ?? ((path) => Deno.readFile(path));
    this.#procDir = options.procDir ?? "/proc/net";
    this.#minIntervalMs = minIntervalMs;
    this.#os = options.os ?? Deno.build.os;
    this.#now = options.now ?? Date.now;
    this.#clock = options.clock ?? (() => performance.now());
    this.#owners = options.owners === undefined ? new SocketOwners() : options.owners;
  }

  /**
   * The table now, or the last sample if it is younger than `minIntervalMs` (or `maxAgeMs`,
   * when less), with each row's process unless `owners` is false. Never rejects
   * for the kernel's sake (a failed read is an `ok: false` sample); rejects with a
   * TypeError or RangeError for a bad port or age.
   */
  sample(options: KernelSampleOptions = {}): Promise<KernelSample> {
    const rows = this.#sample(options);
    return options.owners === false ? rows : rows.then((sample) => this.#withOwners(sample));
  }

  /**
   * The table now into `rows` (refilled), for a reader that looks at every row each sample
   * and keeps none (the diagnoses): a sample of objects another caller took no longer ago than
   * `maxAgeMs` (or one under way) is copied in, else netlink fills the columns without an
   * object per row; without netlink the rows come from /proc as {@linkcode sample} reads them.
   * Such a sample is not cached for {@linkcode sample}'s callers. Never rejects for the
   * kernel's sake; rejects with a TypeError or RangeError for a bad port or age.
   */
  async sampleRows(
    rows: KernelRows,
    options: Omit<KernelSampleOptions, "owners"> = {},
  ): Promise<KernelRowsSample> {
    const ports = options.ports === undefined || options.ports.length === 0
      ? undefined
      : sortedPorts(options.ports, "sample the kernel table");
    const maxAgeMs = Math.min(this.#minIntervalMs, options.maxAgeMs ?? Infinity);
    if (!(maxAgeMs >= 0)) {
      throw new RangeError(
        `Cannot sample the kernel table: maxAgeMs "${options.maxAgeMs}" is not 0 or more`,
      );
    }
    const t = this.#clock();
    const key = ports === undefined ? "" : ports.join(",");
    const shared = [this.#entries.get(key), ports === undefined ? undefined : this.#entries.get("")]
      .find((e) => e !== undefined && (e.pending || (e.sample && t - e.takenAt < maxAgeMs)));
    if (shared === undefined && this.#readNetlinkRows !== null && this.#os === "linux") {
      const at = this.#now();
      try {
        await this.#readNetlinkRows(rows, ports === undefined ? {} : { ports });
        return { ok: true, source: "netlink", at, tookMs: this.#since(t) };
      } catch {
        // As #take: /proc holds the same table, slower.
      }
    }
    const sample = await this.#sample({ ports, maxAgeMs, owners: false });
    if (!sample.ok) return sample;
    rows.fill(sample.sockets);
    return { ok: true, source: sample.source, at: sample.at, tookMs: sample.tookMs };
  }

  async #withOwners(sample: KernelSample): Promise<KernelSample> {
    if (!sample.ok || this.#owners === null || this.#owned.has(sample.sockets)) return sample;
    // Concurrent callers may both look: the lookup shares its scan, and a known inode is a get.
    await this.#owners.attach(sample.sockets);
    this.#owned.add(sample.sockets);
    return sample;
  }

  #sample(options: KernelSampleOptions): Promise<KernelSample> {
    let ports: number[] | undefined;
    try {
      // No ports, or an empty list, means every socket.
      ports = options.ports === undefined || options.ports.length === 0
        ? undefined
        : sortedPorts(options.ports, "sample the kernel table");
    } catch (error) {
      return Promise.reject(error);
    }
    const maxAgeMs = Math.min(this.#minIntervalMs, options.maxAgeMs ?? Infinity);
    if (!(maxAgeMs >= 0)) {
      return Promise.reject(
        new RangeError(
          `Cannot sample the kernel table: maxAgeMs "${options.maxAgeMs}" is not 0 or more`,
        ),
      );
    }
    const key = ports === undefined ? "" : ports.join(",");
    const entry = this.#entries.get(key);
    if (entry?.pending) return entry.pending;
    const t = this.#clock();
    if (entry?.sample && t - entry.takenAt < maxAgeMs) {
      return Promise.resolve(entry.sample);
    }
    if (ports !== undefined) {
      // A fresh or coming sample of every socket answers any port filter.
      const all = this.#entries.get("");
      if (all?.pending) return all.pending.then((sample) => narrow(sample, ports));
      if (all?.sample && t - all.takenAt < maxAgeMs) {
        return Promise.resolve(narrow(all.sample, ports));
      }
    }
    const fresh: Entry = { takenAt: t };
    fresh.pending = this.#take(ports).then((sample) => {
      fresh.sample = sample;
      fresh.pending = undefined;
      return sample;
    });
    this.#entries.delete(key);
    this.#entries.set(key, fresh);
    if (this.#entries.size > MAX_CACHED_FILTERS) {
      for (const [oldKey, old] of this.#entries) {
        if (!old.pending) {
          this.#entries.delete(oldKey);
          break;
        }
      }
    }
    return fresh.pending;
  }

  /**
   * The AF_UNIX stream sockets named one of `paths`, and their peers, from sock_diag's UNIX
   * family (/proc/net/unix has no queue lengths, so there is no fallback); at most once per
   * `minIntervalMs` (or `maxAgeMs`), concurrent callers sharing one read. Never rejects.
   */
  sampleUnix(paths: readonly string[], options: { maxAgeMs?: number } = {}): Promise<KernelSample> {
    const entry = this.#unix;
    if (entry.pending) return entry.pending;
    const maxAgeMs = Math.min(this.#minIntervalMs, options.maxAgeMs ?? Infinity);
    const t = this.#clock();
    if (entry.sample && t - entry.takenAt < maxAgeMs) return Promise.resolve(entry.sample);
    entry.takenAt = t;
    entry.pending = this.#takeUnix(paths).then((sample) => {
      entry.sample = sample;
      entry.pending = undefined;
      return sample;
    });
    return entry.pending;
  }

  async #takeUnix(paths: readonly string[]): Promise<KernelSample> {
    const at = this.#now();
    const start = this.#clock();
    if (this.#os !== "linux") {
      return {
        ok: false,
        reason: `Unix rows unavailable: not Linux (${this.#os})`,
        source: null,
        at,
      };
    }
    if (this.#readUnix === null) {
      return { ok: false, reason: "Unix rows unavailable: no unix_diag reader", source: null, at };
    }
    try {
      const sockets = await this.#readUnix(paths);
      return { ok: true, source: "netlink", at, tookMs: this.#since(start), sockets };
    } catch (error) {
      // Needs --allow-ffi and a kernel with unix_diag (CONFIG_UNIX_DIAG).
      const message = error instanceof Error ? error.message : String(error);
      return { ok: false, reason: `Unix rows unavailable: ${message}`, source: null, at };
    }
  }

  async #take(ports: number[] | undefined): Promise<KernelSample> {
    const at = this.#now();
    const start = this.#clock();
    if (this.#os !== "linux") {
      return {
        ok: false,
        reason: `Kernel view unavailable: not Linux (${this.#os})`,
        source: null,
        at,
      };
    }
    const read: KernelSampleOptions = ports === undefined ? {} : { ports };
    if (this.#readNetlink !== null) {
      try {
        const sockets = await this.#readNetlink(read);
        return { ok: true, source: "netlink", at, tookMs: this.#since(start), sockets };
      } catch {
        // Netlink needs FFI (--allow-ffi) and sock_diag; /proc holds the same table, slower.
      }
    }
    try {
      const sockets = await this.#readProc(ports);
      return { ok: true, source: "proc", at, tookMs: this.#since(start), sockets };
    } catch (error) {
      const reason = error instanceof ProcUnavailable
        ? error.message
        : `Kernel view unavailable: ${(error as Error)?.message ?? String(error)}`;
      return { ok: false, reason, source: null, at };
    }
  }

  async #readProc(ports: number[] | undefined): Promise<KernelSocket[]> {
    const filter = ports === undefined ? undefined : portFilter(ports);
    // Read the four tables at once: the kernel formats each on its own thread.
    const results = await Promise.allSettled(this.#procTables.map(async (table) => {
      const path = `${this.#procDir}/${table}`;
      let bytes: Uint8Array;
      try {
        bytes = await this.#readFile(path);
      } catch (error) {
        // Without IPv6 there are no tcp6 and udp6 tables, and no IPv6 sockets.
        if (table.endsWith("6") && errorName(error) === "NotFound") return [];
        throw new ProcUnavailable(readFailure(path, error));
      }
      try {
        return parseProcNet(bytes, table, { filter });
      } catch (error) {
        throw new ProcUnavailable(
          `Kernel view unavailable: cannot parse ${path}: ${(error as Error).message}`,
        );
      }
    }));
    const sockets: KernelSocket[] = [];
    for (const result of results) {
      if (result.status === "rejected") throw result.reason;
      for (const row of result.value) sockets.push(row);
    }
    return sockets;
  }

  #since(start: number): number {
    return Math.round((this.#clock() - start) * 100) / 100;
  }
}

class ProcUnavailable extends Error {}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

function readFailure(path: string, error: unknown): string {
  const name = errorName(error);
  const message = error instanceof Error ? error.message : String(error);
  switch (name) {
    case "NotCapable": {
      // Deno 2 reads /proc only with --allow-all, though without --allow-read it names that.
      const flag = path.startsWith("/proc/")
        ? "--allow-all"
        : /run again with the (--allow-[a-z-]+) flag/.exec(message)?.[1] ?? "--allow-read";
      return `Kernel view unavailable: reading ${path} needs ${flag} (NotCapable)`;
    }
    case "PermissionDenied":
      return `Kernel view unavailable: reading ${path} was denied (PermissionDenied)`;
    case "NotFound":
      return `Kernel view unavailable: ${path} not found (NotFound)`;
    default:
      return `Kernel view unavailable: reading ${path} failed (${name}): ${message}`;
  }
}

function narrow(sample: KernelSample, ports: readonly number[]): KernelSample {
  if (!sample.ok) return sample;
  const keep = portFilter(ports);
  return {
    ...sample,
    sockets: sample.sockets.filter((row) => keep(row.local.port, row.remote?.port ?? 0)),
  };
}
