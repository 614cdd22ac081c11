/**
 * `--capture-dir`: the capture rotated into pcapng files (like dumpcap's ring
 * buffer), listed and downloaded through the API, and still there after a
 * restart. Real sockets on port 0, files in a temporary directory.
 */
import { deepStrictEqual, match, ok, strictEqual } from "node:assert/strict";
import type { CaptureFileInfo } from "../lib/capture/capture_files.ts";
import { connect, encoder, readExactly, startService, waitFor, writeAll } from "./_helpers.ts";
import { followTcp, hex, pattern, tshark } from "./_tshark.ts";

interface CapturesBody {
  dir: string | null;
  files: CaptureFileInfo[];
  gapRecords: number;
}

async function echoRoundTrip(port: number, data: Uint8Array): Promise<void> {
  const conn = await connect(port);
  try {
    await Promise.all([writeAll(conn, data), readExactly(conn, data.length, 5000)]);
  } finally {
    conn.close();
  }
}

Deno.test("--capture-dir rotates pcapng files, keeps the newest N, and lists and serves them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sockscope-captures-" });
  try {
    {
      await using svc = startService({
        kernel: undefined,
        captureDir: dir,
        captureFileBytes: 65536,
        captureFiles: 3,
      });
      for (let i = 0; i < 6; i++) {
        await echoRoundTrip(svc.port("echo"), pattern(40_000, i + 1));
        await svc.service.captureFiles!.flush();
      }
      // The server records each close after it reads the client's FIN: wait for the last one,
      // so no later flush rotates (and deletes) a file between the listing and the downloads.
      await waitFor(
        "the echo connections to close",
        async () => (await svc.endpoints()).echo.connections === 0,
      );
      await svc.service.captureFiles!.flush();
      const list = await svc.api<CapturesBody>("/api/captures");
      strictEqual(list.status, 200);
      strictEqual(list.body.dir, dir);
      const names = list.body.files.map((f) => f.name);
      strictEqual(names.length, 3, `files: ${names.join(", ")}`);
      for (const name of names) match(name, /^sockscope_\d{5}_\d{8}T\d{6}Z\.pcapng$/);
      ok(svc.service.captureFiles!.written > 3, "never rotated");
      strictEqual(list.body.gapRecords, 0);
      // Each file is a pcapng tshark reads on its own, and the API serves it byte for byte.
      for (const f of list.body.files) {
        await tshark(["-r", `${dir}/${f.name}`, "-c", "1"]);
        const res = await svc.app.fetch(new Request(`http://x/api/captures/${f.name}`));
        strictEqual(res.status, 200);
        strictEqual(res.headers.get("content-type"), "application/x-pcapng");
        deepStrictEqual(
          new Uint8Array(await res.arrayBuffer()),
          await Deno.readFile(`${dir}/${f.name}`),
        );
      }
      const status = async (path: string) => {
        const res = await svc.app.fetch(new Request(`http://x${path}`));
        await res.body?.cancel();
        return res.status;
      };
      strictEqual(await status("/api/captures/..%2F..%2Fetc%2Fpasswd"), 400);
      strictEqual(await status("/api/captures/..%2Fsockscope_00001_20250101T000000Z.pcapng"), 400);
      strictEqual(await status("/api/captures/notes.txt"), 400);
      strictEqual(await status("/api/captures/sockscope_99999_20250101T000000Z.pcapng"), 404);
    }
    // A restart: the files are still listed, and numbering goes on after them.
    const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    {
      await using svc = startService({ kernel: undefined, captureDir: dir, captureFiles: 10 });
      const list = await svc.api<CapturesBody>("/api/captures");
      deepStrictEqual(list.body.files.map((f) => f.name), before);
      const text = encoder.encode("after the restart");
      await echoRoundTrip(svc.port("echo"), text);
      await svc.service.captureFiles!.flush();
      const after = (await svc.api<CapturesBody>("/api/captures")).body.files;
      strictEqual(after.length, before.length + 1);
      const newest = after[after.length - 1];
      ok(newest.current);
      ok(newest.name > before[before.length - 1]);
      const f = await followTcp(`${dir}/${newest.name}`, 0);
      deepStrictEqual([f.from0, f.from1], [hex(text), hex(text)]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a connection open across a rotation follows in the new file from its first byte there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sockscope-captures-" });
  try {
    await using svc = startService({
      kernel: undefined,
      captureDir: dir,
      captureFileBytes: 65536,
    });
    const conn = await connect(svc.port("echo"));
    try {
      const first = pattern(70_000, 9);
      await Promise.all([writeAll(conn, first), readExactly(conn, first.length)]);
      await svc.service.captureFiles!.flush();
      const second = encoder.encode("second file");
      await writeAll(conn, second);
      await readExactly(conn, second.length);
      await svc.service.captureFiles!.flush();
      const files = svc.service.captureFiles!.list();
      strictEqual(files.length, 2);
      const f = await followTcp(`${dir}/${files[1].name}`, 0);
      deepStrictEqual([f.from0, f.from1], [hex(second), hex(second)]);
    } finally {
      conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GET /api/captures without --capture-dir lists no files", async () => {
  await using svc = startService({ kernel: undefined });
  const res = await svc.api<CapturesBody & { capture: { capacityBytes: number } }>("/api/captures");
  deepStrictEqual([res.status, res.body.dir, res.body.files], [200, null, []]);
  strictEqual(res.body.capture.capacityBytes, 64 * 1024 * 1024);
  const file = await svc.api("/api/captures/sockscope_00001_20250101T000000Z.pcapng");
  strictEqual(file.status, 404);
});

Deno.test("capture downloads serve only the plain files the writer made: links are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sockscope-captures-" });
  const outside = await Deno.makeTempDir({ prefix: "sockscope-outside-" });
  try {
    const secret = `${outside}/secret.txt`;
    const secretText = "not a capture: must never be served or overwritten\n";
    await Deno.writeTextFile(secret, secretText);
    // Planted before the start: a symlink and a hard link under capture files' names.
    await Deno.symlink(secret, `${dir}/sockscope_00001_20250101T000000Z.pcapng`);
    await Deno.link(secret, `${dir}/sockscope_00002_20250101T000000Z.pcapng`);
    await using svc = startService({ kernel: undefined, captureDir: dir });
    // The next file the writer opens is number 3: plant links under every name it could take
    // in the next few seconds, so writing through one would overwrite the secret.
    const now = Date.now();
    for (let s = -2; s <= 10; s++) {
      const stamp = new Date(now + s * 1000).toISOString().replace(/[-:]/g, "").replace(
        /\.\d+Z$/,
        "Z",
      );
      await Deno.symlink(secret, `${dir}/sockscope_00003_${stamp}.pcapng`);
    }
    await echoRoundTrip(svc.port("echo"), encoder.encode("a capture of our own"));
    await svc.service.captureFiles!.flush();
    strictEqual(await Deno.readTextFile(secret), secretText, "the writer wrote through a link");
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, svc.app.fetch);
    try {
      const get = async (name: string) => {
        const res = await fetch(`http://127.0.0.1:${server.addr.port}/api/captures/${name}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        return { status: res.status, type: res.headers.get("content-type"), bytes };
      };
      const listed = (await svc.api<CapturesBody>("/api/captures")).body.files;
      strictEqual(listed.length, 1, `listed: ${listed.map((f) => f.name).join(", ")}`);
      const ours = listed[0].name;
      match(ours, /^sockscope_\d{5}_\d{8}T\d{6}Z\.pcapng$/);
      strictEqual((await get(ours)).status, 200);
      // A symlink planted after the start, under a name the writer never used.
      await Deno.symlink(secret, `${dir}/sockscope_09999_20250101T000000Z.pcapng`);
      const planted = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== ours);
      ok(planted.length >= 14, `planted: ${planted.length}`);
      for (const name of planted) {
        const res = await get(name);
        strictEqual(res.status, 404, name);
        match(res.type!, /^application\/json/);
        ok(!new TextDecoder().decode(res.bytes).includes("not a capture"), name);
      }
      // A file the writer made, replaced by a link to the secret, is refused, not followed.
      await svc.service.captureFiles!.close();
      await Deno.remove(`${dir}/${ours}`);
      await Deno.symlink(secret, `${dir}/${ours}`);
      const swapped = await get(ours);
      strictEqual(swapped.status, 403);
      match(
        new TextDecoder().decode(swapped.bytes),
        /"error":"Cannot serve capture file .*not a plain file"/,
      );
    } finally {
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
