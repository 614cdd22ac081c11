/**
 * The fault switch of one endpoint (TCP or UDP) as its overview card shows it: the
 * mode in force as a badge, and a compact form that sets or clears it
 * through `POST /api/endpoints/:name/fault`. The API checks the bounds; its
 * error comes back inline, word for word.
 */
import { useEffect, useState } from "preact/hooks";
import {
  DIRECTED_MODES,
  type Fault,
  FAULT_DIRECTIONS,
  FAULT_PARAMS,
  type FaultMode,
  type FaultParam,
  UDP_FAULT_PARAMS,
} from "../lib/view/fault.ts";
import { fmtInt } from "../lib/view/format.ts";
import { postJson } from "./_hooks.ts";

type ParamTable = Readonly<Record<string, Readonly<Record<string, FaultParam>>>>;

/** The modes and their parameters on each transport. */
const TABLES: Record<"tcp" | "udp", ParamTable> = { tcp: FAULT_PARAMS, udp: UDP_FAULT_PARAMS };

/** What the select shows for each mode. */
const MODE_LABELS: Partial<Record<FaultMode, string>> = { none: "no fault" };

/** What a client of the endpoint sees under each mode, in a few words. */
const HINTS: Record<FaultMode, string> = {
  none: "replies go out as they come; pick a mode to inject a fault",
  delay: "every reply held this long",
  drip: "replies cut into pieces, spaced out",
  "half-close": "FIN after this many bytes; the server keeps reading",
  "close-unread": "reads 1 byte of the next data, then closes: the kernel sends RST",
  stall: "stops reading: Recv-Q fills, then the client's Send-Q",
  "pause-accept": "stops accepting: connects wait in the accept queue (the LISTEN row)",
  bandwidth: "at most this many bytes per second (token bucket)",
  slice: "each write cut into random pieces of min..max bytes",
  reset: "RST without FIN at the next write: the client's read fails with ECONNRESET",
  loss: "this share of replies dropped",
  duplicate: "this share of replies sent twice",
  reorder: "up to this many replies held, then sent shuffled",
};

/** Starting values of the parameters, chosen so the effect is easy to see with nc. */
const START: Record<string, number> = {
  "delay.ms": 200,
  "drip.bytes": 1,
  "drip.interval": 100,
  "half-close.bytes": 5,
  "bandwidth.bytesPerSecond": 1000,
  "slice.minBytes": 1,
  "slice.maxBytes": 8,
  "loss.percent": 50,
  "duplicate.percent": 100,
  "reorder.window": 4,
};

const UNITS: Record<string, string> = {
  ms: "ms",
  jitter: "± ms",
  bytes: "B",
  interval: "ms",
  bytesPerSecond: "B/s",
  minBytes: "B min",
  maxBytes: "B max",
  percent: "%",
  window: "replies",
};

/** The fault in a few words for a badge: `delay 200 ms`, `accept paused`. */
export function faultLabel(fault: Fault): string {
  switch (fault.mode) {
    case "none":
      return "none";
    case "delay":
      return `delay ${fmtInt(fault.ms)}${fault.jitter ? ` ± ${fmtInt(fault.jitter)}` : ""} ms`;
    case "drip":
      return `drip ${fmtInt(fault.bytes)} B / ${fmtInt(fault.interval)} ms`;
    case "half-close":
      return `half-close after ${fmtInt(fault.bytes)} B`;
    case "close-unread":
      return "close unread (RST)";
    case "stall":
      return "stall (not reading)";
    case "pause-accept":
      return "accept paused";
    case "bandwidth":
      return `bandwidth ${fmtInt(fault.bytesPerSecond)} B/s`;
    case "slice":
      return `slice ${fmtInt(fault.minBytes)}–${fmtInt(fault.maxBytes)} B`;
    case "reset":
      return "reset (RST)";
    case "loss":
      return `loss ${fault.percent}%`;
    case "duplicate":
      return `duplicate ${fault.percent}%`;
    case "reorder":
      return `reorder ×${fmtInt(fault.window)}`;
    default: {
      const unreachable: never = fault;
      return String((unreachable as { mode: unknown }).mode);
    }
  }
}

/** The badge of the fault in force; nothing when there is none. */
export function FaultBadge({ fault }: { fault: Fault | null | undefined }) {
  if (!fault || fault.mode === "none") return null;
  return (
    <span class="pill fault" data-fault-badge={fault.mode} title="Fault in force on this endpoint">
      fault: {faultLabel(fault)}
    </span>
  );
}

function valuesOf(fault: Fault, table: ParamTable): Record<string, string> {
  const out: Record<string, string> = { probability: "1", direction: "" };
  for (const [key, v] of Object.entries(START)) out[key] = String(v);
  if (fault.mode === "none") return out;
  const given = fault as unknown as Record<string, number | string | undefined>;
  for (const name of Object.keys(table[fault.mode] ?? {})) {
    if (given[name] !== undefined) out[`${fault.mode}.${name}`] = String(given[name]);
  }
  if (given.probability !== undefined) out.probability = String(given.probability);
  if (given.direction !== undefined) out.direction = String(given.direction);
  return out;
}

/** Props of {@linkcode FaultControl}. */
export interface FaultControlProps {
  endpoint: string;
  /** Which modes the endpoint takes. @default "tcp" */
  transport?: "tcp" | "udp";
  /** The fault in force, as `/api/endpoints` reports it. */
  fault: Fault;
  /** Times each mode acted on this endpoint. */
  acted: Record<string, number>;
  /** Called with the fault the API confirmed, before the next event brings it. */
  onApplied: (fault: Fault) => void;
}

/** Mode, its parameters with their bounds, apply and clear. Needs JavaScript. */
export function FaultControl(
  { endpoint, transport = "tcp", fault, acted, onApplied }: FaultControlProps,
) {
  const table = TABLES[transport];
  // "none" first: with no fault in force the form says so, rather than offering a fault's values.
  const modes = Object.keys(table) as FaultMode[];
  const active = fault.mode !== "none";
  const [mode, setMode] = useState<FaultMode>(fault.mode);
  const [values, setValues] = useState(() => valuesOf(fault, table));
  const [dirty, setDirty] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const key = JSON.stringify(fault);

  // A fault switched elsewhere (curl, another tab) shows up in the form unless the user is editing.
  useEffect(() => {
    if (dirty) return;
    setMode(fault.mode);
    setValues(valuesOf(fault, table));
  }, [key]);

  const send = async (body: Record<string, unknown>) => {
    setBusy(true);
    try {
      const res = await postJson(`/api/endpoints/${encodeURIComponent(endpoint)}/fault`, body);
      setError("");
      setDirty(false);
      onApplied(res.fault as Fault);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const apply = (e: Event) => {
    e.preventDefault();
    const body: Record<string, unknown> = { mode };
    for (const [name, [, , optional]] of Object.entries(table[mode] ?? {})) {
      const raw = values[`${mode}.${name}`]?.trim() ?? "";
      if (raw === "" && optional) continue;
      // Whatever was typed goes to the API as a number, so its message names the problem.
      body[name] = raw === "" ? null : Number(raw);
    }
    if (shared) {
      const p = values.probability?.trim() ?? "";
      if (p !== "" && p !== "1") body.probability = Number(p);
      if (directed && values.direction) body.direction = values.direction;
    }
    send(body);
  };

  const params = Object.entries(table[mode] ?? {});
  // Probability and direction: TCP modes only; direction where the mode has one to choose.
  const shared = transport === "tcp" && mode !== "none";
  const directed = shared && DIRECTED_MODES.includes(mode);
  const edit = (key: string, v: string) => {
    setValues((old) => ({ ...old, [key]: v }));
    setDirty(true);
  };
  const used = acted[fault.mode] ?? 0;
  return (
    <div class="fault-box js-only" data-fault-control={endpoint}>
      <form class="fault-ctl" onSubmit={apply} noValidate>
        <span class="muted">fault</span>
        <select
          aria-label={`Fault mode for ${endpoint}`}
          value={mode}
          onChange={(e) => {
            setMode(e.currentTarget.value as FaultMode);
            setDirty(true);
            setError("");
          }}
        >
          {modes.map((m) => <option key={m} value={m}>{MODE_LABELS[m] ?? m}</option>)}
        </select>
        {params.map(([name, [min, max, optional]]) => (
          <label
            key={`${mode}.${name}`}
            title={`${name}: an integer in ${min}..${max}${optional ? ", optional" : ""}`}
          >
            {name === "interval" && <span class="muted">every</span>}
            <input
              type="number"
              min={min}
              max={max}
              step={1}
              aria-label={`${name} (${min}..${max})`}
              value={values[`${mode}.${name}`] ?? ""}
              onInput={(e) => edit(`${mode}.${name}`, e.currentTarget.value)}
            />
            <span class="muted">{UNITS[name] ?? name}</span>
          </label>
        ))}
        {directed && (
          <select
            aria-label={`Direction of the ${mode} fault`}
            title="Which way it acts: reads the endpoint does (in), writes it makes (out), or both"
            value={values.direction ?? ""}
            onChange={(e) => edit("direction", e.currentTarget.value)}
          >
            <option value="">out (default)</option>
            {FAULT_DIRECTIONS.map((d) => <option key={d} value={d}>{d}</option>)}
          </select>
        )}
        {shared && (
          <label title="Share of connections the fault applies to, drawn per connection at accept">
            <span class="muted">p</span>
            <input
              type="number"
              min={0}
              max={1}
              step={0.05}
              aria-label="probability (0..1)"
              value={values.probability ?? "1"}
              onInput={(e) => edit("probability", e.currentTarget.value)}
            />
          </label>
        )}
        <button
          type="submit"
          class="btn btn-small"
          disabled={busy || (mode === "none" && !active)}
        >
          apply
        </button>
        <button
          type="button"
          class="btn btn-small"
          disabled={busy || !active}
          onClick={() => send({ mode: "none" })}
          title="Back to normal for open and new connections"
        >
          clear
        </button>
        {active && used > 0 && (
          <span class="muted small" title={`Times the ${fault.mode} fault acted`}>
            acted {fmtInt(used)}×
          </span>
        )}
        {(acted["reset-unavailable"] ?? 0) > 0 && (
          <span
            class="c-bad small"
            title="Resets that closed normally (FIN): no FFI, not Linux, or the socket not found"
          >
            reset unavailable {fmtInt(acted["reset-unavailable"])}×
          </span>
        )}
      </form>
      <div class="fault-hint muted small" data-fault-hint={mode}>
        {MODE_LABELS[mode] ?? mode}: {HINTS[mode]}
        <span class="mono">
          {params.map(([name, [min, max, optional]]) =>
            ` · ${name} ${fmtInt(min)}–${fmtInt(max)}${optional ? " (optional)" : ""}`
          ).join("")}
        </span>
      </div>
      {error && <div class="c-bad small" role="alert">{error}</div>}
    </div>
  );
}
