import { deepStrictEqual, throws } from "node:assert/strict";
import { parsePortRange, parseProcCounters, readNetCounters } from "./net_counters.ts";

const NETSTAT = "TcpExt: SyncookiesSent DelayedACKs ListenOverflows ListenDrops\n" +
  "TcpExt: 0 12 3 4\nIpExt: InNoRoutes\nIpExt: 0\n";
const SNMP = "Udp: InDatagrams NoPorts InErrors RcvbufErrors\nUdp: 10 0 7 7\n";

Deno.test("parseProcCounters() pairs each header line with its values", () => {
  deepStrictEqual(parseProcCounters(NETSTAT), {
    TcpExt: { SyncookiesSent: 0, DelayedACKs: 12, ListenOverflows: 3, ListenDrops: 4 },
    IpExt: { InNoRoutes: 0 },
  });
  throws(() => parseProcCounters("TcpExt: A\nIpExt: 1\n"), SyntaxError);
});

Deno.test("parseProcCounters() with groups parses only those", () => {
  deepStrictEqual(parseProcCounters(NETSTAT, ["IpExt"]), { IpExt: { InNoRoutes: 0 } });
  deepStrictEqual(parseProcCounters(NETSTAT, ["Tcp"]), {}, "a group is named whole");
});

Deno.test("parsePortRange() reads the two bounds", () => {
  deepStrictEqual(parsePortRange("32768\t60999\n"), [32768, 60999]);
  throws(() => parsePortRange("x"), SyntaxError);
});

Deno.test("readNetCounters() reads through the injected reader; a missing file gives null", async () => {
  const files: Record<string, string> = {
    "/p/net/netstat": NETSTAT,
    "/p/net/snmp": SNMP,
  };
  const reading = await readNetCounters({
    procDir: "/p",
    readTextFile: (path) =>
      files[path] === undefined
        ? Promise.reject(new Error("NotFound"))
        : Promise.resolve(files[path]),
  });
  deepStrictEqual(reading, {
    counters: { listenOverflows: 3, listenDrops: 4, delayedAcks: 12, udpRcvbufErrors: 7 },
    portRange: null,
  });
});

Deno.test("readNetCounters() reads this machine's /proc", async () => {
  const reading = await readNetCounters();
  deepStrictEqual(typeof reading.counters?.listenOverflows, "number");
  deepStrictEqual(reading.portRange?.length, 2);
});
