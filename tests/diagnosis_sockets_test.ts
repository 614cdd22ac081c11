import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import type { SocketRecord } from "../lib/net/types.ts";
import { closeQuietly, connect, echoPing, readToEnd, startService, waitFor } from "./_helpers.ts";

/** What the rules read of a record (lib/diagnoses/rules.ts), as plain data. */
function ruled(r: SocketRecord): unknown {
  const info = r.kernel?.info;
  return JSON.parse(JSON.stringify({
    id: r.id,
    endpoint: r.endpoint,
    transport: r.transport,
    kind: r.kind,
    ours: r.ours,
    kernelOnly: r.kernelOnly,
    bytesIn: r.bytesIn,
    // Field by field: the lean sample's records are views (getters), which JSON would skip.
    app: r.app === null ? null : {
      rxBuffered: r.app.rxBuffered,
      txBuffered: r.app.txBuffered,
      paused: r.app.paused,
      splitWaits: r.app.splitWaits,
    },
    state: r.state,
    local: r.local,
    remote: r.remote,
    kernel: r.kernel === null ? null : {
      state: r.kernel.state,
      recvQ: r.kernel.recvQ,
      sendQ: r.kernel.sendQ,
      info: info === undefined ? undefined : {
        bytesAcked: info.bytesAcked,
        totalRetrans: info.totalRetrans,
        dsackDups: info.dsackDups,
        dataSegsOut: info.dataSegsOut,
        drops: info.drops,
        timer: info.timer,
        backoff: info.backoff,
        probes: info.probes,
        sndWnd: info.sndWnd,
      },
    },
  }));
}

/** The rules' view of `Service.sockets()`: our rows, and the others' TIME_WAIT per endpoint. */
function fromRecords(records: readonly SocketRecord[]) {
  const rows: unknown[] = [];
  const timeWait: Record<string, number> = {};
  for (const r of records) {
    if (r.ours && !r.kernelOnly) rows.push(ruled(r));
    else if (r.kernel?.state === "TIME_WAIT") {
      timeWait[r.endpoint] = (timeWait[r.endpoint] ?? 0) + 1;
    }
  }
  return { rows: rows.sort(byId), timeWait };
}

const byId = (a: unknown, b: unknown) =>
  (a as { id: string }).id < (b as { id: string }).id ? -1 : 1;

Deno.test("Service.diagnosisSample() shows the rules what Service.sockets() does, TIME_WAIT counted", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 12; i++) held.push(await connect(port));
    for (const c of held.slice(0, 4)) strictEqual(await echoPing(c, "hello"), "hello");
    // Clients that close first leave their side (peer rows) in TIME_WAIT.
    for (const c of held.splice(8, 4)) c.close();
    await waitFor("8 echo connections left", () => svc.service.tcp.get("echo")!.conns.size === 8);
    // The service closing first leaves our side (kernel-only rows of ours) in TIME_WAIT.
    for (const conn of [...svc.service.tcp.get("echo")!.conns].slice(0, 2)) {
      const client = held.find((c) => (c.localAddr as Deno.NetAddr).port === conn.remote.port)!;
      ok(svc.service.closeSocket(conn.id));
      // Our FIN_WAIT2 turns TIME_WAIT once the client, having read our FIN, closes too.
      strictEqual((await readToEnd(client)).end, "eof");
      held.splice(held.indexOf(client), 1);
      client.close();
    }
    await waitFor("6 echo connections left", () => svc.service.tcp.get("echo")!.conns.size === 6);
    // Two dumps a moment apart: retry until nothing moved between them (idle, so soon).
    let last = "";
    await waitFor("diagnosisSample() and sockets() to agree", async () => {
      const lean = await svc.service.diagnosisSample({ kernelMaxAgeMs: 0 });
      const rows: unknown[] = [];
      let conns = 0;
      for (const r of lean.sockets) {
        if (r.kind === "conn" && r.transport === "tcp") conns++;
        if (r.ours && !r.kernelOnly) rows.push(ruled(r));
      }
      const timeWait = Object.fromEntries(lean.timeWait);
      const full = fromRecords(await svc.service.sockets({ kernelMaxAgeMs: 0 }));
      ok(conns >= 6, `${conns} connections in the lean sample`);
      const a = JSON.stringify({ rows: rows.sort(byId), timeWait });
      last = JSON.stringify(full);
      return a === last && full.timeWait.echo === 6;
    }, { timeoutMs: 15_000, intervalMs: 100 }).catch((error) => {
      throw new Error(`${error.message}; last full view: ${last}`);
    });
  } finally {
    for (const c of held) closeQuietly(c);
  }
});

Deno.test("Service.diagnosisSample() shows every connection in one record, the same each tick", async () => {
  await using svc = startService();
  const port = svc.port("echo");
  const held: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 20; i++) held.push(await connect(port));
    await waitFor("20 echo connections", () => svc.service.tcp.get("echo")!.conns.size === 20);
    const records = new Set<SocketRecord>();
    const ids = new Set<string>();
    for (let tick = 0; tick < 2; tick++) {
      const lean = await svc.service.diagnosisSample({ kernelMaxAgeMs: 0 });
      for (const r of lean.sockets) {
        if (r.kind !== "conn" || r.endpoint !== "echo") continue;
        records.add(r);
        ids.add(r.id);
        ok(r.kernel !== null, `${r.id} joined with its kernel row`);
      }
    }
    strictEqual(ids.size, 20);
    deepStrictEqual(records.size, 1, "one record refilled for every connection, tick after tick");
  } finally {
    for (const c of held) closeQuietly(c);
  }
});
