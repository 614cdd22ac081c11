/**
 * The labs' pages in a real browser (Debian's Chromium through
 * playwright-core): the chat room talking to a real TCP participant, fault
 * modes switched from the overview's cards, and the framing lab's read
 * boundaries. Screenshots go to shots/chat.png, shots/overview_fault.png
 * and shots/labs.png.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { BROWSER_TEST, open, shot, start } from "./_browser.ts";
import {
  closeQuietly,
  connect,
  decoder,
  encoder,
  readExactly,
  waitFor,
  writeAll,
} from "./_helpers.ts";

/** A loaded machine (the whole suite on two cores) gets this long for each wait. */
const TIMEOUT_MS = 20_000;
const ACK = "Msg received";

/** A chat message as the seed's client frames it: its byte length padded to 64 bytes, then it. */
function chatFrame(text: string): Uint8Array {
  const body = encoder.encode(text);
  const out = new Uint8Array(64 + body.length).fill(0x20, 0, 64);
  out.set(encoder.encode(String(body.length)));
  out.set(body, 64);
  return out;
}

/** Sends one chat message and reads the server's bare acknowledgement. */
async function say(conn: Deno.Conn, text: string): Promise<void> {
  await writeAll(conn, chatFrame(text));
  assertEquals(decoder.decode(await readExactly(conn, ACK.length, TIMEOUT_MS)), ACK);
}

/** Reads one relayed message: the 64-byte length header, then that many bytes. */
async function readRelay(conn: Deno.Conn): Promise<string> {
  const header = decoder.decode(await readExactly(conn, 64, TIMEOUT_MS));
  assert(/^\d+ *$/.test(header), `a relay starts with a length header: ${JSON.stringify(header)}`);
  return decoder.decode(await readExactly(conn, Number(header.trim()), TIMEOUT_MS));
}

/** Sends `text` to the echo endpoint and times the reply, in ms. */
async function timedEcho(conn: Deno.Conn, text: string): Promise<number> {
  const t0 = performance.now();
  await writeAll(conn, encoder.encode(text));
  assertEquals(decoder.decode(await readExactly(conn, text.length, TIMEOUT_MS)), text);
  return performance.now() - t0;
}

Deno.test({
  name: "the chat page posts into the room and a TCP participant gets the relay",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ timeoutMs: TIMEOUT_MS });
    const { page } = h;
    const bob = await connect(h.port("chat"));
    try {
      await say(bob, "!NAME bob");
      // Relays reach only sockets that ask for the room.
      await say(bob, "!JOIN");
      await say(bob, "hi, I am on a raw socket");
      await open(h, "/chat", "chat_room");
      await page.locator('[data-participant="bob"][data-kind="tcp"]').waitFor();
      await page.locator(".msg", { hasText: "hi, I am on a raw socket" }).waitFor();

      const text = `hello bob <img src=x onerror="window.__xss=1"> ✓`;
      await page.getByLabel("Your name").fill("alice");
      await page.getByLabel("Message", { exact: true }).fill(text);
      await page.getByRole("button", { name: "Send" }).click();
      // The page shows it (as text), and the socket gets it framed like any message.
      await page.locator('.msg[data-from="web"]', { hasText: text }).waitFor();
      assertEquals(await readRelay(bob), `[alice] ${text}`);
      await page.locator('[data-participant="alice"][data-kind="web"]').waitFor();
      assertEquals(
        await page.getByLabel("Message", { exact: true }).inputValue(),
        "",
        "the field is cleared",
      );
      const xss = await page.evaluate(() => ({
        ran: (globalThis as { __xss?: unknown }).__xss ?? null,
        imgs: document.querySelectorAll('img[src="x"]').length,
      }));
      assertEquals(JSON.stringify(xss), JSON.stringify({ ran: null, imgs: 0 }));

      // An invalid name comes back from the API and shows next to the form.
      await page.getByLabel("Your name").fill("no spaces allowed");
      await page.getByLabel("Message", { exact: true }).fill("x");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator(".chat-error", { hasText: "Invalid name" }).waitFor();
      await page.getByLabel("Your name").fill("alice");
      await page.getByLabel("Message", { exact: true }).fill("did the header arrive?");
      await page.getByRole("button", { name: "Send" }).click();
      await page.locator(".chat-error").waitFor({ state: "detached" });
      assertEquals(await readRelay(bob), "[alice] did the header arrive?");

      await say(bob, "yes: 64 bytes of length, then the text");
      await page.locator(".msg", { hasText: "64 bytes of length" }).waitFor();
      await shot(h, "chat");
    } finally {
      closeQuietly(bob);
    }
  },
});

Deno.test({
  name: "the new fault modes render on the cards, UDP's included, and apply",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ timeoutMs: TIMEOUT_MS });
    const { page } = h;
    await open(h, "/", "endpoint_cards");
    const echoCard = page.locator('[data-endpoint="echo"]');
    await echoCard.getByLabel("Fault mode for echo").selectOption("bandwidth");
    await echoCard.getByLabel(/^bytesPerSecond /).fill("5000");
    await echoCard.getByLabel("Direction of the bandwidth fault").selectOption("both");
    await echoCard.getByLabel("probability (0..1)").fill("0.5");
    await echoCard.getByRole("button", { name: "apply" }).click();
    await echoCard.locator('[data-fault-badge="bandwidth"]', {
      hasText: "fault: bandwidth 5\u202f000 B/s",
    }).waitFor();
    assertEquals(
      JSON.stringify(h.service.tcp.get("echo")!.faults.fault),
      JSON.stringify({
        mode: "bandwidth",
        bytesPerSecond: 5000,
        probability: 0.5,
        direction: "both",
      }),
    );
    await echoCard.getByLabel("Fault mode for echo").selectOption("slice");
    assertEquals(await echoCard.getByLabel(/^maxBytes /).inputValue(), "8");
    await echoCard.getByLabel("Fault mode for echo").selectOption("reset");
    await echoCard.locator('[data-fault-hint="reset"]').waitFor();

    const udpCard = page.locator('[data-endpoint="udp"]');
    const modes = await udpCard.getByLabel("Fault mode for udp").locator("option").allInnerTexts();
    assertEquals(modes.join(","), "no fault,loss,duplicate,reorder,delay");
    await udpCard.getByLabel("Fault mode for udp").selectOption("reorder");
    assertEquals(await udpCard.getByLabel("probability (0..1)").count(), 0);
    await udpCard.getByLabel(/^window /).fill("3");
    await udpCard.getByRole("button", { name: "apply" }).click();
    await udpCard.locator('[data-fault-badge="reorder"]', { hasText: "reorder ×3" }).waitFor();
    assertEquals(
      JSON.stringify(h.service.udp.get("udp")!.faults.fault),
      JSON.stringify({ mode: "reorder", window: 3 }),
    );
  },
});

Deno.test({
  name: "a fault set from an overview card shows its badge and acts on the endpoint",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ timeoutMs: TIMEOUT_MS });
    const { page } = h;
    const faultOf = (name: string) => h.service.tcp.get(name)!.faults.fault;
    await open(h, "/", "endpoint_cards");
    const echoCard = page.locator('[data-endpoint="echo"]');
    await echoCard.getByLabel("Fault mode for echo").selectOption("delay");
    await echoCard.getByLabel(/^ms /).fill("250");
    await echoCard.getByRole("button", { name: "apply" }).click();
    await echoCard.locator('[data-fault-badge="delay"]', { hasText: "fault: delay 250 ms" })
      .waitFor();
    assertEquals(JSON.stringify(faultOf("echo")), JSON.stringify({ mode: "delay", ms: 250 }));

    const conn = await connect(h.port("echo"));
    try {
      const delayed = await timedEcho(conn, "ping");
      assert(delayed >= 250, `the reply came ${delayed.toFixed(1)} ms after the request`);
      const held = h.service.registry.endpoints.get("echo")!.faults.delay;
      assertEquals(held, 1);

      // Out of bounds: the API's message shows on the card, and nothing changes.
      const appCard = page.locator('[data-endpoint="app"]');
      await appCard.getByLabel("Fault mode for app").selectOption("delay");
      await appCard.getByLabel(/^ms /).fill("70000");
      await appCard.getByRole("button", { name: "apply" }).click();
      await appCard.getByRole("alert").filter({
        hasText: '"ms" must be an integer in 0..60000: 70000',
      }).waitFor();
      assertEquals(faultOf("app").mode, "none");

      // Pause accepting on multiconn: the card and the LISTEN row say so.
      const mcCard = page.locator('[data-endpoint="multiconn"]');
      await mcCard.getByLabel("Fault mode for multiconn").selectOption("pause-accept");
      await mcCard.getByRole("button", { name: "apply" }).click();
      await mcCard.locator('[data-fault-badge="pause-accept"]', { hasText: "accept paused" })
        .waitFor();
      await page.waitForTimeout(300);
      await shot(h, "overview_fault");

      await echoCard.getByRole("button", { name: "clear" }).click();
      await echoCard.locator("[data-fault-badge]").waitFor({ state: "detached" });
      assertEquals(faultOf("echo").mode, "none");
      await timedEcho(conn, "pong");
      assertEquals(
        h.service.registry.endpoints.get("echo")!.faults.delay,
        held,
        "no write is held once the fault is cleared",
      );

      await open(h, "/sockets?endpoint=multiconn", "sockets_table");
      await page.locator('tr[data-id="l-multiconn"] [data-accept-paused]').waitFor();
      await open(h, "/", "endpoint_cards");
      await mcCard.getByRole("button", { name: "clear" }).click();
      await mcCard.locator("[data-fault-badge]").waitFor({ state: "detached" });
      await waitFor("multiconn to accept again", () => faultOf("multiconn").mode === "none");
    } finally {
      closeQuietly(conn);
    }
  },
});

Deno.test({
  name: "the labs page marks where message boundaries fell in the framing lab's reads",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ timeoutMs: TIMEOUT_MS });
    const { page } = h;
    await open(h, "/labs", "labs");
    const lab = page.locator('[data-lab="frame-delimited"]');
    const conn = await connect(h.port("frame-delimited"));
    try {
      // Two messages in one write: one read holds both.
      await writeAll(conn, encoder.encode("one#*#two#*#"));
      assertEquals(decoder.decode(await readExactly(conn, 12, TIMEOUT_MS)), "one#*#two#*#");
      const merged = lab.locator(".read-in", {
        hasText: "message 1 complete (6 B), message 2 complete (6 B)",
      });
      await merged.waitFor();
      assertEquals(await merged.locator(".piece-whole").count(), 2);

      // One message over two writes: the first read starts it, the second ends it.
      await writeAll(conn, encoder.encode("thr"));
      const started = lab.locator(".read-in", { hasText: "message 3 started (3 of ? B)" });
      await started.waitFor();
      assertEquals(await started.locator(".piece-head").count(), 1);
      await writeAll(conn, encoder.encode("ee#*#"));
      assertEquals(decoder.decode(await readExactly(conn, 8, TIMEOUT_MS)), "three#*#");
      const ended = lab.locator(".read-in", {
        hasText: "message 3 complete (8 B, began in an earlier read)",
      });
      await ended.waitFor();
      assertEquals(await ended.locator(".piece-tail").count(), 1);
      await lab.locator(".read-out", { hasText: "echo of messages 1–2" }).waitFor();

      // The counters follow the traffic: 12 + 3 + 5 bytes in.
      await lab.locator(".lab-stats dd.c-in", { hasText: "20 B" }).waitFor();

      // http-hello opens in the browser.
      const link = page.locator('[data-lab="http-hello"] [data-open-browser]');
      assertEquals(await link.getAttribute("href"), `http://127.0.0.1:${h.port("http-hello")}/`);
      const [tab] = await Promise.all([page.context().waitForEvent("page"), link.click()]);
      await tab.waitForLoadState();
      assert((await tab.content()).includes("GET / HTTP/1.1"), "the page echoes the request");
      await tab.close();

      // The other framings, for the screenshot: two records in one read, a prefix split across
      // reads, a message ended by the close.
      const fixed = await connect(h.port("frame-fixed"));
      const prefixed = await connect(h.port("frame-prefixed"));
      const close = await connect(h.port("frame-close"));
      try {
        await writeAll(fixed, encoder.encode("hello".padEnd(30, "#") + "world".padEnd(30, "#")));
        await readExactly(fixed, 60, TIMEOUT_MS);
        await writeAll(prefixed, encoder.encode("00005hel"));
        await page.locator('[data-lab="frame-prefixed"] .read-in').waitFor();
        await writeAll(prefixed, encoder.encode("lo00003abc0"));
        await readExactly(prefixed, 18, TIMEOUT_MS);
        await writeAll(close, encoder.encode("hello, until I close"));
        await close.closeWrite();
        await readExactly(close, 20, TIMEOUT_MS);
        await page.locator('[data-lab="frame-prefixed"] .piece-tail').waitFor();
        await page.locator('[data-lab="frame-close"] .read-in').waitFor();
      } finally {
        for (const c of [fixed, prefixed, close]) closeQuietly(c);
      }
      await page.evaluate(() => scrollTo(0, 0));
      await shot(h, "labs", true);
    } finally {
      closeQuietly(conn);
    }
  },
});
