/**
 * Who owns each socket, as `ss -p` tells it: a socket's inode (from sock_diag or /proc/net)
 * matched against the `socket:[inode]` links in /proc/<pid>/fd, and the process's name from
 * /proc/<pid>/comm. The /proc reads are injected, so the logic is tested without a real /proc.
 */

import type { KernelSocket, ProcessOwner } from "../net/types.ts";

/** The file-system reads a scan makes, synchronous: a scan reads thousands of links. */
export interface ProcReaders {
  /** Names of the entries of a directory. */
  readDir(path: string): Iterable<string>;
  /** The target of a symbolic link. */
  readLink(path: string): string;
  /** A small text file (a process's comm). */
  readText(path: string): string;
}

/** Options for {@linkcode SocketOwners}. */
export interface SocketOwnersOptions {
  /** The /proc reads. @default Deno's synchronous file-system calls */
  readers?: ProcReaders;
  /** Where the process folders are. @default "/proc" */
  procDir?: string;
  /**
   * Shortest time between two scans of every process's descriptors: a socket first seen
   * sooner waits for the next scan (its row shows no process until then). @default 2000
   */
  scanIntervalMs?: number;
  /** Links read between two yields to the event loop, so a long scan doesn't stall it. @default 2000 */
  yieldEvery?: number;
  /** Monotonic clock, ms. @default performance.now */
  clock?: () => number;
}

/** What the last scan cost, for the figure the docs give. */
export interface ScanStats {
  /** Scans made so far. */
  scans: number;
  /** Processes and descriptor links the last scan read. */
  processes: number;
  links: number;
  /** Wall time of the last scan, ms (yields included). */
  tookMs: number;
}

// "socket:[12345]": the link text of a socket descriptor.
const SOCKET_PREFIX = "socket:[";

/**
 * Finds the process owning each socket inode. Owners are cached by inode (an inode names one
 * socket for its whole life), so only sockets not yet known cause a scan, and scans come at
 * most once per `scanIntervalMs`, and only when asked (while someone looks at the sockets).
 */
export class SocketOwners {
  #readers: ProcReaders;
  #procDir: string;
  #scanIntervalMs: number;
  #yieldEvery: number;
  #clock: () => number;
  // Owner by inode; null for an inode a scan looked for and didn't find (another user's
  // process we may not read, or a socket no descriptor holds): tried again at the next scan.
  #byInode = new Map<number, ProcessOwner | null>();
  // The lookup generation that last asked for each inode, to forget closed sockets.
  #askedIn = new Map<number, number>();
  #generation = 0;
  // Per process, the socket inode each descriptor linked to at the last scan. A descriptor
  // whose socket is still asked for (so still open) can't have been reused for another: its
  // link isn't read again. At 10,000 connections that skips nearly every link of a rescan.
  #links = new Map<string, Map<string, number>>();
  #lastScan = -Infinity;
  #scanning: Promise<void> | undefined;
  #unavailable: string | null = null;
  #stats: ScanStats = { scans: 0, processes: 0, links: 0, tookMs: 0 };

  /** Makes a lookup reading the real /proc unless readers are given. */
  constructor(options: SocketOwnersOptions = {}) {
    const { scanIntervalMs = 2000, yieldEvery = 2000 } = options;
    if (!(scanIntervalMs >= 0)) {
      throw new RangeError(
        `Cannot make SocketOwners: scanIntervalMs "${scanIntervalMs}" is not 0 or more`,
      );
    }
    if (!(yieldEvery >= 1)) {
      throw new RangeError(`Cannot make SocketOwners: yieldEvery "${yieldEvery}" is not 1 or more`);
    }
    this.#readers = options.readers ?? denoReaders();
    this.#procDir = options.procDir ?? "/proc";
    this.#scanIntervalMs = scanIntervalMs;
    this.#yieldEvery = yieldEvery;
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** What the scans cost so far. */
  get stats(): Readonly<ScanStats> {
    return this.#stats;
  }

  /** Why owners can't be found at all (e.g. /proc unreadable), or null. */
  get unavailable(): string | null {
    return this.#unavailable;
  }

  /**
   * Sets `process` on every row whose owner is known, scanning /proc first when a row's inode
   * is new and the last scan is older than `scanIntervalMs`. Rows without an inode (TIME_WAIT,
   * a connection still in the accept queue) have no owner. Never rejects.
   */
  async attach(rows: readonly KernelSocket[]): Promise<void> {
    if (this.#unavailable !== null) return;
    const generation = ++this.#generation;
    let unknown = false;
    for (const row of rows) {
      const inode = row.inode ?? 0;
      if (inode === 0) continue;
      this.#askedIn.set(inode, generation);
      if (!this.#byInode.has(inode)) unknown = true;
    }
    if (unknown && this.#clock() - this.#lastScan >= this.#scanIntervalMs) {
      // Concurrent callers share one scan.
      this.#scanning ??= this.#scan().finally(() => this.#scanning = undefined);
      await this.#scanning;
    }
    for (const row of rows) {
      const owner = row.inode ? this.#byInode.get(row.inode) : undefined;
      if (owner) row.process = owner;
    }
    this.#forget(generation, rows.length);
  }

  /** Reads every process's descriptor links, keeping the owners of the inodes asked for. */
  async #scan(): Promise<void> {
    const start = this.#clock();
    this.#lastScan = start;
    const wanted = new Set<number>();
    for (const [inode, owner] of this.#byInode) if (owner === null) wanted.add(inode);
    for (const inode of this.#askedIn.keys()) if (!this.#byInode.has(inode)) wanted.add(inode);
    let pids: string[];
    try {
      pids = [...this.#readers.readDir(this.#procDir)].filter(isPid);
    } catch (error) {
      this.#unavailable = `Socket owners unavailable: cannot list ${this.#procDir}: ${
        (error as Error)?.message ?? String(error)
      }`;
      return;
    }
    let links = 0;
    let sinceYield = 0;
    const generation = this.#generation;
    const memos = new Map<string, Map<string, number>>();
    for (const pid of pids) {
      if (wanted.size === 0) break;
      const fdDir = `${this.#procDir}/${pid}/fd`;
      const known = this.#links.get(pid);
      const memo = new Map<string, number>();
      memos.set(pid, memo);
      let fds: Iterable<string>;
      try {
        fds = this.#readers.readDir(fdDir);
      } catch {
        // Gone since the listing, or another user's process: as ss, skip it.
        continue;
      }
      let owner: ProcessOwner | undefined;
      try {
        for (const fd of fds) {
          const seen = known?.get(fd);
          if (
            seen !== undefined && this.#askedIn.get(seen) === generation && !wanted.has(seen)
          ) {
            memo.set(fd, seen);
            continue;
          }
          let target: string;
          try {
            target = this.#readers.readLink(`${fdDir}/${fd}`);
          } catch {
            continue; // closed since the listing
          }
          links++;
          if (++sinceYield >= this.#yieldEvery) {
            sinceYield = 0;
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          if (!target.startsWith(SOCKET_PREFIX)) continue;
          const inode = Number(target.slice(SOCKET_PREFIX.length, -1));
          memo.set(fd, inode);
          if (!wanted.has(inode)) continue;
          owner ??= this.#owner(pid);
          this.#byInode.set(inode, owner);
          wanted.delete(inode);
        }
      } catch {
        // The process exited while its folder was read.
      }
    }
    for (const inode of wanted) this.#byInode.set(inode, null);
    // Processes the scan didn't reach (it stops once every socket is found) keep their memo.
    for (const [pid, memo] of this.#links) {
      if (!memos.has(pid) && pids.includes(pid)) memos.set(pid, memo);
    }
    this.#links = memos;
    this.#stats = {
      scans: this.#stats.scans + 1,
      processes: pids.length,
      links,
      tookMs: Math.round((this.#clock() - start) * 100) / 100,
    };
  }

  #owner(pid: string): ProcessOwner {
    let command = "";
    try {
      // comm ends in a newline; the kernel cuts it at 15 bytes, as ss prints it.
      command = this.#readers.readText(`${this.#procDir}/${pid}/comm`).trimEnd();
    } catch {
      // Exited: the pid alone still says who it was.
    }
    return { pid: Number(pid), command };
  }

  /** Drops inodes no lookup asked for lately (closed sockets), once they outnumber the live. */
  #forget(generation: number, live: number): void {
    if (this.#askedIn.size <= 2 * live + 1024) return;
    for (const [inode, asked] of this.#askedIn) {
      if (asked < generation - 1) {
        this.#askedIn.delete(inode);
        this.#byInode.delete(inode);
      }
    }
  }
}

function isPid(name: string): boolean {
  const c = name.charCodeAt(0);
  return c >= 48 && c <= 57;
}

/** The readers on the real file system (Deno 2 reads /proc with --allow-all). */
function denoReaders(): ProcReaders {
  return {
    *readDir(path) {
      for (const entry of Deno.readDirSync(path)) yield entry.name;
    },
    readLink: (path) => Deno.readLinkSync(path),
    readText: (path) => Deno.readTextFileSync(path),
  };
}
