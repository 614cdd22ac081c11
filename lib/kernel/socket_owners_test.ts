import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { KernelSocket } from "../net/types.ts";
import { type ProcReaders, SocketOwners } from "./socket_owners.ts";

/** A fake /proc: processes with their comm and descriptor links, and a count of every read. */
function fakeProc(processes: Record<number, { comm: string; fds: Record<string, string> }>) {
  const reads = { dirs: 0, links: 0, texts: 0 };
  const readers: ProcReaders = {
    readDir(path) {
      reads.dirs++;
      if (path === "/proc") return ["self", "net", ...Object.keys(processes)];
      const pid = /^\/proc\/(\d+)\/fd$/.exec(path)?.[1];
      const p = pid === undefined ? undefined : processes[Number(pid)];
      if (p === undefined) throw new Deno.errors.NotFound(`No such directory: ${path}`);
      return Object.keys(p.fds);
    },
    readLink(path) {
      reads.links++;
      const [, pid, fd] = /^\/proc\/(\d+)\/fd\/(\d+)$/.exec(path) ?? [];
      const target = processes[Number(pid)]?.fds[fd];
      if (target === undefined) throw new Deno.errors.NotFound(`No such link: ${path}`);
      return target;
    },
    readText(path) {
      reads.texts++;
      const pid = /^\/proc\/(\d+)\/comm$/.exec(path)?.[1];
      const p = pid === undefined ? undefined : processes[Number(pid)];
      if (p === undefined) throw new Deno.errors.NotFound(`No such file: ${path}`);
      return `${p.comm}\n`;
    },
  };
  return { readers, reads, processes };
}

function row(inode: number, port = 40000): KernelSocket {
  return {
    transport: "tcp",
    family: 4,
    state: "ESTABLISHED",
    local: { hostname: "127.0.0.1", port },
    remote: { hostname: "127.0.0.1", port: 65432 },
    recvQ: 0,
    sendQ: 0,
    inode,
  };
}

Deno.test("SocketOwners.attach() names the process holding each socket, as ss -p", async () => {
  const proc = fakeProc({
    100: { comm: "deno", fds: { "0": "/dev/null", "9": "socket:[5001]", "10": "socket:[5002]" } },
    200: { comm: "nc", fds: { "3": "socket:[6001]", "4": "pipe:[77]" } },
  });
  const owners = new SocketOwners({ readers: proc.readers });
  const rows = [row(5001), row(5002), row(6001), row(0), row(9999)];
  await owners.attach(rows);
  deepStrictEqual(rows.map((r) => r.process), [
    { pid: 100, command: "deno" },
    { pid: 100, command: "deno" },
    { pid: 200, command: "nc" },
    undefined, // no inode: TIME_WAIT, or waiting in the accept queue
    undefined, // no process holds it
  ]);
  strictEqual(owners.stats.scans, 1);
});

Deno.test("SocketOwners.attach() doesn't scan again for sockets it knows", async () => {
  let t = 0;
  const proc = fakeProc({
    100: { comm: "deno", fds: { "9": "socket:[5001]", "10": "socket:[5002]" } },
  });
  const owners = new SocketOwners({ readers: proc.readers, clock: () => t });
  await owners.attach([row(5001), row(5002)]);
  const after = { ...proc.reads };
  for (let i = 0; i < 5; i++) {
    t += 10_000;
    const rows = [row(5001), row(5002)];
    await owners.attach(rows);
    strictEqual(rows[1].process?.pid, 100);
  }
  deepStrictEqual(proc.reads, after, "known inodes read /proc again");
  strictEqual(owners.stats.scans, 1);
});

Deno.test("SocketOwners.attach() scans for a new socket at most once per scanIntervalMs", async () => {
  let t = 0;
  const proc = fakeProc({ 100: { comm: "deno", fds: { "9": "socket:[5001]" } } });
  const owners = new SocketOwners({ readers: proc.readers, clock: () => t, scanIntervalMs: 2000 });
  await owners.attach([row(5001)]);
  // A peer connects: its socket is new, but the last scan is too recent.
  proc.processes[300] = { comm: "python3", fds: { "3": "socket:[7001]" } };
  t += 500;
  const early = [row(5001), row(7001)];
  await owners.attach(early);
  strictEqual(early[1].process, undefined);
  strictEqual(owners.stats.scans, 1);
  t += 1500;
  const later = [row(5001), row(7001)];
  await owners.attach(later);
  deepStrictEqual(later[1].process, { pid: 300, command: "python3" });
  strictEqual(owners.stats.scans, 2);
  // Only the new socket's owner had its comm read.
  strictEqual(proc.reads.texts, 2);
});

Deno.test("SocketOwners.attach() forgets closed sockets and survives processes that exit", async () => {
  let t = 0;
  const proc = fakeProc({ 100: { comm: "deno", fds: { "9": "socket:[1]" } } });
  // A process listed in /proc whose fd folder is gone (exited mid-scan).
  proc.processes[400] = { comm: "gone", fds: {} };
  const readDir = proc.readers.readDir;
  proc.readers.readDir = (path) => {
    if (path === "/proc/400/fd") throw new Deno.errors.NotFound("exited");
    return readDir(path);
  };
  const owners = new SocketOwners({ readers: proc.readers, clock: () => t, scanIntervalMs: 0 });
  for (let i = 0; i < 3000; i++) {
    t += 1;
    proc.processes[100].fds[String(i + 10)] = `socket:[${i + 10}]`;
    const rows = [row(i + 10)];
    await owners.attach(rows);
    strictEqual(rows[0].process?.pid, 100);
    delete proc.processes[100].fds[String(i + 10)];
  }
  // The cache never held much more than the live sockets plus its slack.
  const rows = [row(1)];
  await owners.attach(rows);
  strictEqual(rows[0].process?.command, "deno");
});

Deno.test("SocketOwners.attach() gives up quietly where /proc can't be listed", async () => {
  const owners = new SocketOwners({
    readers: {
      readDir() {
        throw new Deno.errors.NotCapable("Requires read access to /proc");
      },
      readLink: () => "",
      readText: () => "",
    },
  });
  const rows = [row(5001)];
  await owners.attach(rows);
  strictEqual(rows[0].process, undefined);
  strictEqual(owners.unavailable?.startsWith("Socket owners unavailable: cannot list /proc"), true);
});

Deno.test("SocketOwners.attach() at 10,000 sockets: one scan, then none for known inodes", async () => {
  // A synthetic /proc as a load test leaves it: the service holding 10,000 sockets and a
  // client process holding the other 10,000 ends.
  const service: Record<string, string> = {};
  const client: Record<string, string> = {};
  const rows: KernelSocket[] = [];
  for (let i = 0; i < 10_000; i++) {
    service[String(i + 20)] = `socket:[${100_000 + i}]`;
    client[String(i + 3)] = `socket:[${200_000 + i}]`;
    rows.push(row(100_000 + i, 65432), row(200_000 + i, 30000 + (i % 30000)));
  }
  const proc = fakeProc({
    100: { comm: "deno", fds: service },
    200: { comm: "tcpkali", fds: client },
  });
  const owners = new SocketOwners({ readers: proc.readers });
  let t0 = performance.now();
  await owners.attach(rows);
  const firstMs = performance.now() - t0;
  strictEqual(rows.filter((r) => r.process !== undefined).length, 20_000);
  t0 = performance.now();
  await owners.attach(rows);
  const againMs = performance.now() - t0;
  strictEqual(proc.reads.links, 20_000);
  console.log(
    `20,000 sockets: first lookup (scan) ${firstMs.toFixed(1)} ms, cached ${againMs.toFixed(1)} ms`,
  );
});
