/**
 * Debian's tshark, driven from tests: read a pcapng the service exported and
 * report what Wireshark sees (Follow TCP stream, fields, expert checks).
 * Private to tests/.
 */
import type { Hono } from "hono";
import { decoder } from "./_helpers.ts";

/** Runs `tshark args…`, killed after `timeoutMs`; throws on a non-zero exit with its stderr. */
export async function tshark(args: string[], timeoutMs = 30_000): Promise<string> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const out = await new Deno.Command("tshark", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    if (ac.signal.aborted) {
      throw new Error(`tshark ${args.join(" ")} was killed after ${timeoutMs} ms`);
    }
    if (out.code !== 0) {
      throw new Error(`tshark ${args.join(" ")} exited ${out.code}: ${decoder.decode(out.stderr)}`);
    }
    return decoder.decode(out.stdout);
  } finally {
    clearTimeout(timer);
  }
}

/** What `tshark -qz follow,tcp,raw,N` shows: each node's address and the hex it sent. */
export interface Followed {
  node0: string;
  node1: string;
  /** Hex of the bytes node 0 sent, in order. */
  from0: string;
  /** Hex of the bytes node 1 sent. */
  from1: string;
}

/** Follows TCP stream `stream` of `file` (raw), as Wireshark's "Follow TCP stream" would. */
export async function followTcp(file: string, stream: number): Promise<Followed> {
  const text = await tshark(["-r", file, "-qz", `follow,tcp,raw,${stream}`]);
  const lines = text.split("\n");
  const node = (n: number) =>
    lines.find((l) => l.startsWith(`Node ${n}: `))?.slice(`Node ${n}: `.length).trim() ?? "";
  const start = lines.findIndex((l) => l.startsWith("Node 1: ")) + 1;
  let from0 = "";
  let from1 = "";
  for (const line of lines.slice(start)) {
    if (line.startsWith("=")) break;
    if (line.startsWith("\t")) from1 += line.trim();
    else from0 += line.trim();
  }
  return { node0: node(0), node1: node(1), from0, from1 };
}

/** Hex of bytes, as tshark prints them. */
export function hex(bytes: Uint8Array): string {
  return bytes.toHex();
}

/** GETs `path` from the app and writes the body to a new temporary .pcapng file; returns its path. */
export async function download(app: Hono, path: string): Promise<{ file: string; res: Response }> {
  const res = await app.fetch(new Request(`http://x${path}`));
  if (res.status !== 200) {
    throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  }
  const file = await Deno.makeTempFile({ prefix: "sockscope-test-", suffix: ".pcapng" });
  await Deno.writeFile(file, new Uint8Array(await res.arrayBuffer()));
  return { file, res };
}

/** Bytes 0..n-1 of a pattern that does not repeat on any short period. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
