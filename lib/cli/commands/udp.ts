/** `deno task client udp`: datagrams and their echoes, loss and RTT like ping. @module */
import {
  resolveUdpOptions,
  udp,
  UDP_PORT,
  type UdpOptions,
  type UdpResult,
} from "../../client/udp.ts";
import { defineCommand, intervalOption, portOption, text, timeoutOption } from "../command.ts";
import { pingStats } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveUdpOptions();

/** The udp command. */
export const udpCommand = defineCommand<UdpOptions>({
  name: "udp",
  summary: "Send datagrams, print the echo; loss and RTT like ping",
  usage: "udp [options] <message>",
  about: "Send <message> as a datagram to the UDP endpoint and print the echo; " +
    "with --count, like ping.",
  options: [
    portOption(UDP_PORT),
    {
      type: "int",
      name: "count",
      arg: "<n>",
      to: "count",
      help: `Datagrams to send (default ${DEFAULTS.count})`,
    },
    intervalOption("datagrams", DEFAULTS.intervalMs),
    timeoutOption("Seconds to wait for each echo", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io, progress }) {
    const message = text(positionals, "message");
    const options = resolveUdpOptions({
      ...values,
      signal: io.signal,
      onReply: progress ? (r) => progress(`udp seq=${r.seq} ${r.outcome}`) : undefined,
    });
    return async () => {
      const result = await udp(message, options);
      return { ...result, json: result, text: formatUdp(result) };
    };
  },
});

function formatUdp(r: UdpResult): string {
  const lines: string[] = [];
  if (r.received > 0 || r.mismatched > 0) lines.push(r.text);
  if (r.sent > 1) {
    lines.push(
      `${r.sent} datagrams sent, ${r.received} echoed, ${r.mismatched} mismatched, ` +
        `${r.lossPercent.toFixed(0)}% loss`,
    );
    if (r.rttMs) lines.push(`rtt min/avg/max/mdev = ${pingStats(r.rttMs)} ms`);
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}
