/**
 * The diagnosis rules: pure functions from one sample of evidence (the joined
 * socket rows, the system counters, the wire view's counts) to the findings
 * that hold in it. No Deno, no clock: the engine (./engine.ts) gives the
 * time and turns findings into diagnoses with hysteresis.
 *
 * Several conditions are about progress ("the peer acknowledged nothing since
 * the last sample"), so the rules keep a little memory per socket
 * ({@linkcode RuleMemory}): a few numbers of the previous sample.
 */
import type { SocketRecord } from "../net/types.ts";
import type { DiagnosisKind, Evidence, NetCounters, Severity, WireEvidence } from "./types.ts";

/** The thresholds of the rules; the README's Diagnoses section explains each. */
export interface RuleThresholds {
  /** Queued bytes that count as a stuck queue when nothing moves. @default 65536 */
  stuckQueueBytes?: number;
  /** Messages split by a 30-250 ms wait, within one sample, that suggest Nagle with delayed ACK. @default 2 */
  nagleMessages?: number;
  /** tcpi_backoff of the retransmission timer, or unanswered probes, at which the peer counts as gone. @default 3 */
  vanishedBackoff?: number;
  /** Retransmitted segments (less D-SACKed ones) between two samples that count as loss. @default 3 */
  retransSegments?: number;
  /** …and their least share of the data segments sent meanwhile. @default 0.01 */
  retransShare?: number;
  /** TIME_WAIT sockets on one endpoint that count as a pile-up, at least. @default 500 */
  timeWaitMin?: number;
  /** Share of the ephemeral port range in TIME_WAIT that counts as a pile-up. @default 0.05 */
  timeWaitShare?: number;
  /** How long an event (a reset, an overflow, drops) keeps its finding alive, ms. @default 5000 */
  eventHoldMs?: number;
}

/** The defaults of {@linkcode RuleThresholds}. */
export const RULE_DEFAULTS: Required<RuleThresholds> = {
  stuckQueueBytes: 65536,
  nagleMessages: 2,
  vanishedBackoff: 3,
  retransSegments: 3,
  retransShare: 0.01,
  timeWaitMin: 500,
  timeWaitShare: 0.05,
  eventHoldMs: 5000,
};

// Linux's default ip_local_port_range, 32768-60999, for when it cannot be read.
const DEFAULT_PORTS = 28232;

/** TIME_WAIT sockets on one endpoint that make a pile-up, for the port range given. */
export function timeWaitLimit(
  range: readonly [number, number] | null,
  thresholds: RuleThresholds = {},
): number {
  const t = { ...RULE_DEFAULTS, ...thresholds };
  const size = range === null ? DEFAULT_PORTS : range[1] - range[0] + 1;
  return Math.max(t.timeWaitMin, Math.round(size * t.timeWaitShare));
}

/** One sample of evidence. */
export interface DiagnosisSample {
  /** Epoch ms of the sample. */
  now: number;
  /**
   * Every live socket joined with the kernel's table (`Service.sockets()`), or as
   * `Service.diagnosisSample()` gives them: one record refilled for socket after socket, so
   * the rules keep none past its turn (they copy what a finding shows).
   */
  sockets: Iterable<SocketRecord>;
  /**
   * TIME_WAIT sockets per endpoint that `sockets` leaves out (the kernel's rows no live
   * socket of ours was joined with), counted with those in `sockets`. @default none
   */
  timeWait?: ReadonlyMap<string, number>;
  /** Recently closed sockets, newest last (`Registry.closed()`). */
  closed: readonly SocketRecord[];
  /** System-wide counters, or null when /proc is not readable. */
  netstat: NetCounters | null;
  /** net.ipv4.ip_local_port_range, or null when unknown. */
  portRange: readonly [number, number] | null;
  /** The wire view, or null when it is off. */
  wire: WireEvidence | null;
  /** Whether the kernel view answered; without it the kernel rules are silent. */
  kernel: boolean;
}

/** What holds in one sample, before hysteresis. */
export interface Finding {
  kind: DiagnosisKind;
  /** Names the situation across samples: the kind and its socket or endpoint. */
  key: string;
  severity: Severity;
  socket: string | null;
  endpoint: string | null;
  summary: string;
  evidence: Evidence[];
  advice: string;
  /** True for findings born of an event (a reset, a counter that rose): they appear at once. */
  event: boolean;
}

/** The previous sample's figures of one socket. */
interface Prev {
  bytesAcked: number;
  bytesIn: number;
  recvQ: number;
  totalRetrans: number;
  dsackDups: number;
  dataSegsOut: number;
  drops: number;
  splitWaits: number;
  /** The sample these figures are from, to forget sockets that went away. */
  seen: number;
}

/** What the rules remember between samples. */
export class RuleMemory {
  /** Per socket id. */
  readonly sockets = new Map<string, Prev>();
  netstat: NetCounters | null = null;
  /** The newest closedAt already looked at; 0 takes the first sample's time. */
  closedUpTo = 0;
  /** Event findings kept alive until their hold ends, by key. */
  readonly held = new Map<string, { finding: Finding; until: number }>();
  /** Samples taken, for `Prev.seen`. */
  samples = 0;
}

const WIRE_OFF: Evidence = {
  what: "wire view",
  value: "not available: this diagnosis rests on kernel and app figures only",
  source: "wire",
};

function wireNote(wire: WireEvidence | null, lacking: string): Evidence {
  return wire === null ? { ...WIRE_OFF, value: `not available (${lacking} not checked)` } : {
    what: "wire view",
    value: `no capture of this connection (${lacking} not checked)`,
    source: "wire",
  };
}

function kib(bytes: number): string {
  return bytes >= 1048576
    ? `${(bytes / 1048576).toFixed(1)} MiB`
    : bytes >= 1024
    ? `${Math.round(bytes / 1024)} KiB`
    : `${bytes} B`;
}

/**
 * The findings of one sample. Updates `memory` (the previous figures) as it goes; one pass
 * over the sockets, a few comparisons each.
 */
export function evaluate(
  sample: DiagnosisSample,
  memory: RuleMemory,
  thresholds: RuleThresholds = {},
): Finding[] {
  const t = { ...RULE_DEFAULTS, ...thresholds };
  const out: Finding[] = [];
  const sampleNo = ++memory.samples;
  const first = sampleNo === 1;
  const netPrev = memory.netstat;
  const net = sample.netstat;
  const netDelta = (field: keyof NetCounters): number =>
    net === null || netPrev === null ? 0 : Math.max(0, net[field] - netPrev[field]);
  const overflows = netDelta("listenOverflows");
  const listenDrops = netDelta("listenDrops");
  const rcvbufErrors = netDelta("udpRcvbufErrors");
  const delayedAcks = netDelta("delayedAcks");
  const wire = sample.wire;
  // TIME_WAIT sockets per endpoint, ours and the peers' (theirs hold the client's ports).
  const timeWait = new Map<string, number>(sample.timeWait ?? []);
  let fullest: { record: SocketRecord; ratio: number } | null = null;
  // Sockets the memory holds figures of in this sample, to tell when some went away.
  let remembered = 0;

  for (const r of sample.sockets) {
    const k = r.kernel;
    if (k !== null && k.state === "TIME_WAIT") {
      timeWait.set(r.endpoint, (timeWait.get(r.endpoint) ?? 0) + 1);
      continue;
    }
    if (!r.ours || r.kernelOnly) continue;
    if (r.kind === "listener") {
      if (k !== null && k.sendQ > 0) {
        const ratio = k.recvQ / k.sendQ;
        // A copy: the record may be refilled for the next socket (listeners are few).
        if (fullest === null || ratio > fullest.ratio) {
          fullest = { record: { ...r, kernel: { ...k } }, ratio };
        }
      }
      continue;
    }
    const info = k?.info;
    let prev = memory.sockets.get(r.id);
    const isNew = prev === undefined;
    if (prev === undefined) {
      prev = {
        bytesAcked: 0,
        bytesIn: 0,
        recvQ: 0,
        totalRetrans: 0,
        dsackDups: 0,
        dataSegsOut: 0,
        drops: 0,
        splitWaits: 0,
        seen: 0,
      };
      memory.sockets.set(r.id, prev);
    }
    const bytesAcked = info?.bytesAcked ?? -1;
    const totalRetrans = info?.totalRetrans ?? 0;
    const dsackDups = info?.dsackDups ?? 0;
    const dataSegsOut = info?.dataSegsOut ?? 0;
    const drops = info?.drops ?? 0;
    const splitWaits = r.app?.splitWaits ?? 0;
    // Our UDP sockets are as old as the service: drops before the first look count (a burst
    // can start before it).
    if (r.transport === "udp" && k !== null && drops > prev.drops) {
      // Drops come in bursts: one look that sees some is the event, held like a reset.
      hold(memory, sample.now, t.eventHoldMs, udpDrops(r, drops - prev.drops, drops, rcvbufErrors));
    }
    if (
      !isNew && k !== null && r.transport === "tcp" &&
      (k.state === "ESTABLISHED" || k.state === "CLOSE_WAIT")
    ) {
      // The persist timer backs off too while a live peer answers its probes with a zero
      // window (backoff 3 within 2 s measured on loopback): only an unanswered retransmission
      // or unanswered probes say the peer is gone.
      const vanished = (info?.timer === "on" && (info?.backoff ?? 0) >= t.vanishedBackoff) ||
        (info?.probes ?? 0) >= t.vanishedBackoff;
      const txBuffered = r.app?.txBuffered ?? 0;
      const stalledOut = k.sendQ > 0 && bytesAcked >= 0 && bytesAcked === prev.bytesAcked;
      const peerStuck = !vanished && stalledOut &&
        (info?.sndWnd === 0 || info?.timer === "persist" ||
          k.sendQ + txBuffered >= t.stuckQueueBytes);
      // The wire's counts are read only for a socket that has a finding: reading them decodes
      // the connection's kept segments, which at 10,000 sockets cost more than the rest.
      if (vanished) out.push(peerVanished(r, wire));
      else if (peerStuck) out.push(peerNotReading(r, wire));
      // A writer blocked by a peer that does not read stops reading too: that is the peer's
      // doing, so service-not-reading waits until our sends move.
      const inStuck = !peerStuck && k.recvQ > 0 && r.bytesIn === prev.bytesIn &&
        k.recvQ >= prev.recvQ && (k.recvQ >= t.stuckQueueBytes || r.app?.paused === true);
      if (inStuck) out.push(serviceNotReading(r, wire));
      // Loopback under load retransmits ~10 segments a second (tail loss probes, spurious
      // timeouts) out of ~100,000: count those the peer did not report as duplicates, and only
      // when they are a share of what was sent.
      const retrans = totalRetrans - prev.totalRetrans - (dsackDups - prev.dsackDups);
      const sent = dataSegsOut - prev.dataSegsOut;
      if (
        !vanished && retrans >= t.retransSegments &&
        (sent <= 0 || retrans >= sent * t.retransShare)
      ) {
        out.push(retransmissions(r, retrans, totalRetrans, sent, wire));
      }
      const split = splitWaits - prev.splitWaits;
      if (split >= t.nagleMessages) out.push(nagle(r, split, delayedAcks, wire));
    }
    prev.bytesAcked = bytesAcked;
    prev.bytesIn = r.bytesIn;
    prev.recvQ = k?.recvQ ?? 0;
    prev.totalRetrans = totalRetrans;
    prev.dsackDups = dsackDups;
    prev.dataSegsOut = dataSegsOut;
    prev.drops = drops;
    prev.splitWaits = splitWaits;
    prev.seen = sampleNo;
    remembered++;
  }
  // Sockets gone since the last sample: forget them (one pass, only when some went; the rows
  // also hold TIME_WAIT, listeners and the peers' ends, which the memory does not).
  if (memory.sockets.size > remembered) {
    for (const [id, prev] of memory.sockets) {
      if (prev.seen !== sampleNo) memory.sockets.delete(id);
    }
  }

  if (fullest !== null) {
    const k = fullest.record.kernel!;
    if (k.recvQ >= k.sendQ || (overflows + listenDrops > 0 && k.recvQ > 0)) {
      hold(
        memory,
        sample.now,
        t.eventHoldMs,
        acceptOverflow(fullest.record, overflows, listenDrops, wire),
      );
    }
  }

  const range = sample.portRange;
  const rangeSize = range === null ? DEFAULT_PORTS : range[1] - range[0] + 1;
  const twLimit = timeWaitLimit(range, t);
  for (const [endpoint, count] of timeWait) {
    if (count >= twLimit) out.push(timeWaitPileup(endpoint, count, twLimit, rangeSize, range));
  }

  // Closes since the last sample (newest last): a reset with data unread on either side.
  const closed = sample.closed;
  // Closes from before the engine started are history, not news.
  if (first && memory.closedUpTo === 0) memory.closedUpTo = sample.now;
  let newest = memory.closedUpTo;
  for (let i = closed.length - 1; i >= 0; i--) {
    const c = closed[i];
    const at = c.closedAt ?? 0;
    if (at <= memory.closedUpTo) break;
    if (at > newest) newest = at;
    const reason = c.closeReason ?? "";
    if (/reset|unread/.test(reason)) {
      hold(memory, sample.now, t.eventHoldMs, resetUnread(c, reason, wire));
    }
  }
  memory.closedUpTo = newest;

  if (net !== null) memory.netstat = net;
  // Event findings stay for their hold; each sample re-sends them.
  for (const [key, h] of memory.held) {
    if (h.until < sample.now) memory.held.delete(key);
    else out.push(h.finding);
  }
  return out;
}

function hold(memory: RuleMemory, now: number, holdMs: number, finding: Finding): void {
  memory.held.set(finding.key, { finding, until: now + holdMs });
}

function base(
  kind: DiagnosisKind,
  r: SocketRecord,
  severity: Severity,
): Pick<Finding, "kind" | "key" | "severity" | "socket" | "endpoint" | "event"> {
  return {
    kind,
    key: `${kind}|${r.id}`,
    severity,
    socket: r.id,
    endpoint: r.endpoint,
    event: false,
  };
}

function queues(r: SocketRecord): Evidence[] {
  const k = r.kernel!;
  const out: Evidence[] = [
    { what: "Send-Q (bytes sent, not yet acknowledged)", value: k.sendQ, source: "kernel" },
    { what: "Recv-Q (bytes received, not yet read by the app)", value: k.recvQ, source: "kernel" },
  ];
  if (r.app !== null) {
    out.push({
      what: "bytes the app wrote that the kernel has not taken",
      value: r.app.txBuffered,
      source: "app",
    });
  }
  return out;
}

function peerNotReading(r: SocketRecord, wire: WireEvidence | null): Finding {
  const w = wire?.counts(r.id) ?? null;
  const k = r.kernel!;
  const info = k.info;
  const evidence = queues(r);
  evidence.push({
    what: "bytes the peer acknowledged since the last sample",
    value: 0,
    source: "kernel",
  });
  if (info?.sndWnd !== undefined) {
    evidence.push({
      what: "window the peer advertises (tcpi_snd_wnd)",
      value: info.sndWnd,
      source: "kernel",
    });
  }
  if (info?.timer !== undefined) {
    evidence.push({
      what: "kernel timer (persist = probing a zero window)",
      value: info.timer,
      source: "kernel",
    });
  }
  if (w !== null) {
    evidence.push({
      what: "zero-window segments from the peer (last 5 s)",
      value: w.zeroWindowIn,
      source: "wire",
    });
  } else evidence.push(wireNote(wire, "the peer's zero window"));
  return {
    ...base("peer-not-reading", r, "warning"),
    summary: `The other end of this connection stopped reading: ${
      kib(k.sendQ + (r.app?.txBuffered ?? 0))
    } wait to be sent and it acknowledges nothing.`,
    evidence,
    advice:
      "Make the client read what it asked for (or read faster); a server should bound what it queues per connection and close clients that stay stuck.",
  };
}

function serviceNotReading(r: SocketRecord, wire: WireEvidence | null): Finding {
  const w = wire?.counts(r.id) ?? null;
  const k = r.kernel!;
  const evidence = queues(r);
  evidence.push({ what: "bytes the app read since the last sample", value: 0, source: "app" });
  if (r.app?.paused) evidence.push({ what: "app paused its reads", value: "yes", source: "app" });
  if (w !== null) {
    evidence.push({
      what: "zero-window segments we sent (last 5 s)",
      value: w.zeroWindowOut,
      source: "wire",
    });
  } else evidence.push(wireNote(wire, "our zero window"));
  return {
    ...base("service-not-reading", r, "problem"),
    summary: `This service stopped reading the connection: ${
      kib(k.recvQ)
    } wait in the kernel and the app took none of it.`,
    evidence,
    advice:
      "Find why the handler does not read (a paused reader, a stall fault, the sink, a blocked await); the peer's writes stall until it does.",
  };
}

function peerVanished(r: SocketRecord, wire: WireEvidence | null): Finding {
  const w = wire?.counts(r.id) ?? null;
  const info = r.kernel!.info;
  const evidence: Evidence[] = [
    { what: "retransmission backoff (tcpi_backoff)", value: info?.backoff ?? 0, source: "kernel" },
    { what: "retransmits of the current segment", value: info?.retransmits ?? 0, source: "kernel" },
    { what: "unanswered probes (tcpi_probes)", value: info?.probes ?? 0, source: "kernel" },
    { what: "kernel timer", value: info?.timer ?? "off", source: "kernel" },
    { what: "Send-Q (bytes sent, not yet acknowledged)", value: r.kernel!.sendQ, source: "kernel" },
  ];
  if (w !== null) {
    evidence.push({
      what: "retransmitted segments (last 5 s)",
      value: w.retransmissions,
      source: "wire",
    });
    evidence.push({
      what: "unanswered keep-alives (last 5 s)",
      value: w.keepAlivesUnanswered,
      source: "wire",
    });
  } else evidence.push(wireNote(wire, "unanswered retransmissions and keep-alives"));
  return {
    ...base("peer-vanished", r, "warning"),
    summary:
      "The other end has gone silent without closing: the kernel keeps resending and hears nothing back.",
    evidence,
    advice:
      "The peer crashed, lost its network or a middlebox dropped the flow; use keep-alives or an idle timeout so such connections end instead of hanging.",
  };
}

function retransmissions(
  r: SocketRecord,
  delta: number,
  total: number,
  sent: number,
  wire: WireEvidence | null,
): Finding {
  const w = wire?.counts(r.id) ?? null;
  const info = r.kernel!.info;
  const evidence: Evidence[] = [
    { what: "segments retransmitted since the last sample", value: delta, source: "kernel" },
    { what: "segments retransmitted in all (tcpi_total_retrans)", value: total, source: "kernel" },
    { what: "data segments sent since the last sample", value: sent, source: "kernel" },
    { what: "segments thought lost (tcpi_lost)", value: info?.lostPackets ?? 0, source: "kernel" },
  ];
  if (info?.rttMs !== undefined) {
    evidence.push({ what: "smoothed RTT, ms", value: info.rttMs, source: "kernel" });
  }
  if (w !== null) {
    evidence.push({
      what: "retransmitted segments (last 5 s)",
      value: w.retransmissions,
      source: "wire",
    });
  } else evidence.push(wireNote(wire, "retransmitted segments"));
  return {
    ...base("retransmissions", r, "warning"),
    summary:
      `Segments of this connection are being lost and sent again (${delta} since the last look).`,
    evidence,
    advice:
      "Loss on the path slows every transfer; check the link (errors, congestion, a flaky Wi-Fi or VPN) and the fault settings.",
  };
}

function nagleOnWire(r: SocketRecord, wire: WireEvidence | null): Evidence {
  const w = wire?.counts(r.id) ?? null;
  if (w === null) {
    return wireNote(wire, "the second small segment waiting for the ACK of the first");
  }
  return {
    what: "small segments from the peer held until our ACK of its previous one (last 5 s)",
    value: w.nagleWaits === 0
      ? "none seen"
      : `${w.nagleWaits}, each ${w.nagleGapMs} ms after the one before (median)`,
    source: "wire",
  };
}

function nagle(
  r: SocketRecord,
  split: number,
  delayedAcks: number,
  wire: WireEvidence | null,
): Finding {
  return {
    ...base("nagle-delayed-ack", r, "warning"),
    summary:
      `Requests on this connection arrive in two parts about 40 ms apart (${split} since the last look): the client's Nagle algorithm waits for our delayed ACK.`,
    evidence: [
      {
        what: "requests whose last part came 30-250 ms after the first (since the last sample)",
        value: split,
        source: "app",
      },
      {
        what: "delayed ACKs the kernel sent since the last sample (whole system)",
        value: delayedAcks,
        source: "netstat",
      },
      nagleOnWire(r, wire),
    ],
    advice:
      "Have the client write each request in one write (build the whole message first) or set TCP_NODELAY (Deno: conn.setNoDelay(true)).",
  };
}

function udpDrops(r: SocketRecord, delta: number, total: number, rcvbufErrors: number): Finding {
  return {
    ...base("udp-receive-drops", r, "problem"),
    event: true,
    summary:
      `The kernel dropped ${delta} datagrams for this socket because the app did not read them fast enough.`,
    evidence: [
      {
        what: "datagrams dropped since the last sample (SK_MEMINFO_DROPS)",
        value: delta,
        source: "kernel",
      },
      { what: "datagrams dropped in all", value: total, source: "kernel" },
      {
        what: "Udp RcvbufErrors since the last sample (whole system)",
        value: rcvbufErrors,
        source: "netstat",
      },
      { what: "Recv-Q (bytes waiting for the app)", value: r.kernel!.recvQ, source: "kernel" },
    ],
    advice:
      "Read faster (batch with recvmmsg), raise SO_RCVBUF / net.core.rmem_max, or have the sender pace itself: UDP has no flow control.",
  };
}

function acceptOverflow(
  r: SocketRecord,
  overflows: number,
  drops: number,
  wire: WireEvidence | null,
): Finding {
  const k = r.kernel!;
  const evidence: Evidence[] = [
    { what: "connections waiting in the accept queue", value: k.recvQ, source: "kernel" },
    { what: "accept queue limit (backlog)", value: k.sendQ, source: "kernel" },
    {
      what: "ListenOverflows since the last sample (whole system)",
      value: overflows,
      source: "netstat",
    },
    { what: "ListenDrops since the last sample (whole system)", value: drops, source: "netstat" },
  ];
  const syn = wire?.synRetransmits?.(r.local.port);
  if (syn !== undefined) {
    evidence.push({
      what: "SYN retransmissions to this port (last 5 s)",
      value: syn,
      source: "wire",
    });
  } else evidence.push(wireNote(wire, "SYN retransmissions"));
  return {
    ...base("accept-queue-overflow", r, "problem"),
    key: `accept-queue-overflow|${r.endpoint}`,
    event: true,
    summary:
      `Connections arrive faster than "${r.endpoint}" accepts them: its accept queue is full and the kernel turns new ones away.`,
    evidence,
    advice:
      "Accept faster (is accept paused or the loop blocked?), raise the backlog (and net.core.somaxconn), or spread the load over more listeners.",
  };
}

function resetUnread(c: SocketRecord, reason: string, wire: WireEvidence | null): Finding {
  const ours = /unread/.test(reason);
  const w = wire?.counts(c.id) ?? null;
  const evidence: Evidence[] = [
    { what: "close reason", value: reason, source: "app" },
    { what: "bytes received", value: c.bytesIn, source: "app" },
    { what: "bytes sent", value: c.bytesOut, source: "app" },
  ];
  if (c.app !== null) {
    evidence.push({
      what: "bytes read but not consumed at close",
      value: c.app.rxBuffered,
      source: "app",
    });
  }
  if (w !== null && w.rst !== null) {
    evidence.push({
      what: "RST seen on the wire, from",
      value: w.rst === "in" ? "the peer" : "us",
      source: "wire",
    });
    evidence.push({ what: "data bytes before the RST", value: w.bytesBeforeRst, source: "wire" });
  } else evidence.push(wireNote(wire, "the RST segment"));
  return {
    ...base("reset-with-unread-data", c, "warning"),
    event: true,
    summary: ours
      ? "This service closed a connection with data still unread, so the kernel sent a reset (RST) instead of a normal close."
      : "The other end closed with data it had not read, so its kernel answered with a reset (RST) and the rest of our reply was lost.",
    evidence,
    advice:
      "Before closing, shut down the sending side and read until the other end closes (a graceful close); a client that sends and closes at once loses the answer.",
  };
}

function timeWaitPileup(
  endpoint: string,
  count: number,
  limit: number,
  rangeSize: number,
  range: readonly [number, number] | null,
): Finding {
  return {
    kind: "time-wait-pileup",
    key: `time-wait-pileup|${endpoint}`,
    severity: count >= rangeSize / 2 ? "problem" : "warning",
    socket: null,
    endpoint,
    event: false,
    summary:
      `${count} closed connections of "${endpoint}" wait in TIME_WAIT; clients opening new connections this fast run short of local ports.`,
    evidence: [
      {
        what: "TIME_WAIT sockets on this endpoint (ours and peers')",
        value: count,
        source: "kernel",
      },
      { what: "threshold", value: limit, source: "kernel" },
      {
        what: "ephemeral port range (net.ipv4.ip_local_port_range)",
        value: range === null
          ? "unknown (assumed 32768-60999)"
          : `${range[0]}-${range[1]} (${rangeSize} ports)`,
        source: "netstat",
      },
    ],
    advice:
      "Reuse connections (keep-alive, pooling) instead of one per request; let the server, not the client, close first only if clients are few.",
  };
}
