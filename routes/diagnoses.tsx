import { definePage, page } from "../lib/web/page.tsx";
import DiagnosesPage from "../islands/diagnoses_page.tsx";

export const handler = definePage.handlers({
  GET({ state }) {
    const { service } = state;
    return page({
      diagnoses: service.diagnoses.engine.all(),
      scenarios: service.scenarios.list(),
      now: Date.now(),
    }, { title: "Diagnoses" });
  },
});

export default definePage.page<typeof handler>(function Diagnoses({ data }) {
  return <DiagnosesPage diagnoses={data.diagnoses} scenarios={data.scenarios} now={data.now} />;
});
