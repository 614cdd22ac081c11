import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { KernelSocket } from "../net/types.ts";
import { KernelRows } from "./kernel_rows.ts";
import { decodeSockDiag, SockDiagRowsDecoder } from "./sock_diag.ts";

// The replies of sock_diag_test.ts (a real dump, ports 47001-47005).
const fixtures = new URL("../../tests/fixtures/kernel/", import.meta.url);
const read = (name: string) => Deno.readFile(new URL(name, fixtures));
const DUMPS = [["tcp4", "tcp"], ["tcp6", "tcp"], ["udp4", "udp"], ["udp6", "udp"]] as const;

/** A row as the rows keep it: the object decoder's row less the fields they leave out. */
function kept(k: KernelSocket): unknown {
  const info = k.info === undefined ? undefined : { ...k.info };
  if (info !== undefined && k.transport === "tcp") {
    for (const field of ["rttVarMs", "cwnd", "ssthresh", "mss", "bytesReceived"] as const) {
      delete info[field];
    }
  }
  return JSON.parse(JSON.stringify({ ...k, uid: undefined, info }));
}

Deno.test("SockDiagRowsDecoder keeps what SockDiagDecoder decodes, row for row", async () => {
  const rows = new KernelRows();
  const objects: KernelSocket[] = [];
  for (const [bin, transport] of DUMPS) {
    const bytes = await read(`sock_diag_${bin}.bin`);
    objects.push(...decodeSockDiag(bytes, transport));
    new SockDiagRowsDecoder(transport, rows).push(bytes);
  }
  strictEqual(rows.count, objects.length);
  const back: unknown[] = [];
  for (let i = 0; i < rows.count; i++) back.push(kept(rows.socket(i)));
  deepStrictEqual(back, objects.map(kept));
});

Deno.test("KernelRows.fill() takes rows of objects, and refills without growing", async () => {
  const objects: KernelSocket[] = [];
  for (const [bin, transport] of DUMPS) {
    objects.push(...decodeSockDiag(await read(`sock_diag_${bin}.bin`), transport));
  }
  const rows = new KernelRows();
  rows.fill(objects);
  const columns = rows.recvQ;
  rows.fill(objects);
  strictEqual(rows.recvQ, columns, "a refill of as many rows reuses the columns");
  const back: unknown[] = [];
  for (let i = 0; i < rows.count; i++) back.push(kept(rows.socket(i)));
  deepStrictEqual(back, objects.map(kept));
});

Deno.test("KernelRows grows past its first columns and keeps the rows it has", () => {
  const rows = new KernelRows();
  for (let i = 0; i < 1000; i++) {
    const r = rows.add();
    rows.localPort[r] = i;
    rows.localHost[r] = "127.0.0.1";
    rows.remoteHost[r] = "";
  }
  strictEqual(rows.count, 1000);
  for (let i = 0; i < 1000; i++) strictEqual(rows.localPort[i], i);
  strictEqual(rows.socket(999).info?.bytesAcked, undefined);
});
