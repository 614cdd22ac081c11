import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import type { KernelSocket } from "../net/types.ts";
import {
  type KernelReader,
  type KernelSample,
  KernelTable,
  type KernelTableOptions,
} from "./kernel_table.ts";

const fixtures = new URL("../../tests/fixtures/kernel/", import.meta.url);
const procFiles: Record<string, Uint8Array> = {};
for (const table of ["tcp", "tcp6", "udp", "udp6"]) {
  procFiles[`/proc/net/${table}`] = await Deno.readFile(new URL(`proc_net_${table}.txt`, fixtures));
}

const ROW: KernelSocket = {
  transport: "tcp",
  family: 4,
  state: "LISTEN",
  local: { hostname: "127.0.0.1", port: 8080 },
  remote: null,
  recvQ: 0,
  sendQ: 511,
};

/** A fake kernel: a clock, a netlink reader and a /proc that count their use. */
function fakeKernel(
  options: {
    netlink?: KernelReader | null;
    files?: Record<string, Uint8Array | Error>;
    owners?: KernelTableOptions["owners"];
  } = {},
) {
  const fake = {
    t: 10_000,
    netlinkCalls: [] as unknown[],
    reads: [] as string[],
  };
  const netlink = options.netlink === undefined ? () => [ROW] : options.netlink;
  const files = options.files ?? procFiles;
  const table = new KernelTable({
    os: "linux",
    clock: () => fake.t,
    now: () => 1_700_000_000_000 + fake.t,
    readNetlink: netlink && ((read) => {
      fake.netlinkCalls.push(read);
      fake.t += 3; // the read takes 3 ms
      return netlink(read);
    }),
    owners: options.owners,
    readFile: (path) => {
      fake.reads.push(path);
      const file = files[path];
      if (file instanceof Error) return Promise.reject(file);
      if (file === undefined) {
        return Promise.reject(new Deno.errors.NotFound(`No such file: ${path}`));
      }
      return Promise.resolve(file);
    },
  });
  return { fake, table };
}

const netlinkFails = () => {
  throw new Error("Netlink unavailable: FFI needs --allow-ffi (NotCapable)");
};

function ports(sample: KernelSample): string[] {
  ok(sample.ok, "sample failed");
  return sample.sockets.map((r) => `${r.local.port}-${r.remote?.port ?? 0}`);
}

Deno.test("KernelTable.sample() reads netlink when it works", async () => {
  const { fake, table } = fakeKernel();
  const sample = await table.sample();
  deepStrictEqual(sample, {
    ok: true,
    source: "netlink",
    at: 1_700_000_010_000,
    tookMs: 3,
    sockets: [ROW],
  });
  deepStrictEqual(fake.reads, []);
});

Deno.test("KernelTable.sample() falls back to /proc when netlink throws", async () => {
  const { fake, table } = fakeKernel({ netlink: netlinkFails });
  const sample = await table.sample();
  ok(sample.ok);
  strictEqual(sample.source, "proc");
  strictEqual(sample.sockets.length, 9 + 5 + 2 + 1);
  deepStrictEqual(
    fake.reads,
    ["/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"],
  );
  deepStrictEqual(sample.sockets.find((r) => r.state === "UNCONN" && r.family === 6)?.local, {
    hostname: "::1",
    port: 47005,
  });
});

Deno.test("KernelTable.sample() says why when /proc can't be read either", async () => {
  const cases: [Error, string][] = [
    [
      new Deno.errors.NotCapable(
        'Requires all access to "/proc/net/tcp", run again with the --allow-all flag',
      ),
      "Kernel view unavailable: reading /proc/net/tcp needs --allow-all (NotCapable)",
    ],
    [
      // Without --allow-read Deno names that flag first, but /proc needs --allow-all anyway.
      new Deno.errors.NotCapable(
        'Requires read access to "/proc/net/tcp", run again with the --allow-read flag',
      ),
      "Kernel view unavailable: reading /proc/net/tcp needs --allow-all (NotCapable)",
    ],
    [
      new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
      "Kernel view unavailable: reading /proc/net/tcp was denied (PermissionDenied)",
    ],
    [
      new Deno.errors.NotFound("No such file or directory (os error 2)"),
      "Kernel view unavailable: /proc/net/tcp not found (NotFound)",
    ],
    [
      new Error("Input/output error"),
      "Kernel view unavailable: reading /proc/net/tcp failed (Error): Input/output error",
    ],
  ];
  for (const [error, reason] of cases) {
    const { table } = fakeKernel({
      netlink: netlinkFails,
      files: { ...procFiles, "/proc/net/tcp": error, "/proc/net/udp": new Error("later") },
    });
    deepStrictEqual(await table.sample(), {
      ok: false,
      reason,
      source: null,
      at: 1_700_000_010_000,
    });
  }
});

Deno.test("KernelTable.sample() reports a /proc table it cannot parse", async () => {
  const { table } = fakeKernel({
    netlink: null,
    files: { ...procFiles, "/proc/net/udp": new TextEncoder().encode("header\n  0: junk\n") },
  });
  const sample = await table.sample();
  strictEqual(sample.ok, false);
  strictEqual(
    !sample.ok && sample.reason,
    "Kernel view unavailable: cannot parse /proc/net/udp: Cannot parse /proc/net/udp line 2: expected the fixed columns of a socket row",
  );
});

Deno.test("KernelTable.sample() does without the IPv6 tables when IPv6 is off", async () => {
  const { table } = fakeKernel({
    netlink: null,
    files: {
      "/proc/net/tcp": procFiles["/proc/net/tcp"],
      "/proc/net/udp": procFiles["/proc/net/udp"],
    },
  });
  const sample = await table.sample();
  ok(sample.ok);
  strictEqual(sample.sockets.length, 9 + 2);
});

Deno.test("KernelTable.sample() says so off Linux, reading nothing", async () => {
  const reads: string[] = [];
  const table = new KernelTable({
    os: "darwin",
    now: () => 5,
    readNetlink: () => {
      throw new Error("not called");
    },
    readFile: (path) => {
      reads.push(path);
      return Promise.resolve(new Uint8Array());
    },
  });
  deepStrictEqual(await table.sample(), {
    ok: false,
    reason: "Kernel view unavailable: not Linux (darwin)",
    source: null,
    at: 5,
  });
  deepStrictEqual(reads, []);
});

Deno.test("KernelTable.sample() answers from cache within minIntervalMs", async () => {
  const { fake, table } = fakeKernel();
  const first = await table.sample();
  fake.t += 400;
  strictEqual(await table.sample(), first);
  strictEqual(fake.netlinkCalls.length, 1);
  fake.t += 100; // 503 ms after the first sample started
  const second = await table.sample();
  ok(second !== first);
  strictEqual(second.at, 1_700_000_010_503);
  strictEqual(fake.netlinkCalls.length, 2);
});

Deno.test("KernelTable.sample() reads again for a caller asking for fresher rows", async () => {
  const { fake, table } = fakeKernel();
  const first = await table.sample();
  fake.t += 260;
  // A 250 ms view gets a new sample; the table's own 500 ms still answers the others.
  const fresh = await table.sample({ maxAgeMs: 250 });
  ok(fresh !== first);
  strictEqual(fake.netlinkCalls.length, 2);
  strictEqual(await table.sample(), fresh);
  strictEqual(await table.sample({ maxAgeMs: 250 }), fresh);
  // Never staler than the table's interval, whatever is asked.
  fake.t += 510;
  ok(await table.sample({ maxAgeMs: 60_000 }) !== fresh);
  strictEqual(fake.netlinkCalls.length, 3);
  await rejects(table.sample({ maxAgeMs: -1 }), {
    name: "RangeError",
    message: 'Cannot sample the kernel table: maxAgeMs "-1" is not 0 or more',
  });
});

Deno.test("KernelTable.sample() finds owners only for callers that want them, once a sample", async () => {
  const looked: KernelSocket[][] = [];
  const { fake, table } = fakeKernel({
    netlink: () => [{ ...ROW, inode: 42 }],
    owners: {
      attach(rows) {
        looked.push([...rows]);
        for (const row of rows) row.process = { pid: 7, command: "deno" };
        return Promise.resolve();
      },
    },
  });
  // The diagnoses' sample: no owner lookup (it scans /proc after a new connection).
  const bare = await table.sample({ owners: false });
  ok(bare.ok);
  strictEqual(bare.sockets[0].process, undefined);
  strictEqual(looked.length, 0);
  // The sockets table within the cache: the same rows, now with their owners, looked up once.
  const owned = await table.sample();
  ok(owned.ok);
  strictEqual(owned.sockets, bare.sockets);
  deepStrictEqual(owned.sockets[0].process, { pid: 7, command: "deno" });
  await table.sample();
  strictEqual(looked.length, 1);
  fake.t += 600;
  await table.sample();
  strictEqual(looked.length, 2);
  strictEqual(fake.netlinkCalls.length, 2);
});

Deno.test("KernelTable.sample() caches a failure too", async () => {
  const { fake, table } = fakeKernel({
    netlink: netlinkFails,
    files: { "/proc/net/tcp": new Deno.errors.PermissionDenied("denied") },
  });
  const first = await table.sample();
  strictEqual(first.ok, false);
  strictEqual(await table.sample(), first);
  strictEqual(fake.netlinkCalls.length, 1);
});

Deno.test("KernelTable.sample() shares one read among concurrent callers", async () => {
  const gate = Promise.withResolvers<KernelSocket[]>();
  const { fake, table } = fakeKernel({ netlink: () => gate.promise });
  const a = table.sample();
  const b = table.sample();
  const filtered = table.sample({ ports: [8080] });
  const other = table.sample({ ports: [9] });
  gate.resolve([ROW]);
  const [sa, sb, sf, so] = await Promise.all([a, b, filtered, other]);
  strictEqual(sa, sb);
  deepStrictEqual(ports(sf), ["8080-0"]);
  deepStrictEqual(ports(so), []);
  strictEqual(fake.netlinkCalls.length, 1);
});

Deno.test("KernelTable.sample() hands readers sorted distinct ports", async () => {
  const { fake, table } = fakeKernel({
    netlink: (read) => {
      deepStrictEqual(read, { ports: [47002, 47004] });
      throw new Error("fall back");
    },
  });
  const sample = await table.sample({ ports: [47004, 47002, 47004] });
  deepStrictEqual(fake.netlinkCalls, [{ ports: [47002, 47004] }]);
  // /proc filters on the same ports.
  deepStrictEqual(ports(sample), [
    "47002-0",
    "47206-47002",
    "47002-47206",
    "46884-47004",
    "47004-0",
  ]);
});

Deno.test("KernelTable.sample() narrows a fresh full sample instead of reading again", async () => {
  const { fake, table } = fakeKernel({ netlink: netlinkFails });
  await table.sample();
  const narrowed = await table.sample({ ports: [47003] });
  deepStrictEqual(ports(narrowed), ["47850-47003", "47003-0", "47003-47850"]);
  strictEqual(fake.reads.length, 4);
  strictEqual(fake.netlinkCalls.length, 1);
});

Deno.test("KernelTable.sample() rejects a bad port before reading", async () => {
  const { fake, table } = fakeKernel();
  await rejects(table.sample({ ports: [80.5] }), {
    name: "TypeError",
    message: 'Cannot sample the kernel table: port "80.5" is not an integer',
  });
  await rejects(table.sample({ ports: [-1] }), {
    name: "RangeError",
    message: 'Cannot sample the kernel table: port "-1" is not in 0-65535',
  });
  strictEqual(fake.netlinkCalls.length, 0);
});

// Integration: the real kernel, through both sources.

const linux = Deno.build.os === "linux";
const sources = [
  ["netlink", () => new KernelTable({ minIntervalMs: 0 })],
  ["proc", () => new KernelTable({ minIntervalMs: 0, readNetlink: null })],
] as const;

function has(
  sample: KernelSample,
  transport: string,
  state: string,
  local: Deno.NetAddr,
  remote: Deno.NetAddr | null,
): boolean {
  ok(sample.ok, "sample failed");
  return sample.sockets.some((r) =>
    r.transport === transport && r.state === state &&
    r.local.hostname === local.hostname && r.local.port === local.port &&
    (remote === null
      ? r.remote === null
      : r.remote?.hostname === remote.hostname && r.remote.port === remote.port)
  );
}

Deno.test({
  name:
    "KernelTable.sample() finds a real listener and both ends of a connection, by netlink and /proc",
  ignore: !linux,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    using server = await listener.accept();
    for (const [source, make] of sources) {
      const sample = await make().sample({ ports: [listener.addr.port] });
      ok(sample.ok, `${source}: ${!sample.ok && sample.reason}`);
      strictEqual(sample.source, source);
      ok(has(sample, "tcp", "LISTEN", listener.addr, null), `${source}: no LISTEN`);
      ok(
        has(sample, "tcp", "ESTABLISHED", client.localAddr, client.remoteAddr),
        `${source}: no client end`,
      );
      ok(
        has(sample, "tcp", "ESTABLISHED", server.localAddr, server.remoteAddr),
        `${source}: no server end`,
      );
      deepStrictEqual(server.remoteAddr.port, client.localAddr.port);
    }
  },
});

Deno.test({
  name: "KernelTable.sample() finds IPv6 and UDP sockets, by netlink and /proc",
  ignore: !linux,
  async fn() {
    let listener: Deno.TcpListener;
    try {
      listener = Deno.listen({ hostname: "::1", port: 0 });
    } catch {
      return; // no IPv6 loopback here
    }
    using _listener = listener;
    using client = await Deno.connect({ hostname: "::1", port: listener.addr.port });
    using server = await listener.accept();
    const udp = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const udpAddr = udp.addr as Deno.NetAddr;
      for (const [source, make] of sources) {
        const sample = await make().sample({ ports: [listener.addr.port, udpAddr.port] });
        ok(has(sample, "tcp", "LISTEN", listener.addr, null), `${source}: no LISTEN`);
        ok(
          has(sample, "tcp", "ESTABLISHED", client.localAddr, client.remoteAddr),
          `${source}: no client end`,
        );
        ok(
          has(sample, "tcp", "ESTABLISHED", server.localAddr, server.remoteAddr),
          `${source}: no server end`,
        );
        ok(has(sample, "udp", "UNCONN", udpAddr, null), `${source}: no UDP socket`);
      }
    } finally {
      udp.close();
    }
  },
});

Deno.test({
  name: "KernelTable.sample() explains the flag it needs when run without permissions",
  ignore: !linux,
  async fn() {
    const script = `import { KernelTable } from ${
      JSON.stringify(import.meta.resolve("./kernel_table.ts"))
    };
const sample = await new KernelTable().sample();
console.log(JSON.stringify([sample.ok, sample.source, sample.ok || sample.reason]));`;
    for (const flags of [[], ["--allow-read"]]) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", ...flags, "-"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(script));
      await writer.close();
      const { stdout, stderr } = await child.output();
      deepStrictEqual(
        JSON.parse(new TextDecoder().decode(stdout) || "null"),
        [
          false,
          null,
          "Kernel view unavailable: reading /proc/net/tcp needs --allow-all (NotCapable)",
        ],
        new TextDecoder().decode(stderr),
      );
    }
  },
});

Deno.test("KernelTable with ipv6: false reads only the IPv4 tables", async () => {
  const reads: string[] = [];
  const table = new KernelTable({
    os: "linux",
    ipv6: false,
    readNetlink: null,
    procDir: "/p",
    readFile: (path) => {
      reads.push(path);
      return Promise.resolve(new Uint8Array());
    },
  });
  const sample = await table.sample();
  ok(sample.ok, sample.ok ? "" : sample.reason);
  deepStrictEqual(reads.toSorted(), ["/p/tcp", "/p/udp"]);
});
