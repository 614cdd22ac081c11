import { deepStrictEqual, throws } from "node:assert/strict";
import { parseSockstat } from "./sockstat.ts";

const fixtures = new URL("../../tests/fixtures/kernel/", import.meta.url);

Deno.test("parseSockstat() reads the counts of a real /proc/net/sockstat", async () => {
  const counts = parseSockstat(await Deno.readTextFile(new URL("sockstat.txt", fixtures)));
  deepStrictEqual(counts, {
    sockets: { used: 47 },
    TCP: { inuse: 23, orphan: 1, tw: 1, alloc: 28, mem: 980 },
    UDP: { inuse: 3, mem: 0 },
    UDPLITE: { inuse: 0 },
    RAW: { inuse: 0 },
    FRAG: { inuse: 0, memory: 0 },
  });
});

Deno.test("parseSockstat() reads the IPv6 counts of /proc/net/sockstat6", async () => {
  const counts = parseSockstat(await Deno.readTextFile(new URL("sockstat6.txt", fixtures)));
  deepStrictEqual(counts.TCP6, { inuse: 5 });
  deepStrictEqual(counts.UDP6, { inuse: 1 });
  deepStrictEqual(Object.keys(counts), ["TCP6", "UDP6", "UDPLITE6", "RAW6", "FRAG6"]);
});

Deno.test("parseSockstat() rejects a line it cannot read, naming the line", () => {
  throws(() => parseSockstat("TCP: inuse 1\nnonsense\n"), {
    name: "SyntaxError",
    message: 'Cannot parse sockstat line 2: "nonsense" has no protocol',
  });
  throws(() => parseSockstat("TCP: inuse x"), {
    name: "SyntaxError",
    message: 'Cannot parse sockstat line 1: "x" is not a count',
  });
  throws(() => parseSockstat("TCP: inuse"), { name: "SyntaxError" });
});

Deno.test("parseSockstat() returns no counts for empty text", () => {
  deepStrictEqual(parseSockstat(""), {});
});
