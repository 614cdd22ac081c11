/**
 * Pieces the diagnoses' islands share: the live list (one `/api/events`
 * stream), a severity badge, the evidence table and one diagnosis as a card.
 * Summaries and evidence can quote client bytes: they are rendered as text
 * nodes only.
 */
import { useState } from "preact/hooks";
import type { Diagnosis } from "../lib/view/api_types.ts";
import {
  applyDiagnosesEvent,
  diagnosisHref,
  evidenceValue,
  KIND_INFO,
  severityClass,
} from "../lib/view/diagnoses.ts";
import { fmtAge, fmtTime } from "../lib/view/format.ts";
import { type StreamStatus, useEventStream } from "./_hooks.ts";

/** The stream that carries only what the diagnoses need (the endpoints' counters come too). */
export const DIAGNOSES_STREAM = "/api/events?sockets=0&packets=0";

/**
 * The diagnoses known to the page (active and cleared), kept up to date by the `diagnoses`
 * event of one `/api/events` stream; `onChange` hears each event after it is applied.
 */
export function useDiagnoses(
  initial: readonly Diagnosis[],
  onChange?: (change: "snapshot" | "appear" | "clear", diagnoses: Diagnosis[]) => void,
): { list: readonly Diagnosis[]; status: StreamStatus } {
  const [list, setList] = useState<readonly Diagnosis[]>(initial);
  const status = useEventStream(DIAGNOSES_STREAM, {
    diagnoses(data) {
      setList((old) => applyDiagnosesEvent(old, data));
      onChange?.(data.change, data.diagnoses);
    },
  });
  return { list, status };
}

/** A diagnosis kind as a badge coloured by severity, with a tooltip. */
export function KindBadge(
  { kind, severity, title }: { kind: string; severity: Diagnosis["severity"]; title?: string },
) {
  return (
    <span class={`badge diag-badge ${severityClass(severity)}`} title={title} data-kind={kind}>
      {kind}
    </span>
  );
}

/** The figures behind a diagnosis: what, value, source. */
export function EvidenceTable({ evidence }: { evidence: Diagnosis["evidence"] }) {
  return (
    <table class="evidence">
      <thead>
        <tr>
          <th>evidence</th>
          <th class="num">value</th>
          <th>source</th>
        </tr>
      </thead>
      <tbody>
        {evidence.map((e, i) => (
          <tr key={i}>
            <td>{e.what}</td>
            <td class="num mono">{evidenceValue(e.value)}</td>
            <td>
              <span class={`src src-${e.source}`}>{e.source}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** When a diagnosis held: since, and until (or "active" with how long). */
export function Held({ d, now }: { d: Diagnosis; now: number }) {
  return d.until === null
    ? (
      <span class="held" title={`since ${new Date(d.since).toISOString()}`}>
        active since {fmtTime(d.since)} ({fmtAge(Math.max(0, now - d.since))})
      </span>
    )
    : (
      <span class="held muted">
        {fmtTime(d.since)} – {fmtTime(d.until)} (held {fmtAge(d.until - d.since)})
      </span>
    );
}

/** Options of {@linkcode DiagnosisCard}. */
export interface DiagnosisCardProps {
  d: Diagnosis;
  now: number;
  /** Link to its socket (or endpoint). @default false */
  link?: boolean;
  /** Show the evidence and the advice, not only the summary. @default true */
  full?: boolean;
}

/** One diagnosis: kind, severity, summary, and (full) the evidence and the advice. */
export function DiagnosisCard({ d, now, link = false, full = true }: DiagnosisCardProps) {
  const href = link ? diagnosisHref(d) : null;
  return (
    <article
      class={`diag ${severityClass(d.severity)}${d.until === null ? " is-active" : " is-cleared"}`}
      data-diagnosis={d.id}
      data-kind={d.kind}
      data-active={String(d.until === null)}
    >
      <header class="diag-head">
        <KindBadge kind={d.kind} severity={d.severity} title={KIND_INFO[d.kind]?.title} />
        <span class={`sev ${severityClass(d.severity)}`}>{d.severity}</span>
        {href !== null && (
          <a class="mono" href={href}>
            {d.socket ?? d.endpoint}
          </a>
        )}
        {href === null && d.endpoint !== null && <span class="muted">{d.endpoint}</span>}
        <span class="spacer" />
        <Held d={d} now={now} />
      </header>
      <p class="diag-summary">{d.summary}</p>
      {full && (
        <>
          <EvidenceTable evidence={d.evidence} />
          <p class="diag-advice">
            <strong>What to do:</strong> {d.advice}
          </p>
        </>
      )}
    </article>
  );
}
