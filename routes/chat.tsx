import { tryItLine } from "../lib/net/endpoint_table.ts";
import { chat } from "../lib/net/endpoints/chat.ts";
import { definePage, page } from "../lib/web/page.tsx";
import ChatRoom, { HISTORY } from "../islands/chat_room.tsx";

/** Ways to join from a shell, beyond the endpoint's own try-it lines. */
const JOIN = [
  "deno task client chat --port {port} --name alice",
  'while IFS= read -r l; do printf \'%-64s%s\' "$(printf %s "$l" | wc -c)" "$l"; done | nc {host} {port}',
  "printf '%-64s%s' 11 '!DISCONNECT' | nc -q1 {host} {port}",
];

export const handler = definePage.handlers({
  GET({ state }) {
    const { service, dashboard } = state;
    const addr = service.registry.endpoints.get(chat.name)?.address ?? null;
    const lines = [...chat.tryIt, ...JOIN];
    return page({
      address: addr,
      tryIt: addr === null ? [] : [
        ...new Set(
          lines.map((l) => tryItLine(l, addr.hostname, addr.port, dashboard, state.client)),
        ),
      ],
      room: service.chat.snapshot(HISTORY),
      now: Date.now(),
    }, { title: "Chat" });
  },
});

export default definePage.page<typeof handler>(function ChatPage({ data }) {
  return (
    <>
      <div class="page-head">
        <h1>Chat room</h1>
        <p class="lede">
          The threaded chat server of seed 003. A TCP stream has no message boundaries, so each
          message travels behind a 64-byte header holding its length in ASCII digits; the server
          answers every one with <code>Msg received</code> and ends the session on{" "}
          <code>!DISCONNECT</code>, and sends nothing else, so the seed's client works unchanged
          however many run at once. Beyond the seed, this page shows every message, and a socket
          that sends <code>!JOIN</code> gets each one relayed, framed the same way as{" "}
          <code>[name] text</code>. Post here as a participant of your own, or join from a shell.
        </p>
      </div>
      <ChatRoom
        address={data.address}
        tryIt={data.tryIt}
        participants={data.room.participants}
        messages={data.room.messages}
        now={data.now}
      />
    </>
  );
});
