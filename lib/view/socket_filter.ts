/**
 * The one socket filter: `/api/sockets` and the sockets page (its server
 * render, the island and its worker) narrow a list of sockets with it, so a
 * filter means the same rows wherever it is applied. Pure: no DOM, no Deno.
 */
import { fmtAddr } from "./format.ts";
import type { SocketRecord } from "./api_types.ts";

/** What a list of sockets is narrowed to; every field left out matches all. */
export interface SocketFilter {
  /** Only this endpoint's sockets. @default all endpoints */
  endpoint?: string;
  /** Only sockets in one of these states, matched case-insensitively. @default all states */
  states?: readonly string[];
  /**
   * Only sockets whose id (case-insensitively), local or remote address (as `ss`
   * prints it) or owning process (`nc`, `pid 12345`, `nc 12345`, as the Owner column
   * names it) contains this text, trimmed; empty matches all. @default ""
   */
  text?: string;
}

/** A test for one socket, with the filter's text and states normalised once. */
export function socketMatcher(filter: SocketFilter): (s: SocketRecord) => boolean {
  const { endpoint } = filter;
  const states = filter.states?.map((s) => s.toUpperCase());
  const text = (filter.text ?? "").trim().toLowerCase();
  return function matches(s) {
    return (endpoint === undefined || s.endpoint === endpoint) &&
      (states === undefined || states.includes(s.state.toUpperCase())) &&
      (text === "" || s.id.toLowerCase().includes(text) || fmtAddr(s.local).includes(text) ||
        fmtAddr(s.remote).includes(text) || ownedBy(s, text));
  };
}

// The owner as the table names it (`nc (pid 12345)`) and as `ss -p` lists it (`nc 12345`).
function ownedBy(s: SocketRecord, text: string): boolean {
  const p = s.process;
  if (p === undefined) return false;
  const command = p.command.toLowerCase();
  return `${command} (pid ${p.pid})`.includes(text) || `${command} ${p.pid}`.includes(text);
}

/** The sockets a filter keeps, in their order (the list itself when the filter is empty). */
export function filterSockets(
  sockets: readonly SocketRecord[],
  filter: SocketFilter,
): readonly SocketRecord[] {
  if (filter.endpoint === undefined && filter.states === undefined && !filter.text?.trim()) {
    return sockets;
  }
  return sockets.filter(socketMatcher(filter));
}
