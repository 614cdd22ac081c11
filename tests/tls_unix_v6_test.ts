/**
 * The endpoints next to echo (issue 19, item 4) over real sockets: tls-echo with the
 * certificate the service made, unix-echo at a path with its queues from sock_diag's AF_UNIX
 * family, and the whole service on ::1 (echo, v6 rows with kernel queues, an IPv6 pcapng).
 */
import { deepStrictEqual, match, ok, rejects, strictEqual, throws } from "node:assert/strict";
import { Service } from "../lib/net/service.ts";
import { fingerprintOf } from "../lib/net/tls_cert.ts";
import { listeningAt } from "../lib/net/unix_socket.ts";
import { echo } from "../lib/client/echo.ts";
import { tlsDial, unixDial } from "../lib/client/dial.ts";
import type { SocketRecord } from "../lib/net/types.ts";
import type { KernelStatus } from "../lib/view/api_types.ts";
import { decoder, encoder, readExactly, startService, waitFor, writeAll } from "./_helpers.ts";
import { download, tshark } from "./_tshark.ts";
import { tryItLine } from "../lib/net/endpoint_table.ts";
import { banner } from "../lib/startup/banner.ts";

Deno.test("tls-echo: a connectTls client trusting the generated certificate gets its bytes back", async () => {
  await using svc = startService();
  const tls = svc.service.tls;
  ok(tls !== null, `no certificate: ${svc.service.unavailable.get("tls-echo")}`);
  strictEqual(tls.source, "generated");
  strictEqual(tls.fingerprint, fingerprintOf(tls.certPem));
  match(tls.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const port = svc.port("tls-echo");
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [tls.certPem] });
  const hello = encoder.encode("hello over TLS\n");
  try {
    await writeAll(conn, hello);
    strictEqual(decoder.decode(await readExactly(conn, hello.length)), "hello over TLS\n");
    const local = (conn.localAddr as Deno.NetAddr).port;
    // The row counts the decrypted bytes (15 each way), not the TLS records; the kernel sees
    // the TCP socket under it.
    const row = await waitFor(
      "the tls-echo row with decrypted counts and kernel queues",
      async () =>
        (await svc.sockets("?endpoint=tls-echo")).find((r) =>
          r.kind === "conn" && r.remote?.port === local && r.bytesIn === hello.length &&
          r.bytesOut === hello.length && r.kernel !== null
        ),
    );
    strictEqual(row.transport, "tcp");
    strictEqual(row.kernel!.state, "ESTABLISHED");
    const listener = (await svc.sockets("?endpoint=tls-echo")).find((r) => r.kind === "listener")!;
    strictEqual(listener.local.port, port);
    strictEqual(listener.kernel?.state, "LISTEN");
  } finally {
    conn.close();
  }
});

Deno.test("tls-echo: a plain-TCP client that does not speak TLS is not echoed", async () => {
  await using svc = startService();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: svc.port("tls-echo") });
  try {
    await writeAll(conn, encoder.encode("GET / HTTP/1.0\r\n\r\n"));
    const buf = new Uint8Array(64);
    // The server answers a garbage ClientHello with an alert or a close, never the bytes.
    const n = await conn.read(buf).catch(() => null);
    ok(n === null || decoder.decode(buf.subarray(0, n)) !== "GET / HTTP/1.0\r\n\r\n");
  } finally {
    conn.close();
  }
});

Deno.test("tls-echo: --tls-cert/--tls-key are used as given, and only together", async () => {
  const first = startService();
  const cert = first.service.tls!;
  await first[Symbol.asyncDispose]();
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.pem`, cert.certPem);
    await Deno.writeTextFile(`${dir}/k.pem`, cert.keyPem);
    await using svc = startService({ tlsCert: `${dir}/c.pem`, tlsKey: `${dir}/k.pem` });
    strictEqual(svc.service.tls!.fingerprint, cert.fingerprint);
    strictEqual(svc.service.tls!.source, `${dir}/c.pem`);
    const result = await echo("given cert", {
      port: svc.port("tls-echo"),
      dial: tlsDial({ caCerts: [cert.certPem] }),
    });
    ok(result.ok, result.error);
    strictEqual(result.text, "given cert");
    throws(() => new Service({ tlsCert: `${dir}/c.pem` }), TypeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tls-echo: the client's --insecure skips verification, a wrong CA fails", async () => {
  await using svc = startService();
  const port = svc.port("tls-echo");
  const insecure = await echo("insecure hello", { port, dial: tlsDial({ insecure: true }) });
  ok(insecure.ok, insecure.error);
  strictEqual(insecure.text, "insecure hello");
  // Trusting only the system's CAs, the self-signed certificate is refused.
  await rejects(echo("x", { port, dial: tlsDial({}) }));
});

function unixPath(): string {
  return `${Deno.makeTempDirSync({ prefix: "sockscope-unix-" })}/echo.sock`;
}

Deno.test("unix-echo: echo over the socket, rows with the path and kernel queues, file removed at stop", async () => {
  const path = unixPath();
  const svc = startService({ unixPath: path });
  try {
    ok(Deno.lstatSync(path).isSocket);
    const result = await echo("hello unix", { dial: unixDial(path), hostname: "127.0.0.1" });
    ok(result.ok, result.error);
    strictEqual(result.text, "hello unix");
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      await writeAll(conn, encoder.encode("abc"));
      strictEqual(decoder.decode(await readExactly(conn, 3)), "abc");
      const rows = await waitFor("the unix-echo conn row with kernel queues", async () => {
        const rows = await svc.sockets("?endpoint=unix-echo");
        const conn = rows.find((r) =>
          r.kind === "conn" && r.state !== "CLOSED" && r.bytesIn === 3 && r.kernel !== null
        );
        return conn && rows;
      });
      const listener = rows.find((r) => r.kind === "listener")!;
      strictEqual(listener.transport, "unix");
      deepStrictEqual(listener.local, { hostname: path, port: 0 });
      strictEqual(listener.kernel?.state, "LISTEN");
      const row = rows.find((r) => r.kind === "conn" && r.state !== "CLOSED")!;
      deepStrictEqual(row.local, { hostname: path, port: 0 });
      strictEqual(row.kernel!.state, "ESTABLISHED");
      strictEqual(row.kernel!.recvQ, 0);
      // The client's socket, unnamed, shows as the peer of our accepted one.
      const peer = rows.find((r) => r.kind === "peer");
      ok(peer !== undefined, "no peer row for the client's socket");
      deepStrictEqual(peer.remote, { hostname: path, port: 0 });
      const status = (await svc.api<{ kernel: KernelStatus }>("/api/sockets")).body.kernel;
      deepStrictEqual(status.unix, { available: true, reason: null });
    } finally {
      conn.close();
    }
  } finally {
    await svc[Symbol.asyncDispose]();
  }
  throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
});

Deno.test("unix-echo: Recv-Q of a held connection comes from the AF_UNIX dump", async () => {
  const path = unixPath();
  await using svc = startService({ unixPath: path });
  const conn = await Deno.connect({ transport: "unix", path });
  try {
    await writeAll(conn, encoder.encode("x"));
    await readExactly(conn, 1);
    const row = await waitFor(
      "the conn row joined",
      async () =>
        (await svc.sockets("?endpoint=unix-echo")).find((r) => r.kind === "conn" && r.kernel),
    );
    // Stall the connection server-side: what we send then waits in the kernel's queue.
    const ep = svc.service.tcp.get("unix-echo")!;
    for (const c of ep.conns) if (c.id === row!.id) c.pause();
    // The read already in flight takes the next bytes; only then do they queue in the kernel.
    await writeAll(conn, encoder.encode("taken"));
    await readExactly(conn, 5);
    await writeAll(conn, encoder.encode("queued bytes"));
    await waitFor(
      "Recv-Q 12 on our socket",
      async () =>
        (await svc.sockets("?endpoint=unix-echo")).find((r) =>
          r.id === row!.id && r.kernel?.recvQ === 12
        ),
    );
  } finally {
    conn.close();
  }
});

Deno.test("unix-echo: a stale socket file is reclaimed; one something listens on is refused", async () => {
  const path = unixPath();
  // A socket file whose process is gone: bound, never listened on, left behind.
  const py = new Deno.Command("python3", {
    args: ["-c", `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`],
  }).outputSync();
  ok(py.success, decoder.decode(py.stderr));
  ok(Deno.lstatSync(path).isSocket);
  strictEqual(listeningAt(path), false);
  {
    await using _svc = startService({ unixPath: path });
    strictEqual(listeningAt(path), true);
    const result = await echo("after stale", { dial: unixDial(path) });
    ok(result.ok, result.error);
    // A second service on the same path: refused, and the first one's socket is left alone.
    throws(() => new Service({ unixPath: path, ports: allPortsZero() }), /listens on/);
    const again = await echo("still there", { dial: unixDial(path) });
    ok(again.ok, again.error);
  }
  // A regular file at the path is never removed.
  await Deno.writeTextFile(path, "not a socket");
  throws(() => new Service({ unixPath: path, ports: allPortsZero() }), /not a socket/);
  strictEqual(await Deno.readTextFile(path), "not a socket");
  await Deno.remove(path);
});

function allPortsZero(): Record<string, number> {
  return Object.fromEntries(
    ["echo", "multiconn", "app", "udp", "sink", "chat", "clients", "reverse", "http-hello"]
      .concat(["frame-fixed", "frame-delimited", "frame-prefixed", "frame-close", "discard"])
      .concat(["chargen", "tls-echo"]).map((n) => [n, 0]),
  );
}

const hasV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "IPv6: on ::1 the endpoints echo, rows carry v6 addresses and kernel queues, pcapng has IPv6 frames",
  ignore: !hasV6,
  async fn() {
    await using svc = startService({ host: "::1" });
    const conn = await Deno.connect({ hostname: "::1", port: svc.port("echo") });
    const hello = encoder.encode("hello v6\n");
    let id: string;
    try {
      await writeAll(conn, hello);
      strictEqual(decoder.decode(await readExactly(conn, hello.length)), "hello v6\n");
      const local = (conn.localAddr as Deno.NetAddr).port;
      const rows = await waitFor("echo rows over ::1 with kernel queues", async () => {
        const rows = await svc.sockets("?endpoint=echo");
        return rows.some((r: SocketRecord) =>
          r.kind === "conn" && r.remote?.port === local && r.kernel !== null
        ) && rows;
      });
      const row = rows.find((r) => r.kind === "conn" && r.remote?.port === local)!;
      id = row.id;
      strictEqual(row.local.hostname, "::1");
      strictEqual(row.remote!.hostname, "::1");
      strictEqual(row.kernel!.state, "ESTABLISHED");
      const listener = rows.find((r) => r.kind === "listener")!;
      strictEqual(listener.local.hostname, "::1");
      strictEqual(listener.kernel?.state, "LISTEN");
      // The client's own socket shows as a peer row, found in the IPv6 table.
      ok(rows.some((r) => r.kind === "peer" && r.local.port === local), "no v6 peer row");
      // The banner brackets every IPv6 address (the old one printed "::1:PORT").
      const text = banner(svc.service, {
        dashboard: "[::1]:8000",
        client: "deno task client",
        maxConns: 10_000,
        guarded: true,
      });
      ok(text.includes(` [::1]:${svc.port("echo")} `), text);
      ok(!/ ::1:\d/.test(text), text);
      // TLS over ::1 too: the certificate names ::1.
      const tls = await echo("v6 tls", {
        hostname: "::1",
        port: svc.port("tls-echo"),
        dial: tlsDial({ caCerts: [svc.service.tls!.certPem] }),
      });
      ok(tls.ok, tls.error);
    } finally {
      conn.close();
    }
    const { file } = await download(svc.app, `/api/capture.pcapng?conn=${id}`);
    try {
      const out = await tshark(["-r", file, "-T", "fields", "-e", "ipv6.src", "-e", "tcp.len"]);
      const frames = out.trim().split("\n").filter((l) => l !== "");
      ok(frames.length >= 4, `only ${frames.length} frames:\n${out}`);
      for (const line of frames) strictEqual(line.split("\t")[0], "::1", out);
      ok(frames.some((l) => l.endsWith(`\t${hello.length}`)), out);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "IPv6: dual-stack :: takes IPv4 and IPv6 clients on one listener",
  ignore: !hasV6,
  async fn() {
    await using svc = startService({ host: "::" });
    const conns: Deno.TcpConn[] = [];
    try {
      for (const hostname of ["127.0.0.1", "::1"]) {
        const conn = await Deno.connect({ hostname, port: svc.port("echo") });
        conns.push(conn);
        await writeAll(conn, encoder.encode("hi"));
        await readExactly(conn, 2);
      }
      const rows = await waitFor("both clients' rows, joined with the kernel", async () => {
        const rows = (await svc.sockets("?endpoint=echo")).filter((r) =>
          r.kind === "conn" && r.kernel !== null
        );
        return rows.length === 2 && rows;
      });
      // The v4 client arrives IPv4-mapped on the v6 socket; both rows found the kernel's.
      const remotes = rows.map((r) => r.remote!.hostname.replace(/^::ffff:/, "")).sort();
      deepStrictEqual(remotes, ["127.0.0.1", "::1"]);
    } finally {
      for (const c of conns) c.close();
    }
  },
});

Deno.test("client tls-echo (--insecure, --ca) and unix-echo (--path) print the echo", async () => {
  const { main } = await import("../cli.ts");
  async function run(args: string[]) {
    let stdout = "";
    let stderr = "";
    const code = await main(args, {
      stdout: (t) => stdout += t,
      stderr: (t) => stderr += t,
      progress: false,
    });
    return { code, stdout, stderr };
  }
  const path = unixPath();
  await using svc = startService({ unixPath: path });
  const port = String(svc.port("tls-echo"));
  deepStrictEqual(await run(["tls-echo", "--port", port, "--insecure", "Hello, TLS"]), {
    code: 0,
    stdout: "Hello, TLS\n",
    stderr: "",
  });
  const ca = await Deno.makeTempFile({ suffix: ".pem" });
  try {
    await Deno.writeTextFile(ca, svc.service.tls!.certPem);
    strictEqual((await run(["tls-echo", "--port", port, "--ca", ca, "hi"])).stdout, "hi\n");
  } finally {
    await Deno.remove(ca);
  }
  // Without --ca or --insecure the self-signed certificate is refused: exit 1, one line.
  const refused = await run(["tls-echo", "--port", port, "hi"]);
  strictEqual(refused.code, 1);
  match(refused.stderr, /certificate/);
  deepStrictEqual(await run(["unix-echo", "--path", path, "Hello, Unix"]), {
    code: 0,
    stdout: "Hello, Unix\n",
    stderr: "",
  });
  const missing = await run(["unix-echo", "--path", `${path}.none`, "x"]);
  strictEqual(missing.code, 1);
  match(missing.stderr, new RegExp(`Cannot connect to "${path}.none"`));
});

Deno.test("tryItLine brackets an IPv6 host in host:port and URLs, not where it stands alone", () => {
  const dash = "[::1]:8000";
  strictEqual(
    tryItLine("curl -v http://{host}:{port}/", "::1", 65440, dash),
    "curl -v http://[::1]:65440/",
  );
  strictEqual(
    tryItLine("openssl s_client -connect {host}:{port}", "::1", 1, dash),
    "openssl s_client -connect [::1]:1",
  );
  strictEqual(tryItLine("nc {host} {port}", "::1", 65432, dash), "nc ::1 65432");
  strictEqual(
    tryItLine("curl http://{host}:{port}/", "127.0.0.1", 80, dash),
    "curl http://127.0.0.1:80/",
  );
  strictEqual(tryItLine("ncat -U {path}", "/tmp/s.sock", 0, dash), "ncat -U /tmp/s.sock");
});
