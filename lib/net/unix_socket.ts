/**
 * The Unix endpoint's socket file: where it goes by default, reclaiming a stale one at start
 * (only when nothing listens on it), and removing it at stop.
 */

/**
 * The default `--unix-path`: `sockscope-<dashboard port>.sock` in $XDG_RUNTIME_DIR, else /tmp;
 * with an ephemeral dashboard port (0), the process id, a counter and a random part instead, so
 * services started side by side never share a path (`deno test --parallel` runs modules in one
 * process, each with its own counter).
 */
export function defaultUnixPath(dashboardPort = 0, dir?: string): string {
  const base = dir ?? runtimeDir();
  return dashboardPort === 0
    ? `${base}/sockscope-${Deno.pid}-${++unnamed}-${crypto.randomUUID().slice(0, 8)}.sock`
    : `${base}/sockscope-${dashboardPort}.sock`;
}

let unnamed = 0;

function runtimeDir(): string {
  try {
    return Deno.env.get("XDG_RUNTIME_DIR") || "/tmp";
  } catch {
    // No --allow-env: /tmp is where every Linux has room for a socket.
    return "/tmp";
  }
}

/**
 * Whether a socket listens at `path`, from /proc/net/unix (the kernel's table: a listening
 * socket has __SO_ACCEPTCON, 0x10000, in its flags); read synchronously, as the service
 * binds its listeners in its constructor. null when the table cannot be read.
 */
export function listeningAt(path: string, table?: string): boolean | null {
  let text = table;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/net/unix");
    } catch {
      return null;
    }
  }
  for (const line of text.split("\n")) {
    // Num RefCount Protocol Flags Type St Inode Path
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8 || fields.slice(7).join(" ") !== path) continue;
    if ((parseInt(fields[3], 16) & 0x10000) !== 0) return true;
  }
  return false;
}

/**
 * Listens on a Unix stream socket at `path`. A socket file left by a process that is gone
 * (nothing listens on it) is removed first; one something listens on is an AddrInUse error,
 * and so is any other kind of file there, which is never removed.
 */
export function listenUnix(path: string): Deno.UnixListener {
  let stat: Deno.FileInfo | null = null;
  try {
    stat = Deno.lstatSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (stat !== null) {
    if (!stat.isSocket) {
      throw new Deno.errors.AddrInUse(`"${path}" exists and is not a socket`);
    }
    const listening = listeningAt(path);
    if (listening !== false) {
      throw new Deno.errors.AddrInUse(
        listening === null
          ? `"${path}" exists and /proc/net/unix cannot tell whether it is in use`
          : `a process listens on "${path}"`,
      );
    }
    Deno.removeSync(path);
  }
  return Deno.listen({ transport: "unix", path });
}

/** Removes the socket file at `path` if it is still a socket; quiet when it is gone. */
export function removeUnixSocket(path: string): void {
  try {
    if (Deno.lstatSync(path).isSocket) Deno.removeSync(path);
  } catch {
    // Removed already, or never made.
  }
}
