import { strictEqual } from "node:assert/strict";
import { AddressNames, formatIPv6, portFilter, stateName, timerName } from "./_row.ts";

const v6 = (text: string) => {
  const groups = text.split(":").map((g) => parseInt(g, 16));
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
};

Deno.test("formatIPv6() writes RFC 5952 text as Deno prints addresses", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["fe80:0:0:0:a00:27ff:fe4e:66a1", "fe80::a00:27ff:fe4e:66a1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["0:0:0:0:0:ffff:a00:1", "::ffff:10.0.0.1"],
    ["0:0:0:0:0:0:7f00:1", "::7f00:1"],
    ["ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ];
  for (const [groups, text] of cases) strictEqual(formatIPv6(v6(groups), 0), text);
});

Deno.test("AddressNames tells apart addresses sharing their last word", () => {
  const names = new AddressNames();
  strictEqual(names.ipv6(v6("2001:db8:0:0:0:0:0:1"), 0), "2001:db8::1");
  strictEqual(names.ipv6(v6("0:0:0:0:0:0:0:1"), 0), "::1");
  strictEqual(names.ipv6(v6("2001:db8:0:0:0:0:0:1"), 0), "2001:db8::1");
  strictEqual(names.ipv4(new Uint8Array([10, 0, 0, 255]), 0), "10.0.0.255");
});

Deno.test("stateName() and timerName() use ss's names", () => {
  strictEqual(stateName("udp", 7), "UNCONN");
  strictEqual(stateName("tcp", 7), "CLOSE");
  strictEqual(stateName("udp", 1), "ESTABLISHED");
  strictEqual(stateName("tcp", 10), "LISTEN");
  strictEqual(stateName("tcp", 13), undefined);
  strictEqual(timerName(4), "persist");
  strictEqual(timerName(9), "unknown");
});

Deno.test("portFilter() keeps a row when either port is wanted", () => {
  const keep = portFilter([80, 443]);
  strictEqual(keep(80, 50000), true);
  strictEqual(keep(50000, 443), true);
  strictEqual(keep(8080, 50000), false);
});
