/**
 * libc through FFI for the calls Deno has no API for on this process's own sockets
 * (SO_LINGER for a real reset, SO_ATTACH_FILTER for real loss, listen(2) again for a smaller
 * backlog): each module declares its symbols once and gets them here, opened lazily; the
 * descriptor of a socket is found through `/proc/self/fd` (./tcp_reset.ts `findSocketFd`).
 * Where that cannot work (not Linux, no FFI permission, no /proc) the reason is a sentence.
 */

import { errnoOf, primeErrno } from "../libc.ts";

/** A lazily opened libc with `symbols`, and why it cannot be had here. */
export interface OwnSocketLibc<S extends Deno.ForeignLibraryInterface> {
  /** The symbols; throws an Error saying why they cannot be opened. */
  open(): Deno.DynamicLibrary<S>["symbols"];
  /** Why libc or `/proc/self/fd` cannot be used in this process, or null. Checked once. */
  unavailable(): string | null;
  /** The calling thread's errno after a failed call (-1 if unknown). */
  errno(): number;
}

/**
 * Declares a libc symbol set, which must include `__errno_location`; nothing is opened until it
 * is first needed.
 */
export function ownSocketLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): OwnSocketLibc<S> {
  let libc: Deno.DynamicLibrary<S>["symbols"] | undefined;
  let why: string | null | undefined;
  const open = () => {
    if (libc !== undefined) return libc;
    if (Deno.build.os !== "linux") throw new Error(`not Linux (${Deno.build.os})`);
    if (typeof Deno.dlopen !== "function") throw new Error("no FFI in this runtime");
    // Checking first keeps Deno from prompting for the permission on a terminal.
    const state = Deno.permissions.querySync?.({ name: "ffi", path: "libc.so.6" }).state ??
      "granted";
    if (state !== "granted") throw new Error("FFI needs --allow-ffi");
    try {
      libc = Deno.dlopen("libc.so.6", symbols).symbols;
      primeErrno(libc as unknown as { __errno_location(): Deno.PointerValue });
    } catch (error) {
      throw new Error(`cannot load libc.so.6: ${(error as Error).message}`, { cause: error });
    }
    return libc;
  };
  return {
    open,
    unavailable() {
      if (why !== undefined) return why;
      why = null;
      try {
        open();
        Deno.readDirSync("/proc/self/fd")[Symbol.iterator]().next();
      } catch (err) {
        why = (err as Error).message;
      }
      return why;
    },
    errno() {
      return errnoOf(open() as unknown as { __errno_location(): Deno.PointerValue });
    },
  };
}
