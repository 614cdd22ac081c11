import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import type { KernelSocket } from "../net/types.ts";
import { portFilter } from "./_row.ts";
import { parseProcNet, type ProcNetTable } from "./proc_net.ts";

// Captured from this machine while tests/fixtures/kernel/ss_tuanmieo.txt was taken: a listener
// on 127.0.0.1:47001 (backlog 7, two connections waiting in its accept queue, one accepted
// with 5 unread bytes, a keepalive client, one TIME_WAIT), a listener on [::1]:47002 with a
// connection holding 3 unread bytes, a dual-stack listener on [::]:47003 reached over IPv4,
// UDP on 127.0.0.1:47004 (one datagram queued, one connected sender) and UDP on [::1]:47005.
const fixtures = new URL("../../tests/fixtures/kernel/", import.meta.url);

async function parseFixture(table: ProcNetTable, file = `proc_net_${table}.txt`) {
  return parseProcNet(await Deno.readFile(new URL(file, fixtures)), table);
}

function find(rows: KernelSocket[], localPort: number, remotePort = 0): KernelSocket {
  const row = rows.find((r) => r.local.port === localPort && (r.remote?.port ?? 0) === remotePort);
  ok(row, `no row ${localPort} -> ${remotePort}`);
  return row;
}

Deno.test("parseProcNet() decodes a listener with its accept queue from /proc/net/tcp", async () => {
  const rows = await parseFixture("tcp");
  strictEqual(rows.length, 9);
  deepStrictEqual(find(rows, 47001), {
    transport: "tcp",
    family: 4,
    state: "LISTEN",
    local: { hostname: "127.0.0.1", port: 47001 },
    remote: null,
    recvQ: 2, // two connections not yet accepted
    sendQ: 0, // /proc has no backlog
    inode: 6544,
    uid: 0,
    info: { retransmits: 0 },
  });
});

Deno.test("parseProcNet() decodes both ends of a connection with unread bytes", async () => {
  const rows = await parseFixture("tcp");
  const server = find(rows, 47001, 42810);
  strictEqual(server.state, "ESTABLISHED");
  deepStrictEqual(server.remote, { hostname: "127.0.0.1", port: 42810 });
  strictEqual(server.recvQ, 5);
  strictEqual(server.inode, 6546);
  const client = find(rows, 42810, 47001);
  strictEqual(client.state, "ESTABLISHED");
  deepStrictEqual(client.local, { hostname: "127.0.0.1", port: 42810 });
  strictEqual(client.recvQ, 0);
  // tr 02 (keepalive), tm->when 0x000AFC25 clock ticks of 1/100 s.
  deepStrictEqual(client.info, { timer: "keepalive", timerMs: 7199090, retransmits: 0 });
});

Deno.test("parseProcNet() decodes a TIME_WAIT row and accepted-but-unclaimed connections", async () => {
  const rows = await parseFixture("tcp");
  const closed = find(rows, 42826, 47001);
  strictEqual(closed.state, "TIME_WAIT");
  strictEqual(closed.inode, 0);
  deepStrictEqual(closed.info, { timer: "timewait", timerMs: 59140, retransmits: 0 });
  // In the accept queue: the kernel has the socket, no process has an inode for it yet.
  strictEqual(find(rows, 47001, 42832).inode, 0);
});

Deno.test("parseProcNet() decodes IPv6, IPv4-mapped and wildcard rows from /proc/net/tcp6", async () => {
  const rows = await parseFixture("tcp6");
  strictEqual(rows.length, 5);
  strictEqual(rows.every((r) => r.family === 6 && r.transport === "tcp"), true);
  deepStrictEqual(find(rows, 47002).local, { hostname: "::1", port: 47002 });
  strictEqual(find(rows, 47002).state, "LISTEN");
  deepStrictEqual(find(rows, 47003).local, { hostname: "::", port: 47003 });
  strictEqual(find(rows, 47003).remote, null);
  const mapped = find(rows, 47003, 47850);
  deepStrictEqual(mapped.local, { hostname: "::ffff:127.0.0.1", port: 47003 });
  deepStrictEqual(mapped.remote, { hostname: "::ffff:127.0.0.1", port: 47850 });
  const client = find(rows, 47206, 47002);
  deepStrictEqual(client.remote, { hostname: "::1", port: 47002 });
  strictEqual(client.recvQ, 3);
});

Deno.test("parseProcNet() decodes UDP rows: UNCONN, connected, and wide slot numbers", async () => {
  const rows = await parseFixture("udp");
  deepStrictEqual(rows, [
    {
      transport: "udp",
      family: 4,
      state: "ESTABLISHED",
      local: { hostname: "127.0.0.1", port: 46884 },
      remote: { hostname: "127.0.0.1", port: 47004 },
      recvQ: 0,
      sendQ: 0,
      inode: 6558,
      uid: 0,
    },
    {
      transport: "udp",
      family: 4,
      state: "UNCONN",
      local: { hostname: "127.0.0.1", port: 47004 },
      remote: null,
      recvQ: 832, // UDP counts the queued datagram's buffer memory, as ss does
      sendQ: 0,
      inode: 6557,
      uid: 0,
    },
  ]);
  const v6 = await parseFixture("udp6");
  deepStrictEqual(v6.map((r) => [r.family, r.state, r.local, r.remote]), [
    [6, "UNCONN", { hostname: "::1", port: 47005 }, null],
  ]);
});

Deno.test("parseProcNet() prints IPv6 addresses in compressed form", async () => {
  const rows = await parseFixture("tcp6", "proc_net_tcp6_handwritten.txt");
  deepStrictEqual(rows.slice(0, 4).map((r) => [r.local.hostname, r.remote?.hostname]), [
    ["2001:db8::1", "fe80::a00:27ff:fe4e:66a1"],
    ["2001:db8:0:1::1", "2001:db8::1:0:0:1"], // the first of two equal zero runs
    ["2001:db8:0:1:1:1:1:1", "::ffff:127.0.0.1"], // a lone zero group stays
    ["::7f00:1", "::1"], // as Deno prints it (glibc's inet_ntop says ::127.0.0.1)
  ]);
});

Deno.test("parseProcNet() decodes every TCP state, timer, queue and uid column", async () => {
  const rows = await parseFixture("tcp6", "proc_net_tcp6_handwritten.txt");
  deepStrictEqual(
    rows.map((r) => [r.state, r.info?.timer, r.info?.timerMs, r.info?.retransmits]),
    [
      ["ESTABLISHED", "on", 500, 2],
      ["SYN_SENT", "on", 3000, 3],
      ["CLOSE_WAIT", undefined, undefined, 0],
      ["FIN_WAIT1", "persist", 30000, 0],
      ["FIN_WAIT2", undefined, undefined, 0],
      ["LAST_ACK", "on", 200, 1],
      ["CLOSING", undefined, undefined, 0],
      ["SYN_RECV", "on", 1000, 1],
      ["TIME_WAIT", "timewait", 60000, 0],
      // state 0D (BOUND_INACTIVE) is left out; slot 10000 is wider than "%4d"
      ["CLOSE", undefined, undefined, 0],
    ],
  );
  strictEqual(rows[0].sendQ, 0x3a0f1);
  strictEqual(rows[0].recvQ, 16);
  strictEqual(rows[0].uid, 1000);
  strictEqual(rows[2].uid, 65534);
  strictEqual(rows[2].inode, 4294967297);
  strictEqual(rows.at(-1)?.inode, 11);
});

Deno.test("parseProcNet() converts timer ticks with the given userHz", async () => {
  const bytes = await Deno.readFile(new URL("proc_net_tcp6_handwritten.txt", fixtures));
  strictEqual(parseProcNet(bytes, "tcp6", { userHz: 250 })[0].info?.timerMs, 200);
  throws(() => parseProcNet(bytes, "tcp6", { userHz: 0 }), RangeError);
});

Deno.test("parseProcNet() checks the port filter before building a row", async () => {
  const bytes = await Deno.readFile(new URL("proc_net_tcp6.txt", fixtures));
  const seen: [number, number][] = [];
  const keep47002 = portFilter([47002]);
  const rows = parseProcNet(bytes, "tcp6", {
    filter: (local, remote) => {
      seen.push([local, remote]);
      return keep47002(local, remote);
    },
  });
  strictEqual(seen.length, 5);
  deepStrictEqual(seen[0], [47002, 0]);
  deepStrictEqual(
    rows.map((r) => `${r.local.port}-${r.remote?.port ?? 0}`),
    ["47002-0", "47206-47002", "47002-47206"],
  );
});

Deno.test("parseProcNet() returns no rows for a header alone or nothing", () => {
  const header = new TextEncoder().encode(
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
  );
  deepStrictEqual(parseProcNet(header, "tcp"), []);
  deepStrictEqual(parseProcNet(new Uint8Array(0), "udp"), []);
});

Deno.test("parseProcNet() rejects a malformed row, naming the table and line", () => {
  const text = "header\n" +
    "   0: 0100007F:B799 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 6544\n" +
    "   1: 0100007F:B799 00000000:0000 0A 0000000:000000002 00:00000000 00000000     0        0 6544\n";
  throws(() => parseProcNet(new TextEncoder().encode(text), "tcp"), {
    name: "SyntaxError",
    message: "Cannot parse /proc/net/tcp line 3: expected the fixed columns of a socket row",
  });
  const truncated =
    "header\n   0: 0100007F:B799 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0\n";
  throws(() => parseProcNet(new TextEncoder().encode(truncated), "tcp"), {
    name: "SyntaxError",
    message: "Cannot parse /proc/net/tcp line 2: expected a decimal uid, timeout and inode",
  });
});

Deno.test("parseProcNet() parses 20,000 rows in well under 40 ms", () => {
  const header =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
  const lines = [header];
  for (let i = 0; i < 20_000; i++) {
    const port = (32768 + (i % 28000)).toString(16).toUpperCase();
    lines.push(
      `${
        String(i).padStart(4)
      }: 0100007F:${port} 0100007F:B799 01 00000000:00000000 00:00000000 00000000     0        0 ${
        100000 + i
      } 2 0000000000000000 20 4 30 10 -1\n`,
    );
  }
  const bytes = new TextEncoder().encode(lines.join(""));
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const start = performance.now();
    strictEqual(parseProcNet(bytes, "tcp").length, 20_000);
    best = Math.min(best, performance.now() - start);
  }
  ok(best < 40, `best of 5 took ${best.toFixed(1)} ms`);
});

Deno.test("parseProcNet() reads queues up to 4 GiB and rejects bad hex in an address", () => {
  const header = "header\n";
  const big =
    "   0: 0100007F:B799 0100007F:A750 01 FFFFFFFF:80000000 00:00000000 00000000     0        0 1\n";
  const [row] = parseProcNet(new TextEncoder().encode(header + big), "tcp");
  strictEqual(row.sendQ, 0xffffffff);
  strictEqual(row.recvQ, 0x80000000);
  const bad =
    "   0: 0100007G:B799 0100007F:A750 01 00000000:00000000 00:00000000 00000000     0        0 1\n";
  throws(() => parseProcNet(new TextEncoder().encode(header + bad), "tcp"), {
    name: "SyntaxError",
    message: "Cannot parse /proc/net/tcp line 2: expected a hex address",
  });
});
