import assert from "node:assert/strict";
import {
  COLUMNS,
  ownerOf,
  parseView,
  retransOf,
  RowTracker,
  type TableView,
  toggleColumn,
  viewColumns,
  viewQuery,
  viewRows,
} from "./sockets_table.ts";
import type { KernelSocketInfo, SocketRecord } from "./api_types.ts";
import { socketRecord } from "./_socket_test_util.ts";

function socket(id: string, fields: Partial<SocketRecord> = {}): SocketRecord {
  return socketRecord(id, { role: "server", ...fields });
}

function withInfo(id: string, info: KernelSocketInfo | undefined): SocketRecord {
  return socket(id, { kernel: { state: "ESTABLISHED", recvQ: 0, sendQ: 0, info } });
}

function view(query: string): TableView {
  return parseView(new URL(`http://x/sockets${query}`));
}

const NC = socket("p-tcp-127.0.0.1:40000-127.0.0.1:7", {
  kind: "peer",
  ours: false,
  kernelOnly: false,
  role: undefined,
  local: { hostname: "127.0.0.1", port: 40000 },
  remote: { hostname: "127.0.0.1", port: 7 },
  process: { pid: 12345, command: "nc" },
});

Deno.test("parseView() shows no optional column unless ?cols= names it", () => {
  assert.deepEqual(view("").cols, []);
  assert.deepEqual(viewColumns(view("")).map((c) => c.key), [
    "id",
    "endpoint",
    "state",
    "local",
    "remote",
    "recvQ",
    "sendQ",
    "rx",
    "tx",
    "bytesIn",
    "bytesOut",
    "age",
    "owner",
  ]);
  assert.deepEqual(view("?cols=rtt,retrans,cwnd").cols, ["rtt", "retrans", "cwnd"]);
});

Deno.test("parseView() takes ?cols= in any order and case, as a list or repeated, once each", () => {
  assert.deepEqual(view("?cols=CWND,bogus,rtt,rtt").cols, ["rtt", "cwnd"]);
  // What the page's form sends without script: one parameter per checked box.
  assert.deepEqual(view("?cols=cwnd&cols=retrans").cols, ["retrans", "cwnd"]);
  assert.deepEqual(view("?cols=").cols, []);
});

Deno.test("viewColumns() puts the optional columns between Age and Owner, in one order", () => {
  const keys = viewColumns(view("?cols=cwnd,rtt")).map((c) => c.key);
  assert.deepEqual(keys.slice(-4), ["age", "rtt", "cwnd", "owner"]);
  const all = viewColumns(view("?cols=rtt,retrans,cwnd"));
  assert.equal(all.length, COLUMNS.length);
  assert.ok(all.filter((c) => c.optional).every((c) => c.num), "numbers, sorted largest first");
});

Deno.test("viewQuery() writes ?cols= as a link a user can read, and parseView() reads it back", () => {
  const v = view("?cols=cwnd,rtt,retrans&sort=rtt&dir=desc");
  assert.equal(viewQuery(v), "?sort=rtt&dir=desc&cols=rtt,retrans,cwnd");
  assert.deepEqual(view(viewQuery(v)), v);
  assert.equal(viewQuery(view("")), "");
});

Deno.test("a sort by an optional column holds only while the column is shown", () => {
  assert.equal(view("?sort=rtt").sort, "endpoint");
  assert.equal(view("?sort=rtt&cols=rtt").sort, "rtt");
  const sorted = view("?sort=cwnd&dir=desc&cols=rtt,cwnd");
  const hidden = toggleColumn(sorted, "cwnd", false);
  assert.deepEqual([hidden.cols, hidden.sort, hidden.desc], [["rtt"], "endpoint", false]);
  // Hiding another column keeps the sort; showing one keeps the canonical order.
  const other = toggleColumn(sorted, "rtt", false);
  assert.deepEqual([other.cols, other.sort, other.desc], [["cwnd"], "cwnd", true]);
  assert.deepEqual(toggleColumn(other, "retrans", true).cols, ["retrans", "cwnd"]);
});

Deno.test("viewRows() sorts by RTT, retransmits and cwnd; rows without tcp_info come last", () => {
  const rows = [
    withInfo("a", { rttMs: 0.5, totalRetrans: 0, retransmits: 0, cwnd: 10 }),
    withInfo("b", { rttMs: 12, totalRetrans: 7, retransmits: 1, cwnd: 4 }),
    withInfo("c", undefined),
    // /proc/net/tcp's fallback knows only the current run of timeouts.
    withInfo("d", { retransmits: 2 }),
    withInfo("e", { rttMs: 0.05, totalRetrans: 1, retransmits: 0, cwnd: 30 }),
  ];
  const order = (q: string) => viewRows(rows, view(q), 0).map((s) => s.id);
  assert.deepEqual(order("?cols=rtt&sort=rtt&dir=desc"), ["b", "a", "e", "c", "d"]);
  assert.deepEqual(order("?cols=rtt&sort=rtt"), ["c", "d", "e", "a", "b"]);
  assert.deepEqual(order("?cols=retrans&sort=retrans&dir=desc"), ["b", "d", "e", "a", "c"]);
  assert.deepEqual(order("?cols=cwnd&sort=cwnd&dir=desc"), ["e", "a", "b", "c", "d"]);
  assert.equal(retransOf(rows[1]), 7);
  assert.equal(retransOf(rows[3]), 2);
  assert.equal(retransOf(rows[2]), undefined);
});

Deno.test("ownerOf() keeps the role and adds the process where the kernel view found it", () => {
  assert.equal(ownerOf(NC), "peer · nc (pid 12345)");
  assert.equal(ownerOf(socket("echo-1")), "server");
  assert.equal(
    ownerOf(socket("echo-L", { kind: "listener", role: undefined, state: "LISTEN" })),
    "listener",
  );
});

Deno.test("the text box finds a socket by its owner's name or pid", () => {
  const rows = [socket("echo-1"), NC];
  const found = (q: string) => viewRows(rows, view(`?q=${encodeURIComponent(q)}`), 0);
  for (const q of ["nc", "NC", "12345", "pid 12345", "nc 12345", "nc (pid 12345)"]) {
    assert.deepEqual(found(q).map((s) => s.id), [NC.id], q);
  }
  assert.deepEqual(found("nc 1234 ").map((s) => s.id), [NC.id], "a prefix of the pid");
  assert.deepEqual(found("bash"), []);
});

Deno.test("RowTracker renders tcp_info and owner changes again without highlighting them", () => {
  const tracker = new RowTracker();
  const at = (rtt: number, bytesIn: number, process?: SocketRecord["process"]) => [
    { ...withInfo("a", { rttMs: rtt, cwnd: 10 }), bytesIn, process },
  ];
  tracker.update(at(1, 0), 10_000);
  const first = tracker.flags("a", 10_000);
  assert.equal(first.flash, "");
  // RTT moves on every ACK: a new version (the row shows it), no highlight.
  tracker.update(at(2, 0), 20_000);
  const second = tracker.flags("a", 20_000);
  assert.ok(second.version > first.version);
  assert.equal(second.flash, "");
  tracker.update(at(2, 0, { pid: 1, command: "nc" }), 21_000);
  const third = tracker.flags("a", 21_000);
  assert.ok(third.version > second.version);
  assert.equal(third.flash, "");
  // Bytes moving highlight, alternating so each change flashes anew.
  tracker.update(at(2, 5), 30_000);
  const flashed = tracker.flags("a", 30_000).flash;
  assert.match(flashed, /^ chg-[ab]$/);
  tracker.update(at(3, 5), 30_100);
  assert.equal(tracker.flags("a", 30_100).flash, flashed, "a quiet change keeps the flash");
  tracker.update(at(3, 9), 30_200);
  assert.notEqual(tracker.flags("a", 30_200).flash, flashed);
});

Deno.test("RowTracker gives a row a new version, quietly, when its diagnoses come and go", () => {
  const tracker = new RowTracker();
  tracker.update([socket("a")], 10_000);
  const first = tracker.flags("a", 10_000);
  tracker.update([socket("a", { diagnoses: ["peer-not-reading"] })], 20_000);
  const second = tracker.flags("a", 20_000);
  assert.ok(second.version > first.version, "the badge shows");
  assert.equal(second.flash, "");
  tracker.update([socket("a")], 30_000);
  assert.ok(tracker.flags("a", 30_000).version > second.version, "the badge goes");
});
