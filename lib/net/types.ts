/** Shapes shared by the registry, the kernel view and the API. */

import type { DiagnosisKind } from "../diagnoses/types.ts";

/** An address as `ss` prints it: host and port. */
export interface Address {
  hostname: string;
  port: number;
}

/** Where a link-layer endpoint receives: frames of one EtherType on one interface. */
export interface LinkAddress {
  /** Interface name; "" for every interface. */
  interface: string;
  /** `0x0801`. */
  etherType: string;
}

/**
 * The kernel's TCP states by number (include/net/tcp_states.h: ESTABLISHED is
 * 1), as `ss` and `netstat` print them.
 */
export const TCP_STATES = [
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
] as const;

/** Kernel TCP/UDP state names: the TCP states, and UNCONN for an unconnected UDP socket. */
export type KernelState = typeof TCP_STATES[number] | "UNCONN";

/**
 * Every state a socket row can be in, each named once: the kernel's TCP
 * states, UDP's UNCONN, a UDP flow's FLOW, and CLOSED for a socket only the
 * service still remembers.
 */
export const SOCKET_STATES = [...TCP_STATES, "UNCONN", "FLOW", "CLOSED"] as const;

/** A name of {@linkcode SOCKET_STATES}. */
export type SocketState = typeof SOCKET_STATES[number];

/** One row of the kernel's socket table. */
export interface KernelSocket {
  /** "unix": an AF_UNIX stream socket, its path as `local.hostname` (port 0). */
  transport: "tcp" | "udp" | "unix";
  /** The address family: 4, 6, or 0 for AF_UNIX. */
  family: 4 | 6 | 0;
  state: KernelState;
  local: Address;
  remote: Address | null;
  /** Bytes queued for the application to read (LISTEN: the accept queue length). */
  recvQ: number;
  /** Bytes queued for the peer (LISTEN: the backlog). */
  sendQ: number;
  inode?: number;
  /** The inode of the socket at the other end (AF_UNIX, from UNIX_DIAG_PEER). */
  peerInode?: number;
  uid?: number;
  /** What else the source tells: timers, retransmits, RTT, cwnd. */
  info?: KernelSocketInfo;
  /** The process holding the socket, where a scan of /proc found it (see lib/kernel/socket_owners.ts). */
  process?: ProcessOwner;
}

/** The process that holds a socket open, as `ss -p` names it. */
export interface ProcessOwner {
  pid: number;
  /** The process's name (/proc/<pid>/comm: at most 15 bytes, as `ss -p` prints it). */
  command: string;
}

/** Extra per-socket detail where the source has it (netlink tcp_info, /proc timers). */
export interface KernelSocketInfo {
  timer?: string;
  timerMs?: number;
  /** The current run of retransmission timeouts (tcp_info retransmits, /proc's `retrnsmt`). */
  retransmits?: number;
  /** Segments retransmitted over the connection's life (tcp_info total_retrans, ss -ti `retrans:N/M`'s M). */
  totalRetrans?: number;
  rttMs?: number;
  rttVarMs?: number;
  cwnd?: number;
  ssthresh?: number;
  mss?: number;
  bytesAcked?: number;
  bytesReceived?: number;
  lostPackets?: number;
  /** tcpi_data_segs_out: segments with data sent, retransmissions included. */
  dataSegsOut?: number;
  /** tcpi_dsack_dups: retransmissions the peer reported as duplicates (D-SACK): spurious ones. */
  dsackDups?: number;
  /** tcpi_backoff: exponential backoff of the retransmission timer (grows while nothing is acknowledged). */
  backoff?: number;
  /** tcpi_probes: unanswered zero-window or keep-alive probes. */
  probes?: number;
  /** tcpi_snd_wnd: the window the peer last advertised, bytes (Linux 5.4+). */
  sndWnd?: number;
  /** UDP: datagrams the kernel dropped for this socket (SK_MEMINFO_DROPS). */
  drops?: number;
}

/** What kind of row a socket record is. */
export type SocketKind = "listener" | "conn" | "udp" | "flow" | "kernel" | "peer";

/** The kernel's numbers for one of our sockets, or null where it can't tell. */
export interface KernelView {
  state: KernelState;
  /** Bytes the kernel holds for the reader (LISTEN: connections waiting in the accept queue). */
  recvQ: number;
  /** Bytes the kernel holds for the peer (LISTEN: the backlog). */
  sendQ: number;
  info?: KernelSocketInfo;
}

/** One socket as `/api/sockets` shows it. */
export interface SocketRecord {
  id: string;
  endpoint: string;
  /** "unix": a Unix stream socket, its path as `local.hostname` and port 0. */
  transport: "tcp" | "udp" | "unix";
  kind: SocketKind;
  /** False for a peer's socket (the `nc` on the other end); true for ours and our leftovers. */
  ours: boolean;
  /** True where only the kernel still has the socket (TIME_WAIT after our close, …). */
  kernelOnly: boolean;
  role?: "server" | "client";
  state: string;
  local: Address;
  remote: Address | null;
  bytesIn: number;
  bytesOut: number;
  messagesIn: number;
  messagesOut: number;
  app: {
    rxBuffered: number;
    txBuffered: number;
    paused?: boolean;
    /**
     * Framed endpoints: messages whose last part arrived 30-250 ms after their first, the
     * signature of a peer's Nagle waiting for our delayed ACK.
     */
    splitWaits?: number;
  } | null;
  kernel: KernelView | null;
  /** The process holding the socket open, where the kernel view can tell (peer rows too). */
  process?: ProcessOwner;
  openedAt: number | null;
  closedAt: number | null;
  closeReason: string | null;
  lastActivity: number | null;
  /** Kinds of the diagnoses active on this socket (lib/diagnoses); absent when none. */
  diagnoses?: DiagnosisKind[];
}
