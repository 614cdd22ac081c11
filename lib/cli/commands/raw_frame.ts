/** `deno task client raw-frame`: send seed 004's hand-built Ethernet frame. @module */
import {
  rawFrame,
  type RawFrameOptions,
  type RawFrameResult,
  resolveRawFrameOptions,
} from "../../client/raw_frame.ts";
import { formatEtherType, parseEtherType } from "../../wire/ethernet.ts";
import { defineCommand, noPositionals } from "../command.ts";

/** The client's defaults, as the library resolves them: the help shows them, declared there once. */
const DEFAULTS = resolveRawFrameOptions();

/** What the option table parses into: the library's options, the EtherType still text. */
interface RawFrameValues extends Omit<RawFrameOptions, "etherType" | "trailer"> {
  etherType?: string;
  trailer?: Uint8Array;
  noTrailer?: boolean;
}

const macCheck = (v: string) =>
  /^([0-9a-fA-F]{1,2}[:-]){5}[0-9a-fA-F]{1,2}$/.test(v) ? undefined : `"${v}" is not a MAC`;

/** The raw-frame command. */
export const rawFrameCommand = defineCommand<RawFrameValues>({
  name: "raw-frame",
  summary: "Send seed 004's hand-built Ethernet frame through an AF_PACKET socket (root)",
  usage: "raw-frame [options]",
  about: "Send seed 004's Ethernet frame (destination, source, EtherType, payload, and the four " +
    "bytes the seed calls a checksum) through an AF_PACKET socket, as the seed's \"Raw Sockets " +
    "on Linux\" does. Needs root or CAP_NET_RAW. The service's raw lab logs what arrives; the " +
    "NIC adds the real frame check sequence (lo has none), so the four bytes are just payload.",
  options: [
    {
      type: "string",
      name: "iface",
      arg: "<name>",
      to: "iface",
      default: DEFAULTS.iface,
      help: "Interface the frame leaves by",
    },
    {
      type: "string",
      name: "dst",
      arg: "<mac>",
      to: "dst",
      default: DEFAULTS.dst,
      check: macCheck,
      help: "Destination address",
    },
    {
      type: "string",
      name: "src",
      arg: "<mac>",
      to: "src",
      default: DEFAULTS.src,
      check: macCheck,
      help: "Source address",
    },
    {
      type: "string",
      name: "ethertype",
      arg: "<hex>",
      to: "etherType",
      default: formatEtherType(DEFAULTS.etherType),
      check: (v) => {
        try {
          parseEtherType(v);
          return undefined;
        } catch (error) {
          return (error as Error).message;
        }
      },
      help: "EtherType, hex (0x0600-0xffff)",
    },
    {
      type: "string",
      name: "payload",
      arg: "<text>",
      to: "payload",
      help: `Payload text (default "[" x30 + "PAYLOAD" + "]" x30)`,
    },
    {
      type: "bytes",
      name: "trailer",
      arg: "<bytes>",
      to: "trailer",
      maxLength: 64,
      help: `Bytes after the payload, the seed's "checksum" (default ${
        DEFAULTS.trailer.map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")
      })`,
    },
    {
      type: "boolean",
      name: "no-trailer",
      to: "noTrailer",
      help: "Send no bytes after the payload",
    },
    {
      type: "int",
      name: "count",
      arg: "<n>",
      to: "count",
      min: 1,
      max: 100_000,
      help: `Frames to send (default ${DEFAULTS.count})`,
    },
  ],
  prepare(values, positionals) {
    noPositionals(positionals);
    const { noTrailer, etherType, trailer, ...rest } = values;
    const options = resolveRawFrameOptions({
      ...rest,
      etherType: etherType === undefined ? undefined : parseEtherType(etherType),
      trailer: noTrailer ? [] : trailer === undefined ? undefined : [...trailer],
    });
    return async () => {
      const result = await rawFrame(options);
      return { ok: result.ok, error: result.error, json: result, text: formatRawFrame(result) };
    };
  },
});

function formatRawFrame(r: RawFrameResult): string {
  return `sent ${r.sent} frame${r.sent === 1 ? "" : "s"} of ${r.frameBytes} bytes on ${r.iface}: ` +
    `${r.src} -> ${r.dst} type ${r.ethertype}\n${r.hex}\n`;
}
