/**
 * The connection page's diagnoses panel: each active or recent diagnosis of
 * one socket, with its evidence and advice. Self-contained (its own stream,
 * so it stays live after the connection closed, when the page's socket stream
 * stops); the cleared ones come from one `GET /api/diagnoses` when it mounts.
 */
import { useEffect, useState } from "preact/hooks";
import type { DiagnosesResponse, Diagnosis } from "../lib/view/api_types.ts";
import { applyDiagnosesEvent, forSocket } from "../lib/view/diagnoses.ts";
import { useNow } from "./_hooks.ts";
import { DiagnosisCard, useDiagnoses } from "./_diagnoses_ui.tsx";

/** The diagnoses of socket `socket`, live; nothing on the server render. */
export function DiagnosesPanel({ socket }: { socket: string }) {
  const [history, setHistory] = useState<readonly Diagnosis[]>([]);
  const { list } = useDiagnoses([]);
  const now = useNow(0);
  useEffect(() => {
    // Once: the cleared ones the stream's snapshot does not carry.
    fetch("/api/diagnoses").then((r) => r.ok ? r.json() : { diagnoses: [] }).then(
      (body: DiagnosesResponse) => setHistory(body.diagnoses),
      () => {},
    );
  }, []);
  // The stream's news wins over the one-off list: merge it in as appear/clear events.
  const merged = list.reduce(
    (acc, d) =>
      applyDiagnosesEvent(acc, { change: d.until === null ? "appear" : "clear", diagnoses: [d] }),
    history,
  );
  const mine = forSocket(merged, socket, 10);
  if (mine.length === 0) {
    return (
      <p class="diag-none muted small js-only" data-diagnoses-panel="">
        No diagnoses for this socket. <a href="/diagnoses">What sockscope looks for</a>
      </p>
    );
  }
  return (
    <section class="card diag-panel" data-diagnoses-panel="">
      <h2>
        Diagnoses <a class="small" href="/diagnoses">all kinds</a>
      </h2>
      {mine.map((d) => <DiagnosisCard key={d.id} d={d} now={now} />)}
    </section>
  );
}
