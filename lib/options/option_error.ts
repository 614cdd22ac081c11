/**
 * A usage error in a command line or an options object, carrying the
 * option's name as data, so a caller can name the flag a library option came
 * from without parsing the message.
 *
 * @module
 */

/** Options of {@linkcode OptionError}. */
export interface OptionErrorOptions {
  /** The whole message, when it is not `Invalid <option>: <reason>`. */
  message?: string;
}

/**
 * An option's value (or the option itself) is wrong: `option` names it as the
 * thrower knows it (`"--chunk"` on a command line, `"chunkSize"` in a
 * library's options), `reason` says what is wrong with the value.
 *
 * Its `name` stays `"RangeError"`: callers that tell usage errors by class
 * keep working, and the message reads as std's do.
 */
export class OptionError extends RangeError {
  /** The option as the thrower names it: `--chunk`, or `chunkSize`. */
  readonly option: string;
  /** What is wrong, without the option's name: `"0" is not between 1 and 65536`. */
  readonly reason: string;

  /** Builds `Invalid <option>: <reason>`, or the message given. */
  constructor(option: string, reason: string, options: OptionErrorOptions = {}) {
    super(options.message ?? `Invalid ${option}: ${reason}`);
    this.option = option;
    this.reason = reason;
  }
}
