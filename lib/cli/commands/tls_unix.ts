/**
 * `deno task client tls-echo` and `deno task client unix-echo`: the echo client over TLS
 * (trusting `--ca file`, or `--insecure` for the certificate the service made at start) and
 * over the Unix socket at `--path`.
 *
 * @module
 */
import { echo, type EchoOptions, resolveEchoOptions } from "../../client/echo.ts";
import { tlsDial, unixDial } from "../../client/dial.ts";
import { tlsEcho } from "../../net/endpoints/tls_echo.ts";
import { defineCommand, portOption, text, timeoutOption } from "../command.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveEchoOptions();

/** Options of the tls-echo command. */
interface TlsEchoValues extends EchoOptions {
  insecure?: boolean;
  ca?: string;
}

/** The tls-echo command. */
export const tlsEchoCommand = defineCommand<TlsEchoValues>({
  name: "tls-echo",
  summary: "Send a message over TLS, print the echo",
  usage: "tls-echo [options] <message>",
  about: "Send <message> to the tls-echo endpoint over TLS and print the echo. The service's " +
    "certificate is self-signed unless it was given one: trust it with --ca (the PEM the " +
    "banner's fingerprint names) or skip verification with --insecure.",
  options: [
    portOption(tlsEcho.defaultPort),
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
    { type: "boolean", name: "insecure", to: "insecure", help: "Skip certificate verification" },
    {
      type: "string",
      name: "ca",
      arg: "<file>",
      to: "ca",
      help: "Trust the PEM certificate(s) in <file> instead of the system's",
    },
  ],
  prepare(values, positionals, { io }) {
    const message = text(positionals, "message");
    const { insecure, ca, ...rest } = values;
    const dial = tlsDial({ insecure, caCerts: ca === undefined ? undefined : [readCa(ca)] });
    const options = resolveEchoOptions({
      ...rest,
      port: rest.port ?? tlsEcho.defaultPort,
      dial,
      signal: io.signal,
    });
    return async () => {
      const result = await echo(message, options);
      return { ...result, json: result, text: `${result.text}\n` };
    };
  },
});

function readCa(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new TypeError(`Cannot read --ca "${path}": ${err instanceof Error ? err.message : err}`);
  }
}

/** Options of the unix-echo command. */
interface UnixEchoValues extends EchoOptions {
  path?: string;
}

/** The unix-echo command. */
export const unixEchoCommand = defineCommand<UnixEchoValues>({
  name: "unix-echo",
  summary: "Send a message over a Unix socket, print the echo",
  usage: "unix-echo --path <socket> [options] <message>",
  about: "Send <message> to the unix-echo endpoint's socket and print the echo.",
  options: [
    {
      type: "string",
      name: "path",
      arg: "<socket>",
      to: "path",
      help: "The socket's path, as the banner prints it",
    },
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io }) {
    const message = text(positionals, "message");
    const { path, ...rest } = values;
    if (path === undefined || path === "") throw new TypeError("Missing --path <socket>");
    const options = resolveEchoOptions({ ...rest, dial: unixDial(path), signal: io.signal });
    return async () => {
      const result = await echo(message, options);
      return { ...result, json: result, text: `${result.text}\n` };
    };
  },
});
