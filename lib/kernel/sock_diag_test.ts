import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { concat } from "../bytes.ts";
import type { KernelSocket } from "../net/types.ts";
import { parseProcNet } from "./proc_net.ts";
import {
  decodeSockDiag,
  encodePortBytecode,
  encodeSockDiagRequest,
  endsDump,
  MAX_BYTECODE_RANGES,
  SockDiagDecoder,
  SockDiagError,
} from "./sock_diag.ts";

// Replies captured from a real dump (readSockDiag's tap, with the kernel filtering ports
// 47001-47005) at the same moment as the proc_net_*.txt fixtures and ss_tuanmieo.txt; see
// proc_net_test.ts for the sockets.
const fixtures = new URL("../../tests/fixtures/kernel/", import.meta.url);
const read = (name: string) => Deno.readFile(new URL(name, fixtures));

function find(rows: KernelSocket[], localPort: number, remotePort = 0): KernelSocket {
  const row = rows.find((r) => r.local.port === localPort && (r.remote?.port ?? 0) === remotePort);
  ok(row, `no row ${localPort} -> ${remotePort}`);
  return row;
}

/** What the API shows of a value: fields the decoder leaves undefined are dropped, as JSON drops them. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value));
}

/** Splits concatenated replies into single netlink messages, as separate chunks. */
function messages(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const length = (view.getUint32(at, true) + 3) & ~3;
    out.push(bytes.subarray(at, at + length));
    at += length;
  }
  return out;
}

Deno.test("decodeSockDiag() reports a listener's accept queue and backlog", async () => {
  const rows = decodeSockDiag(await read("sock_diag_tcp4.bin"), "tcp");
  strictEqual(rows.length, 9);
  deepStrictEqual(plain(find(rows, 47001)), {
    transport: "tcp",
    family: 4,
    state: "LISTEN",
    local: { hostname: "127.0.0.1", port: 47001 },
    remote: null,
    recvQ: 2,
    sendQ: 7, // listen(7)
    inode: 6544,
    uid: 0,
    info: {
      retransmits: 0,
      cwnd: 10,
      lostPackets: 0,
      bytesAcked: 0,
      bytesReceived: 0,
      totalRetrans: 0,
      backoff: 0,
      probes: 0,
      sndWnd: 0,
      dataSegsOut: 0,
      dsackDups: 0,
    },
  });
});

Deno.test("decodeSockDiag() reads tcp_info as ss -i shows it", async () => {
  const rows = decodeSockDiag(await read("sock_diag_tcp4.bin"), "tcp");
  // ss: "rtt:0.025/0.012 ... mss:32768 ... cwnd:10 bytes_received:5"
  deepStrictEqual(plain(find(rows, 47001, 42810)), {
    transport: "tcp",
    family: 4,
    state: "ESTABLISHED",
    local: { hostname: "127.0.0.1", port: 47001 },
    remote: { hostname: "127.0.0.1", port: 42810 },
    recvQ: 5,
    sendQ: 0,
    inode: 6546,
    uid: 0,
    info: {
      retransmits: 0,
      rttMs: 0.025,
      rttVarMs: 0.012,
      cwnd: 10,
      mss: 32768,
      lostPackets: 0,
      bytesAcked: 0,
      bytesReceived: 5,
      totalRetrans: 0,
      backoff: 0,
      probes: 0,
      sndWnd: 65536, // ss -i: snd_wnd:65536
      dataSegsOut: 0,
      dsackDups: 0,
    },
  });
  // ss: "timer:(keepalive,119min,0) ... rtt:0.029/0.016 ... cwnd:11 bytes_sent:5 bytes_acked:6"
  const client = find(rows, 42810, 47001);
  strictEqual(client.info?.timer, "keepalive");
  strictEqual(client.info?.timerMs, 7199060);
  strictEqual(client.info?.rttMs, 0.029);
  strictEqual(client.info?.cwnd, 11);
  strictEqual(client.info?.bytesAcked, 6);
  deepStrictEqual(plain(find(rows, 42826, 47001).info), {
    timer: "timewait",
    timerMs: 59108,
    retransmits: 0,
  });
  strictEqual(find(rows, 42826, 47001).state, "TIME_WAIT");
});

Deno.test("decodeSockDiag() decodes IPv6, IPv4-mapped and wildcard addresses", async () => {
  const rows = decodeSockDiag(await read("sock_diag_tcp6.bin"), "tcp");
  deepStrictEqual(rows.map((r) => [r.family, r.state, r.local, r.remote, r.recvQ, r.sendQ]), [
    [6, "LISTEN", { hostname: "::1", port: 47002 }, null, 0, 16],
    [6, "LISTEN", { hostname: "::", port: 47003 }, null, 0, 4],
    [
      6,
      "ESTABLISHED",
      { hostname: "::ffff:127.0.0.1", port: 47003 },
      { hostname: "::ffff:127.0.0.1", port: 47850 },
      0,
      0,
    ],
    [6, "ESTABLISHED", { hostname: "::1", port: 47206 }, { hostname: "::1", port: 47002 }, 3, 0],
    [6, "ESTABLISHED", { hostname: "::1", port: 47002 }, { hostname: "::1", port: 47206 }, 0, 0],
  ]);
});

Deno.test("decodeSockDiag() decodes UDP sockets, UNCONN and connected", async () => {
  deepStrictEqual(plain(decodeSockDiag(await read("sock_diag_udp4.bin"), "udp")), [
    {
      transport: "udp",
      family: 4,
      state: "ESTABLISHED",
      local: { hostname: "127.0.0.1", port: 46884 },
      remote: { hostname: "127.0.0.1", port: 47004 },
      recvQ: 0,
      sendQ: 0,
      inode: 6558,
      uid: 0,
    },
    {
      transport: "udp",
      family: 4,
      state: "UNCONN",
      local: { hostname: "127.0.0.1", port: 47004 },
      remote: null,
      recvQ: 832,
      sendQ: 0,
      inode: 6557,
      uid: 0,
    },
  ]);
  const v6 = decodeSockDiag(await read("sock_diag_udp6.bin"), "udp");
  deepStrictEqual(v6.map((r) => [r.state, r.local, r.remote]), [
    ["UNCONN", { hostname: "::1", port: 47005 }, null],
  ]);
});

Deno.test("decodeSockDiag() agrees with parseProcNet() on sockets captured together", async () => {
  const key = (
    r: KernelSocket,
  ) => [r.transport, r.family, r.state, r.local, r.remote, r.inode, r.uid, r.info?.timer];
  for (const [bin, table] of [["tcp4", "tcp"], ["tcp6", "tcp6"], ["udp4", "udp"]] as const) {
    const netlink = decodeSockDiag(
      await read(`sock_diag_${bin}.bin`),
      table.startsWith("tcp") ? "tcp" : "udp",
    );
    const proc = parseProcNet(await read(`proc_net_${table}.txt`), table);
    deepStrictEqual(netlink.map(key), proc.map(key));
    // Queues agree except a listener's: /proc has no backlog.
    const queues = (rows: KernelSocket[]) =>
      rows.map((r) => r.state === "LISTEN" ? [r.recvQ] : [r.recvQ, r.sendQ]);
    deepStrictEqual(queues(netlink), queues(proc));
  }
});

Deno.test("SockDiagDecoder.push() decodes one message at a time and notices NLMSG_DONE", async () => {
  const bytes = await read("sock_diag_tcp4.bin");
  const decoder = new SockDiagDecoder("tcp");
  const parts = messages(bytes);
  strictEqual(parts.length, 10); // nine sockets and NLMSG_DONE
  for (const part of parts.slice(0, -1)) strictEqual(decoder.push(part), false);
  strictEqual(decoder.done, false);
  strictEqual(decoder.push(parts.at(-1)!), true);
  deepStrictEqual(decoder.sockets, decodeSockDiag(bytes, "tcp"));
});

Deno.test("SockDiagDecoder checks its port filter before building a row", async () => {
  const seen: number[] = [];
  const rows = decodeSockDiag(await read("sock_diag_tcp4.bin"), "tcp", {
    filter: (local, remote) => {
      seen.push(local);
      return local === 47003 || remote === 47003;
    },
  });
  strictEqual(seen.length, 9);
  deepStrictEqual(rows.map((r) => [r.local.port, r.remote?.port]), [[47850, 47003]]);
});

Deno.test("SockDiagDecoder throws SockDiagError for a netlink error reply", () => {
  const reply = new Uint8Array(36);
  const view = new DataView(reply.buffer);
  view.setUint32(0, 36, true);
  view.setUint16(4, 2, true); // NLMSG_ERROR
  view.setInt32(16, -22, true); // -EINVAL
  throws(() => new SockDiagDecoder("tcp").push(reply), (error: unknown) => {
    ok(error instanceof SockDiagError);
    strictEqual(error.errno, 22);
    strictEqual(error.message, "Netlink sock_diag request failed: errno 22");
    return true;
  });
  view.setInt32(16, 0, true); // an acknowledgement, not an error
  strictEqual(new SockDiagDecoder("tcp").push(reply), false);
});

Deno.test("SockDiagDecoder rejects a message cut short", async () => {
  const bytes = await read("sock_diag_udp4.bin");
  throws(() => new SockDiagDecoder("udp").push(bytes.subarray(0, 100)), {
    name: "SyntaxError",
    message: 'Cannot decode sock_diag reply: message length "124" at byte 0 overruns the chunk',
  });
  throws(() => new SockDiagDecoder("udp").push(bytes.subarray(0, 150)), {
    name: "SyntaxError",
    message: 'Cannot decode sock_diag reply: message length "124" at byte 124 overruns the chunk',
  });
  throws(() => new SockDiagDecoder("udp").push(bytes.subarray(0, 130)), {
    name: "SyntaxError",
    message: 'Cannot decode sock_diag reply: "6" trailing bytes',
  });
});

Deno.test("encodeSockDiagRequest() asks for every state and tcp_info", () => {
  const request = encodeSockDiagRequest(6, "tcp", { seq: 7 });
  const view = new DataView(request.buffer);
  strictEqual(request.length, 72);
  strictEqual(view.getUint32(0, true), 72);
  strictEqual(view.getUint16(4, true), 20); // SOCK_DIAG_BY_FAMILY
  strictEqual(view.getUint16(6, true), 0x301); // NLM_F_REQUEST | NLM_F_DUMP
  strictEqual(view.getUint32(8, true), 7);
  deepStrictEqual([...request.subarray(16, 20)], [10, 6, 2, 0]); // AF_INET6, TCP, INET_DIAG_INFO
  strictEqual(view.getUint32(20, true), 0x1ffe);
  const udp = encodeSockDiagRequest(4, "udp");
  deepStrictEqual([...udp.subarray(16, 19)], [2, 17, 64]); // INET_DIAG_SKMEMINFO, for the drops
});

Deno.test("encodeSockDiagRequest() asks for TCP of both families with the older request", () => {
  const request = encodeSockDiagRequest("both", "tcp", { seq: 3, ports: [80] });
  const view = new DataView(request.buffer);
  const bytecode = encodePortBytecode([80]);
  // nlmsghdr, then struct inet_diag_req (60 bytes), then the filter.
  strictEqual(request.length, 16 + 60 + 4 + bytecode.length);
  strictEqual(view.getUint16(4, true), 18); // TCPDIAG_GETSOCK
  strictEqual(view.getUint16(6, true), 0x301);
  strictEqual(view.getUint32(8, true), 3);
  deepStrictEqual([...request.subarray(16, 20)], [2, 0, 0, 2]); // idiag_ext: INET_DIAG_INFO
  strictEqual(view.getUint32(16 + 52, true), 0x1ffe);
  strictEqual(view.getUint16(76, true), 4 + bytecode.length);
  strictEqual(view.getUint16(78, true), 1); // INET_DIAG_REQ_BYTECODE
  deepStrictEqual(request.subarray(80), bytecode);
  throws(() => encodeSockDiagRequest("both", "udp"), {
    name: "TypeError",
    message: 'Cannot encode a sock_diag request: both families only for "tcp"',
  });
});

Deno.test("endsDump() finds NLMSG_DONE or an error among a chunk's messages", () => {
  const message = (type: number, bytes = 20) => {
    const out = new Uint8Array(bytes);
    const view = new DataView(out.buffer);
    view.setUint32(0, bytes, true);
    view.setUint16(4, type, true);
    return out;
  };
  const chunk = (...parts: Uint8Array[]) => concat(parts);
  strictEqual(endsDump(chunk(message(20, 96), message(20, 96))), false);
  strictEqual(endsDump(chunk(message(20, 96), message(3))), true); // NLMSG_DONE
  strictEqual(endsDump(chunk(message(2, 36))), true); // NLMSG_ERROR
  strictEqual(endsDump(chunk(message(18, 96))), false); // a TCPDIAG_GETSOCK reply
  // A length that overruns the chunk: the end, which the decoder then reports.
  strictEqual(endsDump(message(20, 96).subarray(0, 40)), true);
});

Deno.test("encodeSockDiagRequest() appends the port filter as INET_DIAG_REQ_BYTECODE", () => {
  const request = encodeSockDiagRequest(4, "tcp", { ports: [80] });
  const view = new DataView(request.buffer);
  const bytecode = encodePortBytecode([80]);
  strictEqual(request.length, 72 + 4 + bytecode.length);
  strictEqual(view.getUint32(0, true), request.length);
  strictEqual(view.getUint16(72, true), 4 + bytecode.length);
  strictEqual(view.getUint16(74, true), 1);
  deepStrictEqual(request.subarray(76), bytecode);
});

// The kernel's checks (inet_diag_bc_audit, valid_cc) and interpreter (inet_diag_bc_run) for
// the ops the port filter uses, from net/ipv4/inet_diag.c.
const NOP = 0, JMP = 1, S_GE = 2, S_LE = 3, D_GE = 4, D_LE = 5;

function kernelAccepts(bc: Uint8Array): boolean {
  const view = new DataView(bc.buffer, bc.byteOffset, bc.byteLength);
  const validTarget = (cc: number) => {
    for (let at = 0, len = bc.length; len >= 0;) {
      if (cc > len) return false;
      if (cc === len) return true;
      const yes = bc[at + 1];
      if (yes < 4 || yes & 3) return false;
      len -= yes;
      at += yes;
    }
    return false;
  };
  let at = 0;
  let len = bc.length;
  while (len > 0) {
    const code = bc[at], yes = bc[at + 1], no = view.getUint16(at + 2, true);
    let minLen = 4;
    if (code >= S_GE && code <= D_LE) {
      if (len < 8) return false;
      minLen = 8;
    } else if (code !== JMP && code !== NOP) {
      return false;
    }
    if (code !== NOP) {
      if (no < minLen || no > len + 4 || no & 3) return false;
      if (no < len && !validTarget(len - no)) return false;
    }
    if (yes < minLen || yes > len + 4 || yes & 3) return false;
    at += yes;
    len -= yes;
  }
  return len === 0;
}

function kernelRuns(bc: Uint8Array, sport: number, dport: number): boolean {
  const view = new DataView(bc.buffer, bc.byteOffset, bc.byteLength);
  let at = 0;
  let len = bc.length;
  while (len > 0) {
    const code = bc[at];
    const port = code >= S_GE && code <= D_LE ? view.getUint16(at + 6, true) : 0;
    const holds = code === NOP ||
      (code === S_GE && sport >= port) || (code === S_LE && sport <= port) ||
      (code === D_GE && dport >= port) || (code === D_LE && dport <= port);
    const step = holds ? bc[at + 1] : view.getUint16(at + 2, true);
    at += step;
    len -= step;
  }
  return len === 0;
}

Deno.test("encodePortBytecode() passes the kernel's checks and matches either port", () => {
  const sets = [[80], [0], [65535], [8080, 8081, 8082, 443], [1, 3, 5, 7, 9, 100, 101]];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let k = 0; k < 20; k++) {
    sets.push(
      Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 65536)),
    );
  }
  for (const ports of sets) {
    const bc = encodePortBytecode(ports);
    ok(kernelAccepts(bc), `bytecode for ${ports} fails the kernel's audit`);
    const wanted = new Set(ports);
    const probes = [...ports, ...ports.map((p) => p + 1), ...ports.map((p) => p - 1), 0, 65535];
    for (const a of probes) {
      for (const b of [0, 1, 65535, ports[0], 12345]) {
        strictEqual(kernelRuns(bc, a, b), wanted.has(a) || wanted.has(b), `${ports}: ${a}, ${b}`);
        strictEqual(kernelRuns(bc, b, a), wanted.has(a) || wanted.has(b), `${ports}: ${b}, ${a}`);
      }
    }
  }
});

Deno.test("encodePortBytecode() merges neighbouring ports into one range", () => {
  // 2 ranges x 2 directions = 4 clauses of 16 bytes, joined by 3 jumps of 4.
  strictEqual(encodePortBytecode([10, 11, 12, 13, 20]).length, 4 * 16 + 3 * 4);
  strictEqual(encodePortBytecode([5, 5, 5]).length, 2 * 16 + 4);
});

Deno.test("encodePortBytecode() rejects bad ports and too many ranges", () => {
  throws(() => encodePortBytecode([1.5]), {
    name: "TypeError",
    message: 'Cannot encode a port filter: port "1.5" is not an integer',
  });
  throws(() => encodePortBytecode([70000]), {
    name: "RangeError",
    message: 'Cannot encode a port filter: port "70000" is not in 0-65535',
  });
  throws(() => encodePortBytecode([]), RangeError);
  const many = Array.from({ length: MAX_BYTECODE_RANGES + 1 }, (_, i) => i * 2);
  throws(() => encodePortBytecode(many), RangeError);
});
