/**
 * Number formats the CLI's reports share.
 *
 * @module
 */
import type { LatencySummary } from "../client/types.ts";

/** `p50 … p90 … p99 … max …` in milliseconds. */
export function percentiles(s: LatencySummary): string {
  return `p50 ${ms(s.p50)}  p90 ${ms(s.p90)}  p99 ${ms(s.p99)}  max ${ms(s.max)}`;
}

/** `min/avg/max/mdev` in milliseconds, as ping prints them. */
export function pingStats(s: LatencySummary): string {
  return [s.min, s.avg, s.max, s.mdev].map(ms).join("/");
}

/** Milliseconds to the microsecond. */
export function ms(value: number): string {
  return value.toFixed(3);
}

/** Bytes in B, KiB or MiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
