/**
 * The shapes of a diagnosis and of the evidence the rules read: types and
 * constants only, no Deno, so the browser side can import them through
 * lib/view/api_types.ts.
 */

/** Every kind of diagnosis, in the order the README and the doctor list them. */
export const DIAGNOSIS_KINDS = [
  "peer-not-reading",
  "service-not-reading",
  "accept-queue-overflow",
  "nagle-delayed-ack",
  "peer-vanished",
  "retransmissions",
  "reset-with-unread-data",
  "time-wait-pileup",
  "udp-receive-drops",
] as const;

/** A name of {@linkcode DIAGNOSIS_KINDS}. */
export type DiagnosisKind = typeof DIAGNOSIS_KINDS[number];

/** How bad: `problem` makes `client doctor` exit 1. */
export type Severity = "info" | "warning" | "problem";

/** Where a figure comes from. */
export type EvidenceSource = "kernel" | "wire" | "app" | "netstat";

/** One figure behind a diagnosis. */
export interface Evidence {
  /** What was measured, in words (e.g. "Send-Q (bytes the peer has not acknowledged)"). */
  what: string;
  value: number | string;
  source: EvidenceSource;
}

/** One diagnosis, as `/api/diagnoses` lists it. */
export interface Diagnosis {
  /** Unique for the service's lifetime, e.g. `peer-not-reading-3`. */
  id: string;
  kind: DiagnosisKind;
  severity: Severity;
  /** The socket id it is about, or null for one about a whole endpoint. */
  socket: string | null;
  /** The endpoint it is about, or null where none can be told. */
  endpoint: string | null;
  /** One sentence a beginner understands. */
  summary: string;
  /** The figures that made it fire, the latest sample's; never empty. */
  evidence: Evidence[];
  /** What to do about it. */
  advice: string;
  /** Epoch ms the condition was first seen holding. */
  since: number;
  /** Epoch ms it cleared, null while active. */
  until: number | null;
}

/**
 * What the wire view tells about one connection over the recent window (segments of the last
 * {@linkcode WIRE_WINDOW_MS}); the rules accept it where they have it and say which evidence
 * they lack where not. Counts are of segments with that Wireshark analysis flag.
 */
export interface WireCounts {
  /** Segments from the peer advertising a zero window (`tcp.analysis.zero_window`, dir in). */
  zeroWindowIn: number;
  /** Segments from our socket advertising a zero window (dir out). */
  zeroWindowOut: number;
  /** Retransmitted segments, either direction (`tcp.analysis.retransmission`). */
  retransmissions: number;
  /** Our keep-alives the peer did not answer. */
  keepAlivesUnanswered: number;
  /** RST seen, and from which side; null when none. */
  rst: "in" | "out" | null;
  /** Data bytes seen before the RST (0 when no RST or none). */
  bytesBeforeRst: number;
  /**
   * Nagle's stalls: small data segments from the peer sent only once our ACK of its previous
   * data segment arrived, 30 ms or more after that one (the second write of a request waiting).
   */
  nagleWaits: number;
  /** The median time from the first small segment to the one that waited, ms (0: none). */
  nagleGapMs: number;
}

/** The window {@linkcode WireCounts} cover. */
export const WIRE_WINDOW_MS = 5000;

/**
 * The wire view as the rules read it: counts per socket id, or null when the socket was not
 * captured. The lead connects lib/wire/wire_view.ts here; null as a whole when it is off.
 */
export interface WireEvidence {
  /** Counts for one socket over the last {@linkcode WIRE_WINDOW_MS}, or null if unknown. */
  counts(socketId: string): WireCounts | null;
  /** SYN retransmissions toward one of our listening ports in the window. */
  synRetransmits?(port: number): number;
}

/** The system-wide counters the rules diff between samples (/proc/net/netstat and snmp). */
export interface NetCounters {
  /** TcpExt ListenOverflows: connections a full accept queue turned away. */
  listenOverflows: number;
  /** TcpExt ListenDrops: SYNs dropped at a listener, overflows included. */
  listenDrops: number;
  /** TcpExt DelayedACKs: ACKs the kernel held back. */
  delayedAcks: number;
  /** Udp RcvbufErrors: datagrams dropped for a full receive buffer. */
  udpRcvbufErrors: number;
}
