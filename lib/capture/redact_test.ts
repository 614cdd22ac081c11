import { deepStrictEqual, notStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { Redactor } from "./redact.ts";
import type { PacketSource } from "./packet_log.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder("latin1");
const SECRET = "3f2b8e4a-9c1d-4e7f-8a6b-2d5c9e1f0a7b";

function source(id = "c1"): PacketSource {
  return { id, endpoint: "http-hello" };
}

/** How many of the secret's bytes, in order from its start, `recorded` shows at `at`. */
function shown(recorded: string, at: number): number {
  let n = 0;
  while (n < SECRET.length && recorded[at + n] === SECRET[n]) n++;
  return n;
}

Deno.test("Redactor returns the very chunk when the secret is not in it", () => {
  const r = new Redactor(SECRET);
  const chunk = utf8.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100));
  strictEqual(r.bytes(source(), "in", chunk), chunk);
  const random = crypto.getRandomValues(new Uint8Array(65536));
  strictEqual(r.bytes(source(), "in", random), random);
  strictEqual(r.redacted, 0);
});

Deno.test("Redactor masks every whole secret in a copy of the same length", () => {
  const r = new Redactor(SECRET);
  const original = `Cookie: sockscope_token=${SECRET}; other=1\r\nX: ${SECRET}${SECRET}\r\n`;
  const chunk = utf8.encode(original);
  const masked = r.bytes(source(), "in", chunk);
  notStrictEqual(masked, chunk);
  strictEqual(text.decode(chunk), original, "the endpoint's bytes are untouched");
  const stars = "*".repeat(SECRET.length);
  strictEqual(
    text.decode(masked),
    `Cookie: sockscope_token=${stars}; other=1\r\nX: ${stars}${stars}\r\n`,
  );
  strictEqual(r.redacted, 1);
});

Deno.test("Redactor masks overlapping occurrences of a periodic secret", () => {
  const r = new Redactor("abab");
  deepStrictEqual(
    text.decode(r.bytes(source(), "in", utf8.encode("xababab_abab"))),
    "x******_****",
  );
});

Deno.test("Redactor finds a secret split across two chunks at every point", () => {
  const tailMin = 8;
  for (let k = 1; k < SECRET.length; k++) {
    const r = new Redactor(SECRET);
    const src = source();
    const a = utf8.encode(`Cookie: sockscope_token=${SECRET.slice(0, k)}`);
    const b = utf8.encode(`${SECRET.slice(k)}; x=1\r\n\r\n`);
    // Another connection and the other direction are streams of their own.
    r.bytes(source("c2"), "in", utf8.encode("unrelated"));
    r.bytes(src, "out", utf8.encode("HTTP/1.1 200 OK\r\n"));
    const recorded = text.decode(r.bytes(src, "in", a)) + text.decode(r.bytes(src, "in", b));
    const at = "Cookie: sockscope_token=".length;
    ok(!recorded.includes(SECRET), `split at ${k}`);
    // What the first chunk ended with is masked from tailMin bytes on; the rest always is.
    strictEqual(shown(recorded, at), k < tailMin ? k : 0, `split at ${k}: ${recorded}`);
    strictEqual(recorded.slice(at + k, at + SECRET.length), "*".repeat(SECRET.length - k));
    strictEqual(
      recorded.slice(0, at) + recorded.slice(at + SECRET.length),
      text.decode(a).slice(0, at) + "; x=1\r\n\r\n",
    );
  }
});

Deno.test("Redactor masks a secret sent one byte at a time, but for its first bytes", () => {
  const r = new Redactor(SECRET);
  const src = source();
  const sent = `x${SECRET}y`;
  let recorded = "";
  for (const byte of utf8.encode(sent)) {
    recorded += text.decode(r.bytes(src, "in", new Uint8Array([byte])));
  }
  strictEqual(recorded, `x${SECRET.slice(0, 7)}${"*".repeat(SECRET.length - 7)}y`);
});

Deno.test("Redactor leaves a chunk that only ends with a short beginning of the secret", () => {
  const r = new Redactor(SECRET);
  const src = source();
  // Seven bytes: kept; the next chunk does not go on with the secret, and is not changed.
  const a = utf8.encode(`data ${SECRET.slice(0, 7)}`);
  strictEqual(r.bytes(src, "in", a), a);
  const b = utf8.encode("not the rest");
  strictEqual(r.bytes(src, "in", b), b);
  // Eight bytes are masked in case the rest follows (the cost: a false positive that rare).
  strictEqual(
    text.decode(r.bytes(src, "in", utf8.encode(`data ${SECRET.slice(0, 8)}`))),
    "data ********",
  );
});

Deno.test("Redactor finds secrets in random data cut at random points", () => {
  const r = new Redactor(SECRET);
  for (let round = 0; round < 50; round++) {
    const src = source(`c${round}`);
    const parts: string[] = [];
    for (let i = 0; i < 20; i++) {
      parts.push(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(40))));
      parts.push(SECRET);
    }
    const stream = Uint8Array.from(parts.join(""), (c) => c.charCodeAt(0));
    let recorded = "";
    for (let at = 0; at < stream.length;) {
      const n = 1 + Math.floor(Math.random() * 100);
      const chunk = stream.slice(at, at + n);
      const masked = r.bytes(src, "in", chunk);
      strictEqual(masked.length, chunk.length);
      recorded += text.decode(masked);
      at += n;
    }
    strictEqual(recorded.length, stream.length);
    for (
      let at = recorded.indexOf(SECRET[0]);
      at !== -1;
      at = recorded.indexOf(SECRET[0], at + 1)
    ) {
      ok(
        shown(recorded, at) < 8,
        `round ${round}: ${shown(recorded, at)} bytes of the secret shown`,
      );
    }
  }
});

Deno.test("Redactor masks the secret in text, and refuses an empty one", () => {
  const r = new Redactor(SECRET);
  strictEqual(
    r.text(`HTTP request: GET /?token=${SECRET} HTTP/1.1`),
    `HTTP request: GET /?token=${"*".repeat(SECRET.length)} HTTP/1.1`,
  );
  // A summary that cut the secret short at its end, or at its start.
  strictEqual(
    r.text(`No match for "${SECRET.slice(0, 26)}…"`),
    `No match for "${"*".repeat(26)}…"`,
  );
  strictEqual(r.text(`…${SECRET.slice(-9)}!`), `…${"*".repeat(9)}!`);
  // Seven characters are not enough to say it is the secret.
  strictEqual(r.text(`${SECRET.slice(0, 7)}`), SECRET.slice(0, 7));
  const plain = "nothing to see";
  strictEqual(r.text(plain), plain);
  throws(() => new Redactor(""), RangeError);
});
