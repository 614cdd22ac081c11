/** A socket row for lib/view and lib/live unit tests. Private to tests. */
import type { SocketRecord } from "./api_types.ts";

/** An open, established echo connection named `id`, with `fields` over it. */
export function socketRecord(id: string, fields: Partial<SocketRecord> = {}): SocketRecord {
  return {
    id,
    endpoint: "echo",
    transport: "tcp",
    kind: "conn",
    ours: true,
    kernelOnly: false,
    state: "ESTABLISHED",
    local: { hostname: "127.0.0.1", port: 7 },
    remote: { hostname: "127.0.0.1", port: 40000 },
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
    app: null,
    kernel: null,
    openedAt: 1,
    closedAt: null,
    closeReason: null,
    lastActivity: null,
    ...fields,
  };
}
