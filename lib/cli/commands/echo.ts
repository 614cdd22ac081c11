/** `deno task client echo`: send a message, print the echo. @module */
import { echo, ECHO_PORT, type EchoOptions, resolveEchoOptions } from "../../client/echo.ts";
import { defineCommand, portOption, text, timeoutOption } from "../command.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveEchoOptions();

/** The echo command. */
export const echoCommand = defineCommand<EchoOptions>({
  name: "echo",
  summary: "Send a message, print the echo",
  usage: "echo [options] <message>",
  about: "Send <message> to the echo endpoint and print the echo.",
  options: [
    portOption(ECHO_PORT),
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io }) {
    const message = text(positionals, "message");
    const options = resolveEchoOptions({ ...values, signal: io.signal });
    return async () => {
      const result = await echo(message, options);
      return { ...result, json: result, text: `${result.text}\n` };
    };
  },
});
