/**
 * Serves `static/` (hand-written CSS, the islands bundle in `static/build/`)
 * with validators and cache headers: a URL carrying the file's version
 * (`?v=<hash>`, as the layout links it) is cached for good, anything else
 * is revalidated with its ETag.
 */
import { fileURLToPath } from "node:url";

/** Reads a file's bytes and modification time; injected so tests need no disk. */
export interface FileReader {
  stat(path: string): Promise<{ mtime: number; size: number } | null>;
  read(path: string): Promise<Uint8Array>;
}

/** Options of {@linkcode StaticFiles}. */
export interface StaticFilesOptions {
  /** Where the files come from. @default the local file system */
  reader?: FileReader;
}

const TYPES: Record<string, string> = {
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml; charset=utf-8",
  png: "image/png",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

interface Entry {
  mtime: number;
  size: number;
  body: Uint8Array;
  etag: string;
}

const denoReader: FileReader = {
  async stat(path) {
    try {
      const info = await Deno.stat(path);
      return info.isFile ? { mtime: info.mtime?.getTime() ?? 0, size: info.size } : null;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return null;
      throw err;
    }
  },
  read: (path) => Deno.readFile(path),
};

async function digest(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return hash.subarray(0, 8).toHex();
}

/** The files under one directory, read on demand and kept while unchanged. */
export class StaticFiles {
  #root: string;
  #reader: FileReader;
  #cache = new Map<string, Entry>();

  /** `root` is a directory path (or file URL) ending in a slash. */
  constructor(root: string | URL, options: StaticFilesOptions = {}) {
    this.#root = root instanceof URL ? fileURLToPath(root) : root;
    if (!this.#root.endsWith("/")) this.#root += "/";
    this.#reader = options.reader ?? denoReader;
  }

  /** The versioned URL of a file (`/build/client.js?v=…`), or null when it does not exist. */
  async url(path: string): Promise<string | null> {
    const entry = await this.#load(path);
    return entry === null ? null : `${path}?v=${entry.etag}`;
  }

  /** Answers a GET or HEAD for a static file, or null when there is no such file. */
  async serve(req: Request): Promise<Response | null> {
    if (req.method !== "GET" && req.method !== "HEAD") return null;
    const url = new URL(req.url);
    const entry = await this.#load(url.pathname);
    if (entry === null) return null;
    const etag = `"${entry.etag}"`;
    const versioned = url.searchParams.get("v") === entry.etag;
    const headers = {
      "content-type": TYPES[url.pathname.slice(url.pathname.lastIndexOf(".") + 1)] ??
        "application/octet-stream",
      "cache-control": versioned ? "public, max-age=31536000, immutable" : "no-cache",
      etag,
      "x-content-type-options": "nosniff",
    };
    if (req.headers.get("if-none-match") === etag) {
      return new Response(null, { status: 304, headers });
    }
    return new Response(req.method === "HEAD" ? null : entry.body as BodyInit, {
      headers: { ...headers, "content-length": String(entry.size) },
    });
  }

  async #load(pathname: string): Promise<Entry | null> {
    let path: string;
    try {
      path = decodeURIComponent(pathname);
    } catch {
      return null;
    }
    // Only plain relative names below the root: no dot segments, no hidden files.
    if (
      !path.startsWith("/") || path.split("/").some((s) => s.startsWith(".")) || path.includes("\\")
    ) {
      return null;
    }
    const file = this.#root + path.slice(1);
    const info = await this.#reader.stat(file);
    if (info === null) {
      this.#cache.delete(file);
      return null;
    }
    const cached = this.#cache.get(file);
    if (cached !== undefined && cached.mtime === info.mtime && cached.size === info.size) {
      return cached;
    }
    const body = await this.#reader.read(file);
    const entry = { mtime: info.mtime, size: body.byteLength, body, etag: await digest(body) };
    this.#cache.set(file, entry);
    return entry;
  }
}
