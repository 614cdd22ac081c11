/**
 * Every route of the dashboard in one place, so the whole API fits on one
 * screen, and {@linkcode createApp}, which serves them with the pages
 * (`_pages.ts`) and static files.
 *
 * @module
 */
import type { Hono } from "hono";
import { type AppOptions, buildApp } from "../lib/web/app.ts";
import type { AppState, Handlers } from "../lib/web/define.ts";
import App from "./_app.tsx";
import { PAGES } from "./_pages.ts";
import { handler as capture } from "./api/capture.pcapng.ts";
import { handler as captures } from "./api/captures.ts";
import { handler as captureFile } from "./api/captures/[name].ts";
import { handler as chat } from "./api/chat.ts";
import { handler as clients } from "./api/clients.ts";
import { handler as clientStop } from "./api/clients/[id]/stop.ts";
import { handler as clientMulticonn } from "./api/clients/multiconn.ts";
import { handler as clientSink } from "./api/clients/sink.ts";
import { handler as diagnoses } from "./api/diagnoses.ts";
import { handler as diagnosesReproduce } from "./api/diagnoses/reproduce.ts";
import { handler as endpoints } from "./api/endpoints.ts";
import { handler as endpointFault } from "./api/endpoints/[name]/fault.ts";
import { handler as events } from "./api/events.ts";
import { handler as packets } from "./api/packets.ts";
import { handler as sinkDrain } from "./api/sink/drain.ts";
import { handler as sockets } from "./api/sockets.ts";
import { handler as socket } from "./api/sockets/[id].ts";
import { handler as socketClose } from "./api/sockets/[id]/close.ts";
import { handler as socketStream } from "./api/sockets/[id]/stream.ts";
import { handler as socketWire } from "./api/sockets/[id]/wire.ts";
import { handler as wire } from "./api/wire.ts";
import { handler as metrics } from "./metrics.ts";

/** Every API route and its handlers. */
export const ROUTES: ReadonlyArray<readonly [string, Handlers]> = [
  ["/api/endpoints", endpoints],
  ["/api/endpoints/:name/fault", endpointFault],
  ["/api/sockets", sockets],
  ["/api/sockets/:id", socket],
  ["/api/sockets/:id/close", socketClose],
  ["/api/sockets/:id/stream", socketStream],
  ["/api/sockets/:id/wire", socketWire],
  ["/api/packets", packets],
  ["/api/events", events],
  ["/api/sink/drain", sinkDrain],
  ["/api/clients", clients],
  ["/api/clients/multiconn", clientMulticonn],
  ["/api/clients/sink", clientSink],
  ["/api/clients/:id/stop", clientStop],
  ["/api/chat", chat],
  ["/api/diagnoses", diagnoses],
  ["/api/diagnoses/reproduce", diagnosesReproduce],
  ["/api/capture.pcapng", capture],
  ["/api/wire", wire],
  ["/api/captures", captures],
  ["/api/captures/:name", captureFile],
  ["/metrics", metrics],
];

/** Builds the HTTP app for a running service; tests call `app.fetch` in process. */
export function createApp(state: AppState, options: AppOptions = {}): Hono {
  const staticDir = new URL("../static/", import.meta.url);
  return buildApp({ routes: ROUTES, pages: PAGES, layout: App, staticDir }, state, options);
}
