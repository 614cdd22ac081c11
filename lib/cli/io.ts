/**
 * Where the CLI writes and reads: the terminal in a real run, strings in tests.
 *
 * @module
 */

/** Where the CLI writes and what stops it; tests pass their own. */
export interface CliIo {
  /** Writes text to stdout as is. */
  stdout(text: string): void;
  /** Writes text to stderr as is. */
  stderr(text: string): void;
  /** Show progress lines on stderr (true when stderr is a terminal). */
  progress: boolean;
  /** Stops a running client (Ctrl-C). */
  signal?: AbortSignal;
  /** Opens standard input, for the interactive chat. @default no input */
  stdin?: () => ReadableStream<Uint8Array>;
}

/** One stderr line redrawn in place for progress, erased before results print. */
export interface StatusLine {
  /** Replaces the line with `line`. */
  draw(line: string): void;
  /** Erases the line, if one was drawn. */
  clear(): void;
}

/** A {@linkcode StatusLine} on `io`'s stderr. */
export function statusLine(io: CliIo): StatusLine {
  // CR returns to the line start, ESC [K erases to its end.
  const erase = "\r\x1b[K";
  let drawn = false;
  return {
    draw(line) {
      drawn = true;
      io.stderr(`${erase}${line}`);
    },
    clear() {
      if (drawn) io.stderr(erase);
      drawn = false;
    },
  };
}

/** The process's stdout, stderr and stdin; progress when stderr is a terminal. */
export function denoIo(): CliIo {
  const encoder = new TextEncoder();
  const writeAll = (file: typeof Deno.stdout, text: string) => {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
  };
  return {
    stdout: (text) => writeAll(Deno.stdout, text),
    stderr: (text) => writeAll(Deno.stderr, text),
    progress: Deno.stderr.isTerminal(),
    stdin: () => Deno.stdin.readable,
  };
}
