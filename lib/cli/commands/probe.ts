/** `deno task client probe`: time repeated TCP connects, like ping. @module */
import {
  probe,
  PROBE_PORT,
  type ProbeOptions,
  type ProbeResult,
  resolveProbeOptions,
} from "../../client/probe.ts";
import {
  defineCommand,
  intervalOption,
  noPositionals,
  portOption,
  timeoutOption,
} from "../command.ts";
import { ms, pingStats } from "../format.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveProbeOptions();

/** The probe command. */
export const probeCommand = defineCommand<ProbeOptions>({
  name: "probe",
  summary: "Time repeated TCP connects, like ping",
  usage: "probe [options]",
  about: "Time repeated TCP connects, like ping; count refusals and timeouts.",
  options: [
    portOption(PROBE_PORT),
    {
      type: "int",
      name: "count",
      arg: "<n>",
      to: "count",
      help: `Connects to attempt (default ${DEFAULTS.count})`,
    },
    intervalOption("attempts", DEFAULTS.intervalMs),
    timeoutOption("Seconds to wait for each connect", DEFAULTS.timeoutMs),
  ],
  prepare(values, positionals, { io, json }) {
    noPositionals(positionals);
    const options = resolveProbeOptions({
      ...values,
      signal: io.signal,
      onAttempt: json ? undefined : (a) => {
        const target = `${options.hostname}:${options.port}`;
        const line = a.outcome === "connected"
          ? `connected to ${target}: seq=${a.seq} time=${ms(a.ms)} ms`
          : `${a.outcome} ${target}: seq=${a.seq} time=${ms(a.ms)} ms: ${a.error}`;
        // Like ping, each attempt is printed as it happens.
        io.stdout(`${line}\n`);
      },
    });
    return async () => {
      const result = await probe(options);
      return { ...result, json: result, text: formatProbe(result) };
    };
  },
});

function formatProbe(r: ProbeResult): string {
  const lines = [
    `--- ${r.address.hostname}:${r.address.port} probe statistics ---`,
    `${r.attempts} attempts, ${r.connected} connected, ${r.refused} refused, ` +
    `${r.timeouts} timeouts, ${r.errors} errors, ${r.lossPercent.toFixed(0)}% loss`,
  ];
  if (r.connectMs) lines.push(`connect min/avg/max/mdev = ${pingStats(r.connectMs)} ms`);
  return `${lines.join("\n")}\n`;
}
