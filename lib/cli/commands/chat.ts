/** `deno task client chat`: join the chat from stdin, or send one message. @module */
import { chat, CHAT_PORT, type ChatOptions, resolveChatOptions } from "../../client/chat.ts";
import { defineCommand, noPositionals, portOption, timeoutOption } from "../command.ts";
import type { CliIo } from "../io.ts";

/** The chat command's options: the client's, and one message to send instead of stdin's. */
interface ChatValues extends ChatOptions {
  send?: string;
}

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveChatOptions();

/** The chat command. */
export const chatCommand = defineCommand<ChatValues>({
  name: "chat",
  summary: 'Join the chat: 64-byte headers, "Msg received", relays',
  usage: "chat [options]",
  about: "Join the chat endpoint. Each line read from stdin is sent behind a 64-byte length " +
    'header and answered with "Msg received"; after "!JOIN" (sent first) messages from ' +
    'other participants are printed as "[name] text" when they arrive. "!DISCONNECT" or ' +
    "the end of input leaves. With --send, send one message and leave (joining only with " +
    "--wait).",
  options: [
    portOption(CHAT_PORT),
    {
      type: "string",
      name: "send",
      arg: "<text>",
      to: "send",
      check: (v) => v === "" ? '"" is empty' : undefined,
      help: "Send this one message instead of stdin's lines",
    },
    {
      type: "string",
      name: "name",
      arg: "<name>",
      to: "name",
      help: "Name to take in the room (default: your address)",
    },
    {
      type: "seconds",
      name: "wait",
      arg: "<secs>",
      to: "waitMs",
      min: 0,
      max: 86_400,
      help: `Stay this long after the last message, printing relays (default ${
        DEFAULTS.waitMs / 1000
      })`,
    },
    timeoutOption('Seconds to wait for the connect and each "Msg received"', DEFAULTS.timeoutMs),
  ],
  prepare({ send, ...values }, positionals, { io, json, progress }) {
    noPositionals(positionals);
    const options = resolveChatOptions({
      ...values,
      // A one-shot --send that does not wait has no time to print relays.
      join: send === undefined || values.waitMs !== undefined,
      signal: io.signal,
      onEvent: json ? undefined : (e) =>
        io.stdout(
          e.kind === "ack"
            ? "Msg received\n"
            : e.kind === "relay"
            ? `[${e.name}] ${e.text}\n`
            : `${e.text}\n`,
        ),
    });
    return async () => {
      if (progress !== null && send === undefined) {
        io.stderr(
          `Connected to ${options.hostname}:${options.port}: type messages, ` +
            '"!DISCONNECT" or Ctrl-D to leave\n',
        );
      }
      const lines = send !== undefined ? [send] : stdinLines(io);
      const result = await chat(lines, options);
      return { ...result, json: result, text: "" };
    };
  },
});

/** Lines of standard input, without their line ends; none when the CLI has no stdin. */
async function* stdinLines(io: CliIo): AsyncGenerator<string> {
  if (io.stdin === undefined) return;
  const reader = io.stdin().getReader();
  const utf8 = new TextDecoder();
  let pending = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += utf8.decode(value, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) !== -1) {
        const line = pending.slice(0, nl).replace(/\r$/, "");
        pending = pending.slice(nl + 1);
        if (line.length > 0) yield line;
      }
    }
    if (pending.length > 0) yield pending;
  } finally {
    reader.releaseLock();
  }
}
