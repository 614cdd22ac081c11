/**
 * Serves `static/` (hand-written CSS, the islands bundle in `static/build/`)
 * with validators and cache headers: a URL carrying the file's version
 * (`?v=<hash>`, as the layout links it) is cached for good, anything else
 * is revalidated with its ETag.
 */
import { fileURLToPath } from "node:url";
import { jsonError } from "./define.ts";

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

/** Longest path and longest path segment served, in bytes (Linux's NAME_MAX is 255). */
const MAX_PATH = 1024;
const MAX_SEGMENT = 255;
const utf8 = new TextEncoder();

const denoReader: FileReader = {
  async stat(path) {
    try {
      const info = await Deno.stat(path);
      return info.isFile ? { mtime: info.mtime?.getTime() ?? 0, size: info.size } : null;
    } catch {
      // Not there, not a directory on the way, not readable, a name the kernel refuses: none of
      // these is a file this server can serve, and none is worth a stack trace.
      return null;
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

  /**
   * Answers a GET or HEAD for a static file; 400 JSON for a path no file can have (a control
   * character, an encoded separator, a dot segment, an overlong name); null when there is no
   * such file (a directory, a missing or unreadable one), for the app's 404.
   */
  async serve(req: Request): Promise<Response | null> {
    if (req.method !== "GET" && req.method !== "HEAD") return null;
    const url = new URL(req.url);
    const path = checkPath(url.pathname);
    if (typeof path !== "string") return jsonError(400, `Cannot serve path: ${path.reason}`);
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
    const path = checkPath(pathname);
    // Hidden files (`.env`, `.git/…`) are not served: 404, like a file that is not there.
    if (typeof path !== "string" || path.split("/").some((s) => s.startsWith("."))) return null;
    const file = this.#root + path.slice(1);
    let info: { mtime: number; size: number } | null;
    let body: Uint8Array;
    try {
      info = await this.#reader.stat(file);
      if (info === null) {
        this.#cache.delete(file);
        return null;
      }
      const cached = this.#cache.get(file);
      if (cached !== undefined && cached.mtime === info.mtime && cached.size === info.size) {
        return cached;
      }
      body = await this.#reader.read(file);
    } catch {
      // Removed or made unreadable between the stat and the read: not servable now.
      this.#cache.delete(file);
      return null;
    }
    const entry = { mtime: info.mtime, size: body.byteLength, body, etag: await digest(body) };
    this.#cache.set(file, entry);
    return entry;
  }
}

/**
 * The decoded path of a plain relative name below the root, or why it cannot be one: no
 * control characters (NUL reaches the kernel as the end of the name), no encoded `/` or `\\`
 * (one segment must not become two after decoding), no dot segments, no backslash, no name
 * longer than the file system allows. Hidden names pass here and are never served.
 */
function checkPath(pathname: string): string | { reason: string } {
  if (/%(2f|5c)/i.test(pathname)) return { reason: "it contains an encoded separator" };
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return { reason: "it is not valid percent-encoded UTF-8" };
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(path)) return { reason: "it contains a control character" };
  if (!path.startsWith("/") || path.includes("\\")) {
    return { reason: "it is not a plain path below the root" };
  }
  const segments = path.split("/");
  if (segments.some((s) => s === "." || s === "..")) return { reason: "it has a dot segment" };
  if (
    utf8.encode(path).length > MAX_PATH ||
    segments.some((s) => utf8.encode(s).length > MAX_SEGMENT)
  ) {
    return { reason: `a name is longer than ${MAX_SEGMENT} bytes or the path than ${MAX_PATH}` };
  }
  return path;
}
