/**
 * `--capture-dir`: the capture ring written out to pcapng files that rotate
 * like dumpcap's ring buffer (`-b filesize:… -b duration:… -b files:…`), so
 * a capture survives a restart and can be downloaded later.
 *
 * A writer follows the ring with its own cursor and appends what is new every
 * `flushMs`, so the hot path never touches the disk. Each file is a complete
 * pcapng on its own: a connection already open when a file starts gets a
 * synthesized handshake in it. Records evicted from the ring before the
 * writer reached them are counted as `gapRecords`.
 */
import { concat } from "../bytes.ts";
import { type CaptureCursor, type CaptureRing, encodeRecord } from "./capture_ring.ts";
import { PcapngEncoder } from "./pcapng.ts";

/** Defaults of {@linkcode CaptureFilesOptions}, declared once: `main.ts`'s flags show them. */
export const CAPTURE_FILES_DEFAULTS = {
  files: 10,
  fileBytes: 16 * 1024 * 1024,
  fileSeconds: 0,
} as const;

/** Rotation settings. */
export interface CaptureFilesOptions {
  /** Directory the files go to; created if missing. */
  dir: string;
  /** Start a new file once the current one has this many bytes. @default 16777216 */
  fileBytes?: number;
  /** Start a new file after this many seconds, 0 for never. @default 0 */
  fileSeconds?: number;
  /** Files kept; the oldest beyond are deleted. @default 10 */
  files?: number;
  /** How often new records are written. @default 1000 */
  flushMs?: number;
}

/** One capture file, as `GET /api/captures` lists it. */
export interface CaptureFileInfo {
  name: string;
  bytes: number;
  /** Epoch ms of the last write. */
  modified: number | null;
  /** True for the file being written. */
  current: boolean;
}

/** A capture file opened for download, or why it is refused. */
export type CaptureFileOpen =
  | { file: Deno.FsFile; size: number; refused?: undefined }
  | { refused: "unknown" | "not-plain" };

/** Names the writer gives files: `sockscope_00001_20250102T030405Z.pcapng`. */
const FILE_NAME = /^sockscope_(\d{5,})_(\d{8}T\d{6}Z)\.pcapng$/;

/** True if `name` is one of the capture files' names (no path, no tricks). */
export function isCaptureFileName(name: string): boolean {
  return FILE_NAME.test(name);
}

/** True for a plain file: not a symlink, not a directory, one name only (no hard link). */
function isPlain(path: string): boolean {
  try {
    const info = Deno.lstatSync(path);
    return info.isFile && info.nlink === 1;
  } catch {
    return false;
  }
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** Writes the ring to rotating pcapng files. */
export class CaptureFiles {
  readonly dir: string;
  readonly fileBytes: number;
  readonly fileSeconds: number;
  readonly files: number;
  #ring: CaptureRing;
  #cursor: CaptureCursor;
  #file: Deno.FsFile | null = null;
  #name: string | null = null;
  #size = 0;
  #startedAt = 0;
  #next: number;
  #encoder = new PcapngEncoder();
  #timer: ReturnType<typeof setInterval>;
  #flushing: Promise<void> | null = null;
  #closed = false;
  /** Names of the files this writer created, and of the plain files an earlier run left. */
  #known = new Set<string>();
  /** Files written since start. */
  written = 0;
  /** Records evicted from the ring before they could be written. */
  gapRecords = 0;
  /** Write errors (a full disk, a removed directory); the writer keeps trying. */
  errors = 0;
  /** The last write error, for the API. */
  lastError: string | null = null;

  constructor(ring: CaptureRing, options: CaptureFilesOptions) {
    this.dir = options.dir;
    this.fileBytes = options.fileBytes ?? CAPTURE_FILES_DEFAULTS.fileBytes;
    this.fileSeconds = options.fileSeconds ?? CAPTURE_FILES_DEFAULTS.fileSeconds;
    this.files = options.files ?? CAPTURE_FILES_DEFAULTS.files;
    if (!Number.isInteger(this.files) || this.files < 1) {
      throw new RangeError(
        `Cannot rotate captures: files "${this.files}" is not a positive integer`,
      );
    }
    this.#ring = ring;
    // Only what happens from now on: records from before were written by nobody, or by a
    // previous run into its own files.
    this.#cursor = ring.cursorAtEnd();
    Deno.mkdirSync(this.dir, { recursive: true });
    // An earlier run's files stay downloadable: the plain files there now (no symlink, no
    // second name for another file).
    for (const entry of Deno.readDirSync(this.dir)) {
      if (FILE_NAME.test(entry.name) && isPlain(`${this.dir}/${entry.name}`)) {
        this.#known.add(entry.name);
      }
    }
    let highest = 0;
    for (const f of this.list()) highest = Math.max(highest, Number(FILE_NAME.exec(f.name)![1]));
    this.#next = highest + 1;
    this.#timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * The capture files in the directory, oldest first: the ones this writer created and the
   * plain files an earlier run left (found at start). Anything else that appears in the
   * directory later, or that is not a plain file, is neither listed nor served.
   */
  list(): CaptureFileInfo[] {
    const out: CaptureFileInfo[] = [];
    for (const name of this.#known) {
      try {
        const info = Deno.lstatSync(`${this.dir}/${name}`);
        if (!info.isFile || info.nlink !== 1) continue;
        out.push({
          name,
          bytes: info.size,
          modified: info.mtime?.getTime() ?? null,
          current: name === this.#name,
        });
      } catch {
        // Deleted by rotation (or by hand) since it was written.
      }
    }
    return out.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }

  /**
   * Opens a listed file for download: refused as `unknown` when this writer did not create
   * or find it at start, as `not-plain` when it is now a link, a hard link or anything other
   * than the plain file it wrote (a symlink to /etc/passwd under a capture file's name).
   * The file is checked before and after opening, so swapping in a link in between is caught.
   */
  async open(name: string): Promise<CaptureFileOpen> {
    if (!FILE_NAME.test(name) || !this.#known.has(name)) return { refused: "unknown" };
    const path = `${this.dir}/${name}`;
    let link: Deno.FileInfo;
    try {
      link = await Deno.lstat(path);
    } catch {
      return { refused: "unknown" };
    }
    if (!link.isFile || link.isSymlink || link.nlink !== 1) return { refused: "not-plain" };
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch {
      return { refused: "unknown" };
    }
    const info = await file.stat();
    if (!info.isFile || info.ino !== link.ino || info.dev !== link.dev || info.nlink !== 1) {
      file.close();
      return { refused: "not-plain" };
    }
    return { file, size: info.size };
  }

  /** Writes what the ring got since the last flush; concurrent calls share one run. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => this.#flushing = null);
    return this.#flushing;
  }

  /** Writes the rest and closes the current file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
    this.#file?.close();
    this.#file = null;
  }

  async #write(): Promise<void> {
    if (this.#closed) return;
    try {
      // Up to what the ring held when the flush began, so a flush ends under any load.
      const end = this.#ring.endSeq;
      while (this.#cursor.seq < end) {
        this.#rotateIfDue();
        // Open before encoding: a new file's encoder must see its connections from the start.
        if (this.#file === null) await this.#open();
        const blocks: Uint8Array[] = [];
        const skipped = this.#cursor.skipped;
        this.#ring.read(
          this.#cursor,
          end,
          (rec) => encodeRecord(this.#encoder, rec, blocks),
          256,
        );
        this.gapRecords += this.#cursor.skipped - skipped;
        if (blocks.length > 0) await this.#append(concat(blocks));
      }
      this.#rotateIfDue();
    } catch (err) {
      this.errors++;
      this.lastError = err instanceof Error ? err.message : String(err);
    }
  }

  #rotateIfDue(): void {
    const due = this.#file !== null && (
      this.#size >= this.fileBytes ||
      this.fileSeconds > 0 && Date.now() - this.#startedAt >= this.fileSeconds * 1000
    );
    if (due) {
      this.#file!.close();
      this.#file = null;
      this.#name = null;
    }
  }

  async #append(bytes: Uint8Array): Promise<void> {
    let view = bytes;
    while (view.length > 0) view = view.subarray(await this.#file!.write(view));
    this.#size += bytes.length;
  }

  async #open(): Promise<void> {
    const now = Date.now();
    let name = "";
    // A new name every time, created exclusively (O_EXCL): a link planted under the next name
    // is never followed, so the writer cannot be made to overwrite another file; that name
    // is skipped. Bounded: a directory full of planted names is a write error.
    for (let attempt = 0; this.#file === null; attempt++) {
      name = `sockscope_${String(this.#next++).padStart(5, "0")}_${stamp(now)}.pcapng`;
      try {
        this.#file = await Deno.open(`${this.dir}/${name}`, { write: true, createNew: true });
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists) || attempt >= 100) throw err;
      }
    }
    this.#known.add(name);
    this.#name = name;
    this.#size = 0;
    this.#startedAt = now;
    this.written++;
    // A new file starts a new pcapng: header blocks, and handshakes again for open connections.
    this.#encoder = new PcapngEncoder();
    const header = concat(this.#encoder.header());
    let view = header;
    while (view.length > 0) view = view.subarray(await this.#file.write(view));
    this.#size += header.length;
    const old = this.list();
    for (const f of old.slice(0, Math.max(0, old.length - this.files))) {
      this.#known.delete(f.name);
      await Deno.remove(`${this.dir}/${f.name}`).catch(() => {});
    }
  }
}
