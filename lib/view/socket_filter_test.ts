import assert from "node:assert/strict";
import { filterSockets, socketMatcher } from "./socket_filter.ts";
import { parseView, viewFilter, viewRows } from "./sockets_table.ts";
import type { SocketRecord } from "./api_types.ts";
import { socketRecord as socket } from "./_socket_test_util.ts";

const SOCKETS = [
  socket("echo-1"),
  socket("echo-L", { kind: "listener", state: "LISTEN", remote: null }),
  socket("sink-2", { endpoint: "sink", local: { hostname: "::1", port: 9 } }),
  socket("udp-3", { endpoint: "udp", transport: "udp", kind: "udp", state: "UNCONN" }),
];

function ids(list: readonly SocketRecord[]): string[] {
  return list.map((s) => s.id);
}

Deno.test("filterSockets() keeps an endpoint's sockets, states matched case-insensitively", () => {
  assert.deepEqual(ids(filterSockets(SOCKETS, { endpoint: "echo" })), ["echo-1", "echo-L"]);
  assert.deepEqual(ids(filterSockets(SOCKETS, { states: ["listen", "Unconn"] })), [
    "echo-L",
    "udp-3",
  ]);
  assert.deepEqual(ids(filterSockets(SOCKETS, { endpoint: "echo", states: ["UNCONN"] })), []);
});

Deno.test("filterSockets() finds text in the id or either address, as ss prints it", () => {
  assert.deepEqual(ids(filterSockets(SOCKETS, { text: " ECHO-1 " })), ["echo-1"]);
  assert.deepEqual(ids(filterSockets(SOCKETS, { text: "[::1]:9" })), ["sink-2"]);
  assert.deepEqual(ids(filterSockets(SOCKETS, { text: ":40000" })), ["echo-1", "sink-2", "udp-3"]);
});

Deno.test("filterSockets() returns the list itself when the filter is empty", () => {
  assert.equal(filterSockets(SOCKETS, {}), SOCKETS);
  assert.equal(filterSockets(SOCKETS, { text: "  " }), SOCKETS);
});

Deno.test("viewRows() keeps what socketMatcher() keeps for the page's filter", () => {
  const url = new URL("http://x/sockets?endpoint=echo&state=listen&sort=id");
  const view = parseView(url);
  assert.deepEqual(viewFilter(view), { endpoint: "echo", states: ["LISTEN"], text: "" });
  const rows = viewRows(SOCKETS, view, 0);
  assert.deepEqual(ids(rows), ids(SOCKETS.filter(socketMatcher(viewFilter(view)))));
  assert.deepEqual(ids(rows), ["echo-L"]);
});
