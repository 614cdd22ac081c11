/** Helpers of the fault tests: switch a fault through the API, read what it shows. */
import { ok, strictEqual } from "node:assert/strict";
import type { TestService } from "./_helpers.ts";

/** Switches `endpoint`'s fault through the API; fails the test unless it answers 200. */
export async function setFault(svc: TestService, endpoint: string, body: Record<string, unknown>) {
  const res = await svc.api<
    { fault: Record<string, unknown>; error?: string; description: string }
  >(
    `/api/endpoints/${endpoint}/fault`,
    { method: "POST", body: JSON.stringify(body) },
  );
  strictEqual(res.status, 200, res.body.error);
  return res.body as { fault: Record<string, unknown>; description: string; note?: string };
}

/** The `fault` field of each endpoint in `GET /api/endpoints`. */
export async function faultsShown(svc: TestService): Promise<Record<string, unknown>> {
  const res = await svc.api<{ endpoints: { name: string; fault: unknown }[] }>("/api/endpoints");
  return Object.fromEntries(res.body.endpoints.map((e) => [e.name, e.fault]));
}

/** The value of the /metrics line starting with `line`, or null. */
export async function metric(svc: TestService, line: string): Promise<number | null> {
  const text = await (await svc.app.fetch(new Request("http://x/metrics"))).text();
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}

/** Reads exactly `n` bytes, recording the size of each read. */
export async function readPieces(conn: Deno.Conn, n: number, timeoutMs = 3000): Promise<number[]> {
  const sizes: number[] = [];
  const buf = new Uint8Array(n);
  const deadline = performance.now() + timeoutMs;
  let got = 0;
  while (got < n) {
    ok(performance.now() < deadline, `read ${got} of ${n} bytes in ${timeoutMs} ms`);
    const m = await conn.read(buf.subarray(got));
    if (m === null) throw new Error(`End of stream after ${got} of ${n} bytes`);
    sizes.push(m);
    got += m;
  }
  return sizes;
}
