/**
 * The overview's diagnoses panel: the active diagnoses, worst first, each
 * with its summary and a link to its socket; "No problems seen" when none.
 * Live through the `diagnoses` event.
 */
import type { Diagnosis } from "../lib/view/api_types.ts";
import { activeOf } from "../lib/view/diagnoses.ts";
import { island } from "../lib/web/island.tsx";
import { useNow } from "./_hooks.ts";
import { DiagnosisCard, useDiagnoses } from "./_diagnoses_ui.tsx";

/** Props of the overview's diagnoses panel. */
export interface DiagnosesSummaryProps {
  /** The active diagnoses when the page was rendered. */
  active: Diagnosis[];
  now: number;
}

function DiagnosesSummary(props: DiagnosesSummaryProps) {
  const { list } = useDiagnoses(props.active);
  const now = useNow(props.now);
  const active = activeOf(list);
  return (
    <section
      class={`card diag-overview${active.length > 0 ? " has-active" : ""}`}
      data-diagnoses-overview=""
      data-active={active.length}
    >
      <h2>
        Diagnoses{" "}
        <a class="small" href="/diagnoses">
          every kind, and how to reproduce it
        </a>
      </h2>
      {active.length === 0
        ? (
          <p class="diag-ok" data-no-problems="">
            No problems seen: no socket of the service shows a known trouble pattern right now.
          </p>
        )
        : active.map((d) => <DiagnosisCard key={d.id} d={d} now={now} link full={false} />)}
    </section>
  );
}

export default island("diagnoses_summary", DiagnosesSummary);
