import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { readSockDiag } from "../kernel/netlink.ts";
import { listenBacklogUnavailable, setListenBacklog } from "./listen_backlog.ts";

async function backlogs(port: number): Promise<number[]> {
  const rows = await readSockDiag({ ports: [port], families: [4] });
  return rows.filter((r) => r.state === "LISTEN" && r.local.port === port).map((r) => r.sendQ);
}

Deno.test("setListenBacklog() shrinks a listening socket's accept queue and restores it", async () => {
  strictEqual(listenBacklogUnavailable(), null, "tests run on Linux with FFI");
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0, tcpBacklog: 128 });
  const addr = { hostname: "127.0.0.1", port: listener.addr.port };
  deepStrictEqual(await backlogs(addr.port), [128]);
  const shrunk = await setListenBacklog(addr, 2);
  deepStrictEqual(shrunk.before, [128]);
  deepStrictEqual(await backlogs(addr.port), [2]);
  // The kernel reports sk_max_ack_backlog, the limit it checks each SYN against; the
  // accept-queue scenario (tests/diagnoses_test.ts) fills the shrunk queues.
  shrunk.restore();
  shrunk.restore();
  deepStrictEqual(await backlogs(addr.port), [128]);
});

Deno.test("setListenBacklog() says why when nothing of ours listens there", async () => {
  await rejects(setListenBacklog({ hostname: "127.0.0.1", port: 9 }, 4), {
    message: "Cannot set backlog: this process has no listener on 127.0.0.1:9",
  });
  await rejects(setListenBacklog({ hostname: "127.0.0.1", port: 9 }, -1), { name: "RangeError" });
});
