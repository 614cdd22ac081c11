/**
 * A uPlot time-series chart for the islands. The server renders an empty
 * box of the right height; the browser draws into it and updates it in
 * place with `setData`, so a new sample costs no re-layout.
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { fmtBytes, fmtInt } from "../lib/view/format.ts";

/** The colours every view uses: in (read by the process) red, out (written) blue, as Wireshark's follow-stream. */
export const COLORS = {
  in: "#c0362c",
  out: "#2458c6",
  recvQ: "#c0362c",
  sendQ: "#7a3fc2",
  appRx: "#e08a1e",
  appTx: "#178a7a",
} as const;

/** One line of a chart. */
export interface ChartSeries {
  label: string;
  /** A CSS colour. */
  color: string;
  /** Draw as steps (queues, counters) rather than a straight line between samples. */
  stepped?: boolean;
  /** Fill under the line. */
  fill?: boolean;
  dash?: number[];
}

/** Props of {@linkcode Chart}. */
export interface ChartProps {
  series: ChartSeries[];
  /** `[times in seconds, ...one array per series]`, as uPlot takes it. */
  data: (number | null)[][];
  height: number;
  /** How values print on the axis and legend. @default "bytes" */
  unit?: "bytes" | "rate" | "count";
  /** A sparkline: no axes, no legend. */
  compact?: boolean;
  /** Seconds of history the x axis spans (the newest sample at the right edge). */
  window?: number;
  label?: string;
}

function fmtValue(unit: ChartProps["unit"], v: number | null): string {
  if (v === null || v === undefined) return "—";
  if (unit === "count") return fmtInt(v);
  return unit === "rate" ? `${fmtBytes(v)}/s` : fmtBytes(v);
}

// Without the pointer over the chart, the legend shows the newest values.
function showNewest(u: uPlot, props: ChartProps): void {
  const n = props.data[0]?.length ?? 0;
  if (!props.compact && n > 0 && (u.cursor.left ?? -1) < 0) u.setLegend({ idx: n - 1 });
}

/** A live chart; an empty box until the browser draws it. */
export function Chart(props: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const shape = `${props.series.map((s) => s.label).join("|")}|${props.compact}|${props.unit}`;

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const { series, unit = "bytes", compact, height } = latest.current;
    const axisFont = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
    // The x axis spans the data until there is a full window of it, then scrolls.
    const xRange = (_u: uPlot, min: number, max: number): uPlot.Range.MinMax => {
      const w = latest.current.window;
      // No sample yet: the axis shows the last window up to now, not 1970.
      if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) {
        const now = Date.now() / 1000;
        return [now - (w ?? 60), now];
      }
      if (min === max) return [min - 1, max + 1];
      return w === undefined || max - min < w ? [min, max] : [max - w, max];
    };
    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 100),
      height,
      padding: compact ? [4, 2, 2, 2] : [8, 8, 0, 0],
      legend: { show: !compact, live: true },
      hooks: { ready: [(u) => showNewest(u, latest.current)] },
      cursor: compact ? { show: false } : { points: { size: 5 } },
      scales: {
        x: { time: true, range: xRange },
        // A flat zero still gets a readable axis: 1 KiB of bytes, 10 of counts.
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : unit === "count" ? 10 : 1024] },
      },
      axes: compact ? [{ show: false }, { show: false }] : [
        {
          font: axisFont,
          stroke: "#6b7280",
          grid: { stroke: "#eceff3", width: 1 },
          ticks: { stroke: "#d4d9e1", width: 1 },
        },
        {
          font: axisFont,
          stroke: "#6b7280",
          size: 70,
          grid: { stroke: "#eceff3", width: 1 },
          ticks: { stroke: "#d4d9e1", width: 1 },
          values: (_u, vals) => vals.map((v) => fmtValue(unit, v)),
        },
      ],
      series: [
        {},
        ...series.map((s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: compact ? 1.25 : 1.5,
          fill: s.fill ? `${s.color}22` : undefined,
          dash: s.dash,
          paths: s.stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined,
          points: { show: false },
          value: (_u, v) => fmtValue(unit, v),
        })),
      ],
    };
    const u = new uPlot(opts, latest.current.data as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 100);
      if (w !== u.width) u.setSize({ width: w, height: u.height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [shape, props.height]);

  useEffect(() => {
    const u = plot.current;
    if (u === null) return;
    u.setData(props.data as uPlot.AlignedData);
    showNewest(u, props);
  }, [props.data]);

  return (
    <div
      class={props.compact ? "chart chart-compact" : "chart"}
      ref={box}
      style={{ minHeight: `${props.height + (props.compact ? 0 : 28)}px` }}
      role="img"
      aria-label={props.label ?? props.series.map((s) => s.label).join(", ")}
    />
  );
}

/** A rolling window of samples for a chart: times in seconds plus one column per series. */
export class Samples {
  readonly columns: (number | null)[][];
  #max: number;

  constructor(seriesCount: number, max = 300) {
    this.columns = Array.from({ length: seriesCount + 1 }, () => []);
    this.#max = max;
  }

  /** Appends one sample taken at `ts` (epoch ms); returns fresh arrays for uPlot. */
  push(ts: number, values: (number | null)[]): (number | null)[][] {
    this.columns[0].push(ts / 1000);
    values.forEach((v, i) => this.columns[i + 1].push(v));
    if (this.columns[0].length > this.#max) { for (const c of this.columns) c.shift(); }
    return this.columns.map((c) => c.slice());
  }
}
