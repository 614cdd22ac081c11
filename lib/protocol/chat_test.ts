import assert from "node:assert/strict";
import {
  CHAT_ACK,
  CHAT_HEADER_LENGTH,
  chatAck,
  ChatEventDecoder,
  ChatMessageDecoder,
  encodeChatMessage,
  encodeChatRelay,
  isChatName,
} from "./chat.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The seed's client: str(len) padded with spaces to 64 bytes, then the message. */
function seedFrame(message: string): Uint8Array {
  const body = encoder.encode(message);
  const header = encoder.encode(String(body.length).padEnd(64, " "));
  const out = new Uint8Array(header.length + body.length);
  out.set(header);
  out.set(body, header.length);
  return out;
}

function decodeAll(chunks: Uint8Array[]): string[] {
  const d = new ChatMessageDecoder();
  const out: string[] = [];
  for (const c of chunks) {
    const r = d.push(c);
    assert.equal(r.error, null, r.error?.message);
    out.push(...r.messages.map((m) => decoder.decode(m)));
  }
  return out;
}

Deno.test("encodeChatMessage() writes what the seed's client writes", () => {
  assert.deepEqual(encodeChatMessage("Hello World!"), seedFrame("Hello World!"));
  assert.equal(encodeChatMessage("é").length, CHAT_HEADER_LENGTH + 2);
});

Deno.test("ChatMessageDecoder decodes the seed's frames one byte at a time", () => {
  const wire = [...seedFrame("Hello World!"), ...seedFrame(""), ...seedFrame("!DISCONNECT")];
  const chunks = wire.map((b) => new Uint8Array([b]));
  assert.deepEqual(decodeAll(chunks), ["Hello World!", "", "!DISCONNECT"]);
});

Deno.test("ChatMessageDecoder decodes several frames in one chunk", () => {
  const wire = new Uint8Array([...seedFrame("a"), ...seedFrame("bc"), ...seedFrame("def")]);
  assert.deepEqual(decodeAll([wire]), ["a", "bc", "def"]);
});

Deno.test("ChatMessageDecoder reports the message in progress", () => {
  const d = new ChatMessageDecoder();
  const frame = seedFrame("hello");
  d.push(frame.subarray(0, 20));
  assert.equal(d.progress, "header 20 of 64 B");
  d.push(frame.subarray(20, 66));
  assert.equal(d.progress, "header complete (length 5), body 2 of 5 B");
  assert.equal(d.buffered, 66);
  d.push(frame.subarray(66));
  assert.equal(d.progress, null);
});

Deno.test("ChatMessageDecoder accepts right-aligned digits as Python's int() does", () => {
  const header = encoder.encode("3".padStart(64, " "));
  assert.deepEqual(decodeAll([header, encoder.encode("abc")]), ["abc"]);
});

Deno.test("ChatMessageDecoder rejects a header that is not a length", () => {
  const d = new ChatMessageDecoder();
  const r = d.push(encoder.encode("hello".padEnd(64, " ")));
  assert.equal(r.error?.kind, "header");
  assert.equal(
    r.error?.message,
    'Cannot parse chat header: "hello" is not a length in ASCII digits padded to 64 bytes',
  );
});

Deno.test("ChatMessageDecoder bounds the declared length", () => {
  const d = new ChatMessageDecoder({ maxMessage: 10 });
  const r = d.push(encoder.encode("11".padEnd(64, " ")));
  assert.equal(r.error?.kind, "too-large");
  assert.match(r.error!.message, /length "11" exceeds the limit of 10/);
});

Deno.test("ChatEventDecoder tells acknowledgements, relays and text apart, however split", () => {
  const wire = new Uint8Array([
    ...chatAck(),
    ...encodeChatRelay("alice", "hi [there]"),
    ...chatAck(),
    ...encoder.encode("Error: something\n"),
  ]);
  for (const size of [1, 7, wire.length]) {
    const d = new ChatEventDecoder();
    const events = [];
    for (let i = 0; i < wire.length; i += size) events.push(...d.push(wire.subarray(i, i + size)));
    events.push(...d.end());
    assert.deepEqual(events, [
      { kind: "ack" },
      { kind: "relay", name: "alice", text: "hi [there]" },
      { kind: "ack" },
      { kind: "text", text: "Error: something" },
    ], `chunks of ${size}`);
  }
});

Deno.test("chatAck() is the seed's bare acknowledgement", () => {
  assert.equal(decoder.decode(chatAck()), CHAT_ACK);
  assert.equal(CHAT_ACK, "Msg received");
});

Deno.test("isChatName() takes addresses and short names, not spaces or brackets", () => {
  assert.equal(isChatName("127.0.0.1:5555"), true);
  assert.equal(isChatName("Zoë_2"), true);
  assert.equal(isChatName(""), false);
  assert.equal(isChatName("a b"), false);
  assert.equal(isChatName("[x]"), false);
  assert.equal(isChatName("x".repeat(33)), false);
});
