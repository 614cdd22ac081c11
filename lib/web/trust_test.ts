import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  bearerToken,
  checkHost,
  checkMutation,
  cookieValue,
  hostName,
  isLoopback,
  parseIp,
  TokenCheck,
} from "./trust.ts";

Deno.test("parseIp() reads IPv4 and IPv6 literals strictly and nothing else", () => {
  deepStrictEqual(parseIp("127.0.0.1"), new Uint8Array([127, 0, 0, 1]));
  deepStrictEqual(parseIp("::1"), new Uint8Array([...new Array(15).fill(0), 1]));
  deepStrictEqual(parseIp("[::1]"), parseIp("0:0:0:0:0:0:0:1"));
  deepStrictEqual(
    parseIp("::ffff:127.0.0.2"),
    new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 2]),
  );
  deepStrictEqual(parseIp("fe80::1:2")?.slice(0, 2), new Uint8Array([0xfe, 0x80]));
  for (
    const text of [
      "127.1",
      "0177.0.0.1",
      "127.0.0.256",
      "127.0.0.1.",
      "127.evil.example",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::1%lo",
      "1.2.3.4::1",
      "::12345",
      ":1",
      "[127.0.0.1]",
      "localhost",
      "",
    ]
  ) {
    strictEqual(parseIp(text), null, text);
  }
});

Deno.test("isLoopback() takes addresses in 127/8, ::1, ::ffff:127/104 and only the name localhost", () => {
  for (
    const host of ["127.0.0.1", "127.255.3.4", "::1", "[::1]", "::ffff:127.0.0.1", "localhost"]
  ) {
    strictEqual(isLoopback(host), true, host);
  }
  for (
    const host of [
      "127.evil.example",
      "127.0.0.1.evil.example",
      "localhost.evil.example",
      "evil-localhost",
      "::1.evil.example",
      "::2",
      "::ffff:10.0.0.1",
      "0.0.0.0",
      "::",
      "10.0.0.1",
      "127.1",
    ]
  ) {
    strictEqual(isLoopback(host), false, host);
  }
});

Deno.test("hostName() drops the port and refuses what is not host[:port]", () => {
  strictEqual(hostName("127.0.0.1:8000"), "127.0.0.1");
  strictEqual(hostName("[::1]:8000"), "[::1]");
  strictEqual(hostName("[::1]"), "[::1]");
  strictEqual(hostName("LocalHost"), "localhost");
  for (const header of ["", "a b", "x:99999", "::1", "user@host", "a/b", "host:"]) {
    strictEqual(hostName(header), null, header);
  }
});

Deno.test("checkHost() takes the bound address, localhost and --allow-host names, with or without a port", () => {
  const v4 = { bind: "127.0.0.1", allowHosts: ["box.lan", "10.1.2.3"] };
  for (
    const host of [
      "127.0.0.1",
      "127.0.0.1:8000",
      "localhost:8000",
      "LOCALHOST",
      "box.lan:1",
      "10.1.2.3",
    ]
  ) {
    strictEqual(checkHost(host, v4), null, host);
  }
  for (
    const host of ["evil.example", "evil.example:8000", "127.0.0.2", "[::1]", "box.lan.evil", null]
  ) {
    strictEqual(checkHost(host, v4)?.status, 421, String(host));
  }
  strictEqual(
    checkHost("evil.example:8000", v4)?.error,
    'Misdirected request: host "evil.example:8000" is not 127.0.0.1, localhost or a name given with --allow-host',
  );
  const v6 = { bind: "::1" };
  strictEqual(
    checkHost("evil.example", v6)?.error,
    'Misdirected request: host "evil.example" is not [::1], localhost or a name given with --allow-host',
  );
  strictEqual(
    checkHost(null, { bind: "0.0.0.0" })?.error,
    'Misdirected request: host "" is not an IP address, localhost or a name given with --allow-host',
  );
  strictEqual(
    checkHost("evil.example", { bind: "box.lan" })?.error,
    'Misdirected request: host "evil.example" is not box.lan, an IP address, localhost or a name given with --allow-host',
  );
  strictEqual(checkHost("[::1]:8000", v6), null);
  strictEqual(checkHost("[0:0::1]", v6), null);
  strictEqual(checkHost("127.0.0.1", v6)?.status, 421);
});

Deno.test("checkHost() bound to a wildcard or a name takes any IP literal but no other name", () => {
  for (const bind of ["0.0.0.0", "::", "myhost.lan"]) {
    for (const host of ["192.168.1.5:8000", "[fe80::1]", "127.0.0.1", "localhost"]) {
      strictEqual(checkHost(host, { bind }), null, `${bind} ${host}`);
    }
    strictEqual(checkHost("evil.example", { bind })?.status, 421, bind);
  }
  strictEqual(checkHost("myhost.lan:8000", { bind: "myhost.lan" }), null);
});

function headers(init: Record<string, string>): Headers {
  return new Headers(init);
}

Deno.test("checkMutation() lets safe methods and same-origin or Origin-less JSON through", () => {
  const json = { "content-type": "application/json", "content-length": "2" };
  strictEqual(checkMutation("GET", headers({ origin: "http://evil.example" }), "h:1"), null);
  strictEqual(checkMutation("HEAD", headers({ "sec-fetch-site": "cross-site" }), "h:1"), null);
  strictEqual(checkMutation("POST", headers(json), "127.0.0.1:8000"), null);
  strictEqual(
    checkMutation(
      "POST",
      headers({
        ...json,
        "content-type": "Application/JSON; charset=utf-8",
        origin: "http://127.0.0.1:8000",
        "sec-fetch-site": "same-origin",
      }),
      "127.0.0.1:8000",
    ),
    null,
  );
  // A bodiless POST (curl -X POST …/close) needs no type.
  strictEqual(checkMutation("POST", headers({}), "h"), null);
  strictEqual(checkMutation("POST", headers({ "content-length": "0" }), "h"), null);
  strictEqual(checkMutation("POST", headers({ "sec-fetch-site": "none" }), "h"), null);
});

Deno.test("checkMutation() refuses another site 403 and any body but JSON 415", () => {
  const cases: [string, Record<string, string>, number, string][] = [
    ["POST", { "sec-fetch-site": "cross-site" }, 403, 'Sec-Fetch-Site is "cross-site"'],
    // Another port of the same host is the same site, not the same origin.
    ["DELETE", { "sec-fetch-site": "same-site" }, 403, 'Sec-Fetch-Site is "same-site"'],
    ["POST", { origin: "http://127.0.0.1:18390" }, 403, 'origin "http://127.0.0.1:18390"'],
    ["PUT", { origin: "null" }, 403, 'origin "null"'],
    ["POST", { origin: "http://evil.example" }, 403, "is not this dashboard's"],
    [
      "PATCH",
      { "content-type": "text/plain;charset=UTF-8" },
      415,
      'Unsupported content type "text/plain;charset=UTF-8": send application/json',
    ],
    ["POST", { "content-type": "application/x-www-form-urlencoded" }, 415, "urlencoded"],
    ["POST", { "content-type": "application/jsonx" }, 415, "jsonx"],
    ["POST", { "content-length": "16" }, 415, "none given"],
    ["POST", { "transfer-encoding": "chunked" }, 415, "none given"],
  ];
  for (const [method, init, status, part] of cases) {
    const refused = checkMutation(method, headers(init), "127.0.0.1:8000");
    strictEqual(refused?.status, status, JSON.stringify(init));
    strictEqual(refused.error.includes(part), true, refused.error);
  }
});

Deno.test("cookieValue() matches the cookie name exactly", () => {
  strictEqual(cookieValue("sockscope_token=abc", "sockscope_token"), "abc");
  strictEqual(cookieValue("a=1; sockscope_token=abc ; b=2", "sockscope_token"), "abc");
  strictEqual(cookieValue("xsockscope_token=abc", "sockscope_token"), undefined);
  strictEqual(
    cookieValue("sockscope_token_x=abc; a=sockscope_token=1", "sockscope_token"),
    undefined,
  );
  strictEqual(cookieValue(undefined, "sockscope_token"), undefined);
});

Deno.test("bearerToken() reads only an Authorization: Bearer header", () => {
  strictEqual(bearerToken("Bearer abc"), "abc");
  strictEqual(bearerToken("bearer abc"), "abc");
  strictEqual(bearerToken("Basic abc"), undefined);
  strictEqual(bearerToken("xBearer abc"), undefined);
  strictEqual(bearerToken(null), undefined);
});

Deno.test("TokenCheck.matches() takes the token and nothing else", async () => {
  const check = new TokenCheck("s3cret");
  strictEqual(await check.matches("s3cret"), true);
  for (const given of [undefined, "", "s3cre", "s3cret ", "S3cret", "s3cretx"]) {
    strictEqual(await check.matches(given), false, String(given));
  }
  strictEqual(await new TokenCheck("").matches(undefined), false);
});
