/**
 * The API's wire types: the JSON the routes send and the islands read, in one
 * module the browser side imports instead of reaching into server code.
 *
 * Shapes the server builds in one place (a socket record, a packet-log entry)
 * are declared there and listed here by type only, so nothing of the server
 * reaches the browser bundle; shapes that only exist on the wire are declared
 * here, and the server's code is checked against them where it sends them.
 * No runtime code, no Deno.
 */
import type { EndpointRecord } from "../net/registry.ts";
import type { Diagnosis } from "../diagnoses/types.ts";
import type { ScenarioRun } from "../diagnoses/scenarios.ts";

export type {
  Address,
  KernelSocketInfo,
  KernelView,
  ProcessOwner,
  SocketKind,
  SocketRecord,
} from "../net/types.ts";
export type { PacketDir, PacketEntry, PacketNote } from "../capture/packet_log.ts";
export type { ConnStream, StreamRecord } from "../capture/conn_stream.ts";
export type { ClientRun } from "../net/launcher.ts";
export type { EndpointRecord } from "../net/registry.ts";
export type { ChatMessage, ChatParticipant, ChatSnapshot } from "../net/endpoints/chat.ts";
export type { Fault, FaultMode } from "./fault.ts";
export type {
  Diagnosis,
  DiagnosisKind,
  Evidence,
  EvidenceSource,
  Severity,
} from "../diagnoses/types.ts";
export type {
  WireConnectionSummary,
  WireSegment,
  WireSegmentOptions,
  WireStatus,
} from "../wire/wire_view.ts";
export type { ScenarioRun, ScenarioState } from "../diagnoses/scenarios.ts";

/** `GET /api/diagnoses` (`?active=1`: only the active ones). */
export interface DiagnosesResponse {
  diagnoses: Diagnosis[];
  /** False when the service runs with `--no-diagnoses`: nothing is diagnosed. */
  monitoring: boolean;
}

/** `GET /api/diagnoses/reproduce`: every kind's scenario and its latest run. */
export interface ScenariosResponse {
  scenarios: ScenarioRun[];
}

/** Whether the kernel view is available, and why not. */
export interface KernelStatus {
  available: boolean;
  source: string | null;
  reason: string | null;
  sampledAt: number | null;
  tookMs: number | null;
  /**
   * The Unix endpoint's rows (sock_diag's AF_UNIX family): whether they were read, and why
   * not, or why some rows have no kernel columns. Absent before the first sample.
   */
  unix?: { available: boolean; reason: string | null };
}

/** One endpoint as `/api/endpoints` and the `endpoints` event list it: its record and try-it lines. */
export interface EndpointView extends EndpointRecord {
  /** Shell lines to try it (only the table's endpoints have them). */
  tryIt?: string[];
}
