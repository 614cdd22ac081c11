import assert from "node:assert/strict";
import { ENDPOINTS } from "../net/endpoint_table.ts";
import { Service } from "../net/service.ts";
import type { ChatEvent } from "../protocol/chat.ts";
import { chat } from "./chat.ts";
import { closedPort, startSilentServer } from "../../tests/_test_servers.ts";

/** A service with every endpoint on port 0; the chat endpoint is the one under test. */
function startChat(): { service: Service; port: number } & AsyncDisposable {
  const service = new Service({ ports: Object.fromEntries(ENDPOINTS.map((e) => [e.name, 0])) });
  return {
    service,
    port: service.tcp.get("chat")!.port,
    [Symbol.asyncDispose]: () => service.close(),
  };
}

Deno.test("chat() sends each message, counts its acknowledgement and leaves", async () => {
  await using room = startChat();
  const events: ChatEvent[] = [];
  const result = await chat(["Hello World!", "Hello Everyone!"], {
    port: room.port,
    name: "tim",
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.ok, true, result.error);
  assert.equal(result.sent, 5, "!NAME, !JOIN, two messages, !DISCONNECT");
  assert.equal(result.acks, 5);
  assert.equal(result.disconnected, true);
  assert.deepEqual(events, Array(5).fill({ kind: "ack" }));
  const said = room.service.chat.snapshot().messages.map((m) => [m.name, m.text]);
  assert.deepEqual(said, [["tim", "Hello World!"], ["tim", "Hello Everyone!"]]);
});

Deno.test("chat() reports relays from the other participants", async () => {
  await using room = startChat();
  const listening = chat([], { port: room.port, name: "bob", waitMs: 400 });
  // The relay goes to whoever joined the room: wait until bob has (carol only listens for acks).
  const deaf = chat([], { port: room.port, name: "carol", waitMs: 400, join: false });
  const inRoom = (name: string, joined: boolean) =>
    room.service.chat.snapshot().participants.some((p) => p.name === name && p.joined === joined);
  for (let i = 0; !inRoom("bob", true) || !inRoom("carol", false); i++) {
    assert.ok(i < 300, "bob and carol did not arrive within 3 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const talking = await chat(["hi bob"], { port: room.port, name: "alice" });
  assert.equal(talking.ok, true, talking.error);
  const heard = await listening;
  assert.equal(heard.ok, true, heard.error);
  assert.deepEqual(heard.relays, [{ name: "alice", text: "hi bob" }]);
  const [said] = room.service.chat.snapshot().messages;
  assert.deepEqual([said.text, said.relayedTo], ["hi bob", 1]);
  const unheard = await deaf;
  assert.deepEqual([unheard.ok, unheard.sent, unheard.acks, unheard.relays], [true, 2, 2, []]);
});

Deno.test("chat() stops at a !DISCONNECT in its input", async () => {
  await using room = startChat();
  const result = await chat(["one", "!DISCONNECT", "never sent"], { port: room.port });
  assert.equal(result.ok, true);
  assert.equal(result.sent, 3, "!JOIN, one, !DISCONNECT");
  assert.deepEqual(room.service.chat.snapshot().messages.map((m) => m.text), ["one"]);
});

Deno.test("chat() fails with TimedOut when no acknowledgement comes", async () => {
  await using server = startSilentServer();
  const result = await chat(["anyone?"], { port: server.port, timeoutMs: 100 });
  assert.equal(result.ok, false);
  assert.match(result.error!, /No "Msg received" within 100 ms/);
});

Deno.test("chat() rejects a refused connect and a bad name", async () => {
  await assert.rejects(chat([], { port: closedPort() }), Deno.errors.ConnectionRefused);
  await assert.rejects(chat([], { port: 1, name: "two words" }), {
    name: "RangeError",
    message: /Invalid name: "two words"/,
  });
});
