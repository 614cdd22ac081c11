/**
 * `deno task client doctor`: print the active diagnoses of a running service
 * (`GET /api/diagnoses?active=1`); exit 1 when one is a problem, for scripts
 * and CI. @module
 */
import type { Diagnosis } from "../../diagnoses/types.ts";
import { defineCommand, noPositionals, timeoutOption } from "../command.ts";

/** The dashboard asked when `--url` is not given. */
export const DOCTOR_URL = "http://127.0.0.1:8000";
const DOCTOR_TIMEOUT_MS = 10_000;

interface DoctorValues {
  url?: string;
  timeoutMs?: number;
}

/** What `doctor` found. */
export interface DoctorResult {
  url: string;
  diagnoses: Diagnosis[];
  /** Active diagnoses of severity `problem`. */
  problems: number;
}

/** The doctor command. */
export const doctorCommand = defineCommand<DoctorValues>({
  name: "doctor",
  summary: "Print a running service's active diagnoses; exit 1 on a problem",
  usage: "doctor [options]",
  about: "Ask a running sockscope for its active diagnoses (GET /api/diagnoses?active=1) and " +
    "print each with its evidence and advice. Exit 0 when none is a problem, 1 when one is " +
    "(or the service cannot be asked).",
  options: [
    {
      type: "string",
      name: "url",
      arg: "<url>",
      to: "url",
      check: (v) => URL.canParse(v) ? undefined : `"${v}" is not a URL`,
      help: `The service's dashboard (default ${DOCTOR_URL})`,
    },
    timeoutOption("Seconds to wait for the answer", DOCTOR_TIMEOUT_MS),
  ],
  prepare(values, positionals, { io }) {
    noPositionals(positionals);
    const base = values.url ?? DOCTOR_URL;
    const timeoutMs = values.timeoutMs ?? DOCTOR_TIMEOUT_MS;
    return async () => {
      const url = new URL("/api/diagnoses?active=1", base).href;
      const signals = [AbortSignal.timeout(timeoutMs)];
      if (io.signal) signals.push(io.signal);
      const res = await fetch(url, { signal: AbortSignal.any(signals) });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`Cannot read diagnoses: ${url} answered ${res.status}`);
      }
      const { diagnoses, monitoring } = await res.json() as {
        diagnoses: Diagnosis[];
        monitoring?: boolean;
      };
      // No diagnoses because none are looked for is not health: a script must not pass on it.
      if (monitoring === false) {
        throw new Error(`Cannot read diagnoses: ${base} runs with --no-diagnoses`);
      }
      const problems = diagnoses.filter((d) => d.severity === "problem").length;
      const result: DoctorResult = { url: base, diagnoses, problems };
      return {
        ok: problems === 0,
        error: problems === 0
          ? undefined
          : `${problems} problem${problems === 1 ? "" : "s"} diagnosed`,
        json: result,
        text: formatDoctor(result),
      };
    };
  },
});

/** The diagnoses as text: one block each, evidence and advice indented. */
export function formatDoctor(r: DoctorResult): string {
  if (r.diagnoses.length === 0) return `No active diagnoses at ${r.url}.\n`;
  const lines: string[] = [];
  for (const d of r.diagnoses) {
    const where = [d.endpoint && `endpoint ${d.endpoint}`, d.socket && `socket ${d.socket}`]
      .filter(Boolean).join(", ");
    lines.push(
      `[${d.severity}] ${d.kind}${where ? ` (${where})` : ""} since ${
        new Date(d.since).toISOString()
      }`,
      `  ${d.summary}`,
    );
    for (const e of d.evidence) lines.push(`  - ${e.what}: ${e.value} (${e.source})`);
    lines.push(`  advice: ${d.advice}`, "");
  }
  return `${lines.join("\n")}\n`;
}
