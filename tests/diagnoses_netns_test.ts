/**
 * The two kinds that need loss, produced for real: the service runs inside a
 * network namespace, a Python client inside a second one, joined by a veth
 * pair with addresses only inside them (nothing routed off the machine). The
 * link set down mid-transfer makes the peer vanish; a 10 Mbit/s bottleneck
 * with a small queue (tbf; netem is not available here) on the service's side
 * of the pair drops segments and makes retransmissions. Needs root (CAP_NET_ADMIN);
 * ignored without it. Namespaces and processes are removed in `finally`.
 */
import { ok } from "node:assert/strict";
import type { Diagnosis, DiagnosisKind } from "../lib/diagnoses/types.ts";
import { waitFor } from "./_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const SERVER = "10.231.77.1";
const CLIENT = "10.231.77.2";
const CHARGEN = 65446;
// A service bound off loopback requires a token: a fixed one, for this test only.
const TOKEN = "diagnoses-netns-test";

function run(...args: string[]): { ok: boolean; out: string } {
  const r = new Deno.Command(args[0], { args: args.slice(1), stdout: "piped", stderr: "piped" })
    .outputSync();
  return {
    ok: r.success,
    out: new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr),
  };
}

function must(...args: string[]): void {
  const r = run(...args);
  if (!r.ok) throw new Error(`${args.join(" ")}: ${r.out}`);
}

const canNetns = (() => {
  if (Deno.uid?.() !== 0) return false;
  const name = `ssd-probe-${Deno.pid}`;
  const made = run("ip", "netns", "add", name).ok;
  if (made) run("ip", "netns", "del", name);
  return made && run("python3", "-c", "pass").ok;
})();

/** Two namespaces joined by a veth pair, the service in `a`, and cleanup. */
async function withPair(body: (pair: { a: string; b: string }) => Promise<void>): Promise<void> {
  const a = `ssd-a-${Deno.pid}`;
  const b = `ssd-b-${Deno.pid}`;
  let service: Deno.ChildProcess | null = null;
  try {
    must("ip", "netns", "add", a);
    must("ip", "netns", "add", b);
    must(
      "ip",
      "link",
      "add",
      "vssd-a",
      "netns",
      a,
      "type",
      "veth",
      "peer",
      "name",
      "vssd-b",
      "netns",
      b,
    );
    must("ip", "-n", a, "addr", "add", `${SERVER}/30`, "dev", "vssd-a");
    must("ip", "-n", b, "addr", "add", `${CLIENT}/30`, "dev", "vssd-b");
    for (const [ns, dev] of [[a, "vssd-a"], [b, "vssd-b"], [a, "lo"], [b, "lo"]]) {
      must("ip", "-n", ns, "link", "set", dev, "up");
    }
    service = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        a,
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "--host",
        SERVER,
        "--token",
        TOKEN,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitFor(
      "the service in the namespace",
      () => diagnoses(a).then(() => true, () => false),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    await body({ a, b });
  } finally {
    if (service !== null) {
      try {
        service.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await service.status;
    }
    run("ip", "netns", "del", a);
    run("ip", "netns", "del", b);
  }
}

async function diagnoses(ns: string): Promise<Diagnosis[]> {
  const r = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      ns,
      "curl",
      "-sf",
      "-H",
      `authorization: Bearer ${TOKEN}`,
      "-m",
      "3",
      `http://${SERVER}:8000/api/diagnoses?active=1`,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!r.success) throw new Error("not up");
  return JSON.parse(new TextDecoder().decode(r.stdout)).diagnoses;
}

/** A client in `ns` reading chargen as fast as it can. */
function reader(ns: string): Deno.ChildProcess {
  const script = `import socket\ns = socket.create_connection(("${SERVER}", ${CHARGEN}))\n` +
    "while s.recv(65536): pass\n";
  return new Deno.Command("ip", {
    args: ["netns", "exec", ns, "timeout", "60", "python3", "-c", script],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function appears(ns: string, kind: DiagnosisKind, timeoutMs: number): Promise<Diagnosis> {
  const d = await waitFor(
    `"${kind}" in the namespace`,
    async () => (await diagnoses(ns)).find((d) => d.kind === kind),
    { timeoutMs, intervalMs: 200 },
  );
  ok(d.evidence.length > 0);
  return d;
}

async function clears(ns: string, kind: DiagnosisKind): Promise<void> {
  await waitFor(
    `"${kind}" to clear`,
    async () => !(await diagnoses(ns)).some((d) => d.kind === kind),
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}

Deno.test({
  name:
    "diagnoses in a namespace pair: the link down makes peer-vanished, a bottleneck that drops makes retransmissions",
  ignore: !canNetns,
  async fn() {
    await withPair(async ({ a, b }) => {
      const client = reader(b);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        must("ip", "-n", b, "link", "set", "vssd-b", "down");
        const down = performance.now();
        const d = await appears(a, "peer-vanished", 30_000);
        console.log(
          `peer-vanished after the link went down: ${Math.round(performance.now() - down)} ms`,
        );
        ok(d.evidence.some((e) => e.what.includes("backoff") && Number(e.value) >= 3));
        must("ip", "-n", b, "link", "set", "vssd-b", "up");
        await clears(a, "peer-vanished");
      } finally {
        client.kill("SIGKILL");
        await client.status;
      }
      const lossy = reader(b);
      try {
        // No netem here (sch_netem is not loaded): a 10 Mbit/s bottleneck with an 8 KB queue
        // (tbf) on the service's side drops what overflows it, as a congested link does.
        const tbf = "rate 10mbit burst 16kb limit 8kb".split(" ");
        must(
          "ip",
          "netns",
          "exec",
          a,
          "tc",
          "qdisc",
          "add",
          "dev",
          "vssd-a",
          "root",
          "tbf",
          ...tbf,
        );
        const start = performance.now();
        await appears(a, "retransmissions", 30_000);
        console.log(
          `retransmissions after the bottleneck began: ${Math.round(performance.now() - start)} ms`,
        );
        must("ip", "netns", "exec", a, "tc", "qdisc", "del", "dev", "vssd-a", "root");
        await clears(a, "retransmissions");
      } finally {
        lossy.kill("SIGKILL");
        await lossy.status;
      }
    });
  },
});
