/** `deno task client app`: one application-protocol request, search or binary. @module */
import {
  app,
  APP_PORT,
  type AppOptions,
  type AppResult,
  resolveAppOptions,
} from "../../client/app.ts";
import { defineCommand, portOption, timeoutOption } from "../command.ts";
import { percentiles } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveAppOptions();

/** The app command. */
export const appCommand = defineCommand<AppOptions>({
  name: "app",
  summary: "Application-protocol request: search or binary",
  usage: "app [options] <action> <value>",
  about: 'Send an application-protocol request: "search <value>" as text/json, ' +
    "any other action as binary; print the result.",
  options: [
    portOption(APP_PORT),
    {
      type: "int",
      name: "repeat",
      arg: "<n>",
      to: "repeat",
      help: `Requests on the same connection, one after another (default ${DEFAULTS.repeat})`,
    },
    timeoutOption("Seconds to wait for the connect or one response", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io }) {
    if (positionals.length < 2) {
      throw new TypeError(
        positionals.length === 0
          ? "Missing <action> <value>, e.g. search morpheus"
          : `Missing <value> after "${positionals[0]}", e.g. ${positionals[0]} morpheus`,
      );
    }
    const [action, ...rest] = positionals;
    const value = rest.join(" ");
    const options = resolveAppOptions({ ...values, signal: io.signal });
    return async () => {
      const result = await app(action, value, options);
      return { ...result, json: result, text: formatApp(result) };
    };
  },
});

function formatApp(r: AppResult): string {
  const lines: string[] = [];
  const response = r.response;
  if (response !== null && response.serverError === undefined) {
    lines.push(response.result ?? response.text);
  }
  if (r.requests > 1 && r.latencyMs) {
    lines.push(
      `${r.requests} requests in ${r.seconds.toFixed(3)} s, latency ms: ${
        percentiles(r.latencyMs)
      }`,
    );
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
