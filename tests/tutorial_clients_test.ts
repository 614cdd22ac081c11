/**
 * The tutorial's own clients (our Python versions of echo-client,
 * multiconn-client and app-client with libclient) work unchanged against the
 * service: same bytes on the wire, same output.
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { HOST, runTutorial, startService, waitFor } from "./_helpers.ts";

Deno.test("echo client prints the greeting the echo endpoint sent back", async () => {
  await using svc = startService();
  const out = await runTutorial("echo_client.py", [HOST, String(svc.port("echo"))]);
  strictEqual(out.stderr, "");
  strictEqual(out.code, 0);
  strictEqual(out.stdout, "Received b'Hello, world'\n");
});

Deno.test("multiconn client gets both messages back on every connection", async () => {
  await using svc = startService();
  const port = svc.port("multiconn");
  const conns = 5;
  const out = await runTutorial("multiconn_client.py", [HOST, String(port), String(conns)]);
  strictEqual(out.stderr, "");
  strictEqual(out.code, 0, out.stdout);
  const lines = out.stdout.trimEnd().split("\n");
  // The order of sends and receives across connections depends on timing; what each
  // connection sent, received and closed does not.
  for (let id = 1; id <= conns; id++) {
    strictEqual(lines[id - 1], `starting connection ${id} to ('${HOST}', ${port})`);
    const sent = lines.filter((l) => l.endsWith(` to connection ${id}`));
    deepStrictEqual(sent, [
      `sending b'Message 1 from client.' to connection ${id}`,
      `sending b'Message 2 from client.' to connection ${id}`,
    ]);
    const received = lines
      .filter((l) => l.startsWith("received b'") && l.endsWith(` from connection ${id}`))
      .map((l) => l.slice("received b'".length, -`' from connection ${id}`.length))
      .join("");
    strictEqual(received, "Message 1 from client.Message 2 from client.");
    strictEqual(lines.filter((l) => l === `closing connection ${id}`).length, 1);
  }
  const endpoint = (await svc.endpoints()).multiconn;
  strictEqual(endpoint.accepted, conns);
  strictEqual(endpoint.bytesIn, conns * 44);
  strictEqual(endpoint.bytesOut, conns * 44);
});

const APP_CASES = [
  {
    args: ["search", "morpheus"],
    request: `b'\\x00g{"byteorder": "little", "content-type": "text/json", ` +
      `"content-encoding": "utf-8", "content-length": 41}{"action": "search", "value": "morpheus"}'`,
    answer: [
      "received response {'result': 'Follow the white rabbit. 🐰'} from ADDR",
      "got result: Follow the white rabbit. 🐰",
    ],
  },
  {
    args: ["search", "🐶"],
    request: `b'\\x00g{"byteorder": "little", "content-type": "text/json", ` +
      `"content-encoding": "utf-8", "content-length": 37}` +
      `{"action": "search", "value": "\\xf0\\x9f\\x90\\xb6"}'`,
    answer: [
      "received response {'result': '🐾 Playing ball! 🏐'} from ADDR",
      "got result: 🐾 Playing ball! 🏐",
    ],
  },
  {
    args: ["binary", "😃"],
    request: `b'\\x00\\x7f{"byteorder": "little", "content-type": ` +
      `"binary/custom-client-binary-type", "content-encoding": "binary", "content-length": 10}` +
      `binary\\xf0\\x9f\\x98\\x83'`,
    answer: [
      "received binary/custom-server-binary-type response from ADDR",
      "got response: b'First 10 bytes of request: binary\\xf0\\x9f\\x98\\x83'",
    ],
  },
];

for (const { args, request, answer } of APP_CASES) {
  Deno.test(`app client "${args.join(" ")}" prints the tutorial's answer and closes`, async () => {
    await using svc = startService();
    const port = svc.port("app");
    const addr = `('${HOST}', ${port})`;
    const out = await runTutorial("app_client.py", [HOST, String(port), ...args]);
    strictEqual(out.stderr, "");
    strictEqual(out.code, 0, out.stdout);
    deepStrictEqual(out.stdout.trimEnd().split("\n"), [
      `starting connection to ${addr}`,
      `sending ${request} to ${addr}`,
      ...answer.map((line) => line.replace("ADDR", addr)),
      `closing connection to ${addr}`,
    ]);
    // The client closed after one answer; the server follows and holds nothing.
    await waitFor(
      "app connections back to 0",
      async () => (await svc.endpoints()).app.connections === 0,
    );
    strictEqual((await svc.endpoints()).app.errors.protocol, undefined);
  });
}
