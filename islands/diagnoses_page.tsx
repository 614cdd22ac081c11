/**
 * The /diagnoses page: every kind in plain words, how many are active, the
 * recent history, and a "reproduce" button per kind that makes the service
 * play the situation against itself, so the diagnosis can be watched appear
 * and clear. Live through the `diagnoses` event; the scenarios' runs are read
 * again only when a diagnosis clears (no polling).
 */
import { useState } from "preact/hooks";
import type { Diagnosis, ScenarioRun, ScenariosResponse } from "../lib/view/api_types.ts";
import { activeOf, type KindRow, kindRows, KINDS, runProgress } from "../lib/view/diagnoses.ts";
import { fmtTime } from "../lib/view/format.ts";
import { island } from "../lib/web/island.tsx";
import { postJson, useNow } from "./_hooks.ts";
import { LiveDot } from "./_ui.tsx";
import { DiagnosisCard, Held, KindBadge, useDiagnoses } from "./_diagnoses_ui.tsx";

/** Props of the /diagnoses page. */
export interface DiagnosesPageProps {
  /** Every diagnosis the engine keeps, active and cleared. */
  diagnoses: Diagnosis[];
  scenarios: ScenarioRun[];
  now: number;
}

function KindSection(
  { row, now, list, onReproduce, error }: {
    row: KindRow;
    now: number;
    list: readonly Diagnosis[];
    onReproduce: (kind: string) => void;
    error: string;
  },
) {
  const run = row.scenario;
  const unavailable = run?.state === "unavailable";
  const running = run?.state === "running";
  const progress = run === null ? null : runProgress(run, list);
  return (
    <section
      class={`card diag-kind${row.active.length > 0 ? " has-active" : ""}`}
      id={row.kind}
      data-kind={row.kind}
      data-active={row.active.length}
    >
      <div class="toolbar">
        <h2>{row.info.title}</h2>
        <KindBadge kind={row.kind} severity={row.severity} />
        <span class="spacer" />
        <span class={row.active.length > 0 ? "pill diag-count on" : "pill diag-count"}>
          {row.active.length > 0 ? `${row.active.length} active` : "not active"}
        </span>
      </div>
      <p class="lede">{row.info.explanation}</p>
      <div class="diag-repro">
        <button
          type="button"
          class="btn js-only"
          data-action="reproduce"
          disabled={unavailable || running}
          onClick={() => onReproduce(row.kind)}
          title={unavailable ? run?.note ?? undefined : run?.description}
        >
          {running ? "reproducing…" : "Reproduce"}
        </button>
        {run !== null && <span class="muted">{run.description}</span>}
      </div>
      {unavailable && (
        <p class="banner info small" data-unavailable="">
          Cannot be reproduced from the running service: {run?.note}
        </p>
      )}
      {error && <p class="banner bad small">{error}</p>}
      {!unavailable && run !== null && progress !== null && (
        <p class="diag-run small" data-run-state={run.state}>
          Last run {fmtTime(run.startedAt!)}
          {run.endedAt !== null && <>–{fmtTime(run.endedAt)}</>}: {progress.text}
          {run.state !== "running" && run.note && <span class="muted">— {run.note}</span>}
        </p>
      )}
      {row.active.map((d) => <DiagnosisCard key={d.id} d={d} now={now} link />)}
      {row.history.length > 0 && (
        <details class="diag-history" open={row.active.length === 0 && progress !== null}>
          <summary>Recent ({row.history.length})</summary>
          <ul>
            {row.history.map((d) => (
              <li key={d.id} data-diagnosis={d.id}>
                <Held d={d} now={now} /> · {d.socket !== null
                  ? <a class="mono" href={`/sockets/${encodeURIComponent(d.socket)}`}>{d.socket}</a>
                  : <span class="muted">{d.endpoint ?? "—"}</span>} · {d.summary}
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}

function DiagnosesPage(props: DiagnosesPageProps) {
  const [scenarios, setScenarios] = useState(props.scenarios);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const refresh = () =>
    fetch("/api/diagnoses/reproduce").then((r) => r.ok ? r.json() : null).then(
      (body: ScenariosResponse | null) => body !== null && setScenarios(body.scenarios),
      () => {},
    );
  // The runs have no event of their own: read them again when a diagnosis clears.
  const { list, status } = useDiagnoses(props.diagnoses, (change) => {
    if (change === "clear") refresh();
  });
  const now = useNow(props.now);
  const reproduce = async (kind: string) => {
    setErrors((e) => ({ ...e, [kind]: "" }));
    try {
      const run = await postJson("/api/diagnoses/reproduce", { kind }) as unknown as ScenarioRun;
      setScenarios((old) => old.map((s) => s.kind === run.kind ? run : s));
    } catch (err) {
      setErrors((e) => ({ ...e, [kind]: (err as Error).message }));
      refresh();
    }
  };
  const rows = kindRows(KINDS, list, scenarios);
  const active = activeOf(list);
  return (
    <>
      <div class="page-head">
        <div class="toolbar">
          <h1>Diagnoses</h1>
          <span class="muted" data-active-total={active.length}>
            {active.length === 0 ? "no problems seen" : `${active.length} active`}
          </span>
          <span class="spacer" />
          <LiveDot status={status} />
        </div>
        <p class="lede">
          The service watches its own sockets every second and says in plain words what is wrong
          with one: the kernel's queues and{" "}
          <code>tcp_info</code>, the system's counters and its own bookkeeping, with the figures
          behind each verdict. <strong>Reproduce</strong>{" "}
          plays a situation against the service's own endpoints on loopback for a few seconds, so
          you can watch the diagnosis appear, then clear. The same list is at{" "}
          <code>/api/diagnoses</code> and from <code>deno task client doctor</code>.
        </p>
      </div>
      {rows.map((row) => (
        <KindSection
          key={row.kind}
          row={row}
          now={now}
          list={list}
          onReproduce={reproduce}
          error={errors[row.kind] ?? ""}
        />
      ))}
    </>
  );
}

export default island("diagnoses_page", DiagnosesPage);
