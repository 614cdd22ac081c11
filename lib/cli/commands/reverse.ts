/** `deno task client reverse`: send a message, print what the server reversed. @module */
import {
  resolveReverseOptions,
  reverse,
  REVERSE_PORT,
  type ReverseOptions,
} from "../../client/reverse.ts";
import { defineCommand, portOption, text, timeoutOption } from "../command.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveReverseOptions();

/** The reverse command. */
export const reverseCommand = defineCommand<ReverseOptions>({
  name: "reverse",
  summary: "Send a message, print what the server reversed",
  usage: "reverse [options] <message>",
  about: "Send <message> to the reverse endpoint in one write and print the bytes it " +
    "answers with until it closes: the server's first read, reversed.",
  options: [
    portOption(REVERSE_PORT),
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io }) {
    const message = text(positionals, "message");
    const options = resolveReverseOptions({ ...values, signal: io.signal });
    return async () => {
      const result = await reverse(message, options);
      return { ...result, json: result, text: `${result.text}\n` };
    };
  },
});
