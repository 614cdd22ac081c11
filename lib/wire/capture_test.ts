import { strictEqual } from "node:assert/strict";
import { interfaceFor } from "./capture.ts";

Deno.test("interfaceFor() picks lo for loopback, every interface for a wildcard, else by address", () => {
  const interfaces = [{ name: "eth0", address: "10.0.0.5" }, { name: "eth1", address: "fd00::5" }];
  strictEqual(interfaceFor("127.0.0.1"), "lo");
  strictEqual(interfaceFor("127.1.2.3"), "lo");
  strictEqual(interfaceFor("[::1]"), "lo");
  strictEqual(interfaceFor("localhost"), "lo");
  strictEqual(interfaceFor("0.0.0.0"), "");
  strictEqual(interfaceFor("::"), "");
  strictEqual(interfaceFor("10.0.0.5", interfaces), "eth0");
  strictEqual(interfaceFor("fd00::5", interfaces), "eth1");
  strictEqual(interfaceFor("192.0.2.1", interfaces), undefined);
});
