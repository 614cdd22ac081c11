/**
 * The dashboard's pages in one table: the app routes them, the layout's
 * navigation lists those with a label, in this order.
 *
 * @module
 */
import type { PageEntry } from "../lib/web/app.ts";
import * as buffersPage from "./buffers.tsx";
import * as chatPage from "./chat.tsx";
import * as diagnosesPage from "./diagnoses.tsx";
import * as indexPage from "./index.tsx";
import * as labsPage from "./labs.tsx";
import * as packetsPage from "./packets.tsx";
import * as socketsPage from "./sockets.tsx";
import * as socketPage from "./sockets/[id].tsx";

/** Every page, rendered on the server inside `routes/_app.tsx`. */
export const PAGES: readonly PageEntry[] = [
  { path: "/", module: indexPage, nav: "Overview" },
  { path: "/sockets", module: socketsPage, nav: "Sockets" },
  { path: "/sockets/:id", module: socketPage },
  { path: "/diagnoses", module: diagnosesPage, nav: "Diagnoses" },
  { path: "/packets", module: packetsPage, nav: "Packets" },
  { path: "/buffers", module: buffersPage, nav: "Buffers" },
  { path: "/labs", module: labsPage, nav: "Labs" },
  { path: "/chat", module: chatPage, nav: "Chat" },
];
