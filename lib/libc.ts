/**
 * errno for the modules that call libc through FFI (the captures, netlink, the UDP fast path,
 * the calls on our own sockets). Sync FFI calls run on the main thread, so its errno is the one
 * to read; where it lives, and the view that reads it, are looked up once, before the calls that
 * may fail ({@linkcode primeErrno}): looking them up after a failure runs the runtime's own code
 * first (a first call through FFI, a first pointer view), which may set errno again (a clean CI
 * run once read ENOENT where socket() had set EPERM).
 */

interface HasErrno {
  __errno_location(): Deno.PointerValue;
}

const views = new WeakMap<HasErrno, Deno.UnsafePointerView | null>();

/** Finds (once per library) where errno lives; call it before the calls whose errno counts. */
export function primeErrno(c: HasErrno): Deno.UnsafePointerView | null {
  let view = views.get(c);
  if (view === undefined) {
    const pointer = c.__errno_location();
    view = pointer === null ? null : new Deno.UnsafePointerView(pointer);
    view?.getInt32();
    views.set(c, view);
  }
  return view;
}

/** The main thread's errno after a failed call through `c` (-1 if unknown). */
export function errnoOf(c: HasErrno): number {
  return primeErrno(c)?.getInt32() ?? -1;
}
