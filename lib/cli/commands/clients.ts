/** `deno task client clients`: send a name, print the JSON list of every client seen. @module */
import {
  clientList,
  type ClientListOptions,
  type ClientListResult,
  CLIENTS_PORT,
  resolveClientListOptions,
} from "../../client/client_list.ts";
import { defineCommand, portOption, text, timeoutOption } from "../command.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveClientListOptions();

/** The clients command. */
export const clientsCommand = defineCommand<ClientListOptions>({
  name: "clients",
  summary: "Send a name, print the JSON list of every client seen",
  usage: "clients [options] [name]",
  about: 'Send <name> (default "name", as the seed\'s client) to the clients endpoint and ' +
    "print the JSON list of every client it has seen, however long.",
  options: [
    portOption(CLIENTS_PORT),
    timeoutOption("Seconds the whole exchange may take", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io }) {
    const name = positionals.length === 0 ? "name" : text(positionals, "name");
    const options = resolveClientListOptions({ ...values, signal: io.signal });
    return async () => {
      const result = await clientList(name, options);
      return { ...result, json: result, text: formatClientList(result) };
    };
  },
});

function formatClientList(r: ClientListResult): string {
  const lines = [JSON.stringify(r.clients, null, 4)];
  if (r.reads > 1) lines.push(`(${r.bytes} bytes in ${r.reads} reads)`);
  return `${lines.join("\n")}\n`;
}
