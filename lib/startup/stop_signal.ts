/**
 * SIGINT and SIGTERM as one promise, with the promise that the process is
 * gone within 2 s of the first signal whatever hangs, and at once on a second.
 *
 * @module
 */

/**
 * Longest a stop takes from the signal to `Deno.exit`: under the promised 2 s with room for
 * the runtime's own exit and a late timer on a busy machine.
 */
const STOP_DEADLINE_MS = 1500;

/** The first stop signal's name, once it comes; disposing stops listening. */
export interface StopSignal extends Disposable {
  /** Resolves to `"SIGINT"` or `"SIGTERM"`. */
  stopped: Promise<string>;
}

/**
 * Listens for SIGINT and SIGTERM. Call it before saying the service is up: a
 * SIGTERM sent on seeing the banner used to find no listener and kill the
 * process without a clean close (exit 143).
 */
export function listenForStop(): StopSignal {
  const { promise: stopped, resolve: stop } = Promise.withResolvers<string>();
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (name: Deno.Signal) => () => {
    // A second signal: the user insists, exit now.
    if (deadline !== undefined) Deno.exit(0);
    // Whatever hangs, the process is gone within 2 s of the signal: the hard deadline runs
    // from here, before any goodbye line or close, and leaves room for the runtime's exit.
    deadline = setTimeout(() => Deno.exit(0), STOP_DEADLINE_MS);
    Deno.unrefTimer(deadline);
    stop(name);
  };
  const signals = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, onSignal(sig)] as const);
  for (const [sig, fn] of signals) Deno.addSignalListener(sig, fn);
  return {
    stopped,
    [Symbol.dispose]() {
      for (const [sig, fn] of signals) Deno.removeSignalListener(sig, fn);
    },
  };
}
