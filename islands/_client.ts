/**
 * The browser entry (bundled into static/build/ by `deno task build`): finds
 * every island marker the server rendered and hydrates it with its props.
 */
import "uplot/dist/uPlot.min.css";
import { h, hydrate } from "preact";
import { HYDRATED_ATTR, type Island, ISLAND_ATTR, PROPS_ATTR } from "../lib/web/island.tsx";
import buffersDemo from "./buffers_demo.tsx";
import chatRoom from "./chat_room.tsx";
import connDetail from "./conn_detail.tsx";
import diagnosesPage from "./diagnoses_page.tsx";
import diagnosesSummary from "./diagnoses_summary.tsx";
import endpointCards from "./endpoint_cards.tsx";
import labs from "./labs.tsx";
import multiconnLauncher from "./multiconn_launcher.tsx";
import packetLog from "./packet_log.tsx";
import socketsTable from "./sockets_table.tsx";

// deno-lint-ignore no-explicit-any
const ISLANDS: Island<any>[] = [
  buffersDemo,
  chatRoom,
  connDetail,
  diagnosesPage,
  diagnosesSummary,
  endpointCards,
  labs,
  multiconnLauncher,
  packetLog,
  socketsTable,
];

function hydrateAll(): void {
  const byName = new Map(ISLANDS.map((i) => [i.islandName, i.component]));
  for (const el of document.querySelectorAll<HTMLElement>(`[${ISLAND_ATTR}]`)) {
    const name = el.getAttribute(ISLAND_ATTR)!;
    const component = byName.get(name);
    if (component === undefined) {
      console.error(`sockscope: no island "${name}" in the bundle`);
      continue;
    }
    try {
      const props = JSON.parse(el.getAttribute(PROPS_ATTR) ?? "{}");
      // The island owns its data now; a big table's props need not stay in the DOM.
      el.removeAttribute(PROPS_ATTR);
      hydrate(h(component, props), el);
      el.setAttribute(HYDRATED_ATTR, "");
    } catch (err) {
      console.error(`sockscope: cannot hydrate island "${name}":`, err);
    }
  }
  document.documentElement.setAttribute(HYDRATED_ATTR, "");
}

hydrateAll();
