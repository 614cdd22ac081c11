/**
 * The raw lab (seed 004's "Raw Sockets on Linux"): no port. An `AF_PACKET` socket bound to
 * EtherType 0x0801 on the capture interface (lib/wire/capture.ts, opened with `etherType`)
 * receives the seed's hand-built frames; each goes into the packet log whole, decoded
 * (`dst`, `src`, `ethertype`, `payload`), and counts as a message in. Without root or
 * CAP_NET_RAW, off Linux or without FFI the lab is not listening and says why; nothing else
 * depends on it.
 */
import { defineLinkEndpoint } from "../endpoint_spec.ts";
import type { PacketLog, PacketSource } from "../../capture/packet_log.ts";
import type { EndpointStats } from "../registry.ts";
import {
  type CapturedFrame,
  openWireCapture,
  type WireCapture,
  type WireCaptureOptions,
} from "../../wire/capture.ts";
import { decodeEthernet, formatEtherType, SEED_ETHERTYPE } from "../../wire/ethernet.ts";

/** Options for {@linkcode RawLab}. */
export interface RawLabOptions {
  /** Interface to receive on; "" for every interface. @default "lo" */
  interface?: string;
  /** EtherType received. @default 0x0801 */
  etherType?: number;
  /** Opens the capture (tests inject one that fails). @default openWireCapture */
  open?: typeof openWireCapture;
}

/** Bytes kept of each frame: a whole standard frame, so the payload is decoded entire. */
const RAW_SNAPLEN = 1514;

/** Receives frames of one EtherType and logs them; {@linkcode RawLab.start} opens the socket. */
export class RawLab {
  readonly stats: EndpointStats;
  /** The packet-log source every frame is recorded under. */
  readonly source: PacketSource;
  #log: PacketLog;
  #options: Required<Omit<RawLabOptions, "open">>;
  #open: typeof openWireCapture;
  #capture: WireCapture | null = null;
  #running: Promise<void> | null = null;

  constructor(stats: EndpointStats, log: PacketLog, options: RawLabOptions = {}) {
    this.stats = stats;
    this.#log = log;
    this.#options = {
      interface: options.interface ?? "lo",
      etherType: options.etherType ?? SEED_ETHERTYPE,
    };
    this.#open = options.open ?? openWireCapture;
    this.source = {
      id: `raw-${this.#options.interface || "any"}`,
      endpoint: stats.name,
      linkLayer: true,
    };
    stats.link = {
      interface: this.#options.interface,
      etherType: formatEtherType(this.#options.etherType),
    };
  }

  /**
   * Opens the socket and starts receiving; true when it listens. Without the permission it
   * sets the endpoint's `reason` and answers false. Throws only on bad options.
   */
  start(): boolean {
    const options: WireCaptureOptions = {
      interface: this.#options.interface,
      etherType: this.#options.etherType,
      snaplen: RAW_SNAPLEN,
      // A lab's trickle of frames: a small ring, handed over promptly.
      blockBytes: 64 * 1024,
      ringBytes: 256 * 1024,
      flushMs: 4,
    };
    const opened = this.#open(options);
    if (!opened.available) {
      this.stats.reason = opened.reason;
      this.stats.listening = false;
      return false;
    }
    this.#capture = opened.capture;
    this.stats.listening = true;
    this.stats.reason = null;
    this.#running = opened.capture.run((frame) => this.#frame(frame)).catch((error) => {
      this.stats.listening = false;
      this.stats.reason = `receiving stopped: ${(error as Error).message}`;
    });
    return true;
  }

  #frame(frame: CapturedFrame): void {
    // The frame is valid only during the call: copy it out of the ring.
    const bytes = frame.bytes.slice(frame.offset, frame.offset + frame.capturedLength);
    const seq = this.#log.record(this.source, "in", bytes, frame.ts);
    const note = decodeEthernet(bytes);
    if (note !== null) this.#log.annotate(seq, note);
    this.stats.messagesIn++;
    this.stats.bytesIn += frame.wireLength;
  }

  /** Frames received so far. */
  get frames(): number {
    return this.stats.messagesIn;
  }

  /** Stops receiving and closes the socket (within the capture's 250 ms poll wake). */
  async close(): Promise<void> {
    const capture = this.#capture;
    this.#capture = null;
    this.stats.listening = false;
    await capture?.close();
    await this.#running;
  }
}

/** The raw lab endpoint. */
export const raw = defineLinkEndpoint({
  name: "raw",
  transport: "link",
  etherType: SEED_ETHERTYPE,
  description: "Receives hand-built Ethernet frames of EtherType 0x0801 (root or CAP_NET_RAW)",
  tryIt: [
    "deno task client raw-frame --iface {iface}",
    'deno task client raw-frame --iface {iface} --payload "Hello, link layer" --count 3',
    "curl 'http://{dashboard}/api/packets?endpoint=raw&limit=5'",
  ],
  lab: {
    group: "link",
    seed: "seed 004 (Raw Sockets on Linux)",
    lesson: "A link-layer frame is what a network card puts on the wire: destination and " +
      "source MAC addresses, a two-byte EtherType saying which protocol the payload is, then " +
      "the payload; no ports, no connection. An AF_PACKET socket sends and receives such " +
      "frames whole, bypassing IP and TCP, so it can forge anything: the kernel allows it " +
      'only to root or a process with CAP_NET_RAW. The seed\'s four trailing "checksum" ' +
      "bytes are not the frame check sequence: the NIC computes the real FCS (a CRC-32) as it " +
      "transmits and strips it as it receives, and loopback has none, so here they arrive " +
      "as four more payload bytes.",
  },
});
