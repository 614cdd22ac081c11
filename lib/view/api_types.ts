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

export type {
  Address,
  KernelSocketInfo,
  KernelView,
  SocketKind,
  SocketRecord,
} from "../net/types.ts";
export type { PacketDir, PacketEntry, PacketNote } from "../capture/packet_log.ts";
export type { ConnStream, StreamRecord } from "../capture/conn_stream.ts";
export type { ClientRun } from "../net/launcher.ts";
export type { EndpointRecord } from "../net/registry.ts";
export type { ChatMessage, ChatParticipant } from "../net/endpoints/chat.ts";
export type { Fault, FaultMode } from "./fault.ts";
export type {
  WireConnectionSummary,
  WireSegment,
  WireSegmentOptions,
  WireStatus,
} from "../wire/wire_view.ts";

/** Whether the kernel view is available, and why not. */
export interface KernelStatus {
  available: boolean;
  source: string | null;
  reason: string | null;
  sampledAt: number | null;
  tookMs: number | null;
}

/** One endpoint as `/api/endpoints` and the `endpoints` event list it: its record and try-it lines. */
export interface EndpointView extends EndpointRecord {
  /** Shell lines to try it (only the table's endpoints have them). */
  tryIt?: string[];
}
