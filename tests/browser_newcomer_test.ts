/**
 * What a newcomer sees at 1280 px, in Chromium: the fault control at rest, the launcher's
 * card, the socket table's close button and folded TIME_WAIT rows, an outside writer on
 * /buffers, the chat box's height, and the connection page following its newest packets.
 * Screenshots go to shots/newcomer-*.png.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { BROWSER_TEST, type Harness, open, shot, start } from "./_browser.ts";
import { closeQuietly, connect, encoder, readExactly, waitFor, writeAll } from "./_helpers.ts";

const LAPTOP = { width: 1280, height: 800 };

async function echoOnce(h: Harness, text: string): Promise<void> {
  const conn = await connect(h.port("echo"));
  try {
    await writeAll(conn, encoder.encode(text));
    await readExactly(conn, text.length);
  } finally {
    conn.close();
  }
}

Deno.test({
  name: "a newcomer's first visit at 1280 px reads right",
  ...BROWSER_TEST,
  async fn(t) {
    await using h = await start({ viewport: LAPTOP, timeoutMs: 20_000 });
    const { page } = h;

    await t.step(
      "the fault controls say 'no fault'; the launcher card says what it is",
      async () => {
        await open(h, "/", "endpoint_cards");
        const echoCard = page.locator('[data-endpoint="echo"]');
        const select = echoCard.getByLabel("Fault mode for echo");
        assertEquals(await select.inputValue(), "none");
        assertEquals((await select.locator("option:checked").innerText()).trim(), "no fault");
        assertEquals(
          await echoCard.locator('[data-fault-control] input[type="number"]').count(),
          0,
        );
        assert(!(await echoCard.innerText()).includes("200"), "no pre-filled delay on the card");
        // Picking a mode shows its parameters, pre-filled, and nothing is applied yet.
        await select.selectOption("delay");
        assertEquals(await echoCard.getByLabel(/^ms /).inputValue(), "200");
        assertEquals(h.service.tcp.get("echo")!.faults.fault?.mode ?? "none", "none");
        await select.selectOption("none");
        const head = await page.locator(".toolbar h1 + .muted").innerText();
        // The launcher's card is not an endpoint: the count leaves it out and says so.
        const cards = await page.locator(".card.endpoint").count();
        assert(head.startsWith(`${cards - 1} endpoints + the service's own client runs`), head);
        const launcher = page.locator('[data-endpoint="launcher"] [data-outgoing-note]');
        assert((await launcher.innerText()).includes("the service's own client runs"));
        await shot(h, "newcomer-overview", true);
      },
    );

    await t.step("TIME_WAIT leftovers fold into a count; the close button fits", async () => {
      for (let i = 0; i < 12; i++) await echoOnce(h, `leftover ${i}\n`);
      const conn = await connect(h.port("echo"));
      try {
        await writeAll(conn, encoder.encode("stay\n"));
        await readExactly(conn, 5);
        await open(h, "/sockets", "sockets_table");
        const folded = page.locator("[data-timewait-folded]");
        await waitFor(
          "12 folded TIME_WAIT rows",
          async () => Number(await folded.getAttribute("data-timewait-folded")) >= 12,
        );
        assert(/\d+ TIME_WAIT sockets only the kernel holds/.test(await folded.innerText()));
        assertEquals(await page.locator('tr[data-state="TIME_WAIT"]').count(), 0);
        const button = page.locator("td.act button", { hasText: "close" }).first();
        await button.waitFor();
        // The cell clips what overflows it with an ellipsis: at 4.5% of the table the button
        // overflowed by half a pixel and showed cut, with a red "…" after it.
        const [need, room] = await button.locator("xpath=..").evaluate((td) => [
          td.scrollWidth,
          td.clientWidth,
        ]);
        assert(need <= room, `the close button's cell needs ${need} px and has ${room}`);
        const box = (await button.boundingBox())!;
        const frame = (await page.locator(".table-scroll").boundingBox())!;
        assert(box.x + box.width <= frame.x + frame.width, "the button inside the table");
        await shot(h, "newcomer-sockets");
        await folded.getByRole("link", { name: "(show)" }).click();
        await page.locator('tr[data-state="TIME_WAIT"]').first().waitFor();
        assert(page.url().includes("tw=show"), page.url());
        await shot(h, "newcomer-sockets-timewait");
      } finally {
        closeQuietly(conn);
      }
    });

    await t.step("/buffers shows a writer the service did not start", async () => {
      const writer = await connect(h.port("sink"));
      // Writes until the kernels stop taking bytes; the sink does not read.
      const writing = writeAll(writer, new Uint8Array(32 << 20), 60_000).catch(() => {});
      try {
        await open(h, "/buffers", "buffers_demo");
        const row = page.locator(`[data-writer="127.0.0.1:${writer.localAddr.port}"]`);
        await row.waitFor();
        assertEquals(await row.getAttribute("data-ours"), "false");
        assert((await row.innerText()).includes("another program"));
        await waitFor(
          "the writer's bytes delivered",
          async () => /[1-9]/.test(await row.locator("td").last().innerText()),
        );
        await shot(h, "newcomer-buffers");
      } finally {
        writer.close();
        await writing;
      }
    });

    await t.step("/chat has no empty area above a few messages", async () => {
      const posted = await fetch(`${h.base}/api/chat`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "newcomer", text: "first message" }),
      });
      assertEquals(posted.status, 201, await posted.text());
      await open(h, "/chat", "chat_room");
      const box = (await page.locator(".msgs").boundingBox())!;
      const first = (await page.locator(".msgs .msg").first().boundingBox())!;
      assert(first.y - box.y < 10, `the first message sits ${first.y - box.y} px below the top`);
      assert(box.height < 150, `the message box is ${box.height} px tall for one message`);
      await shot(h, "newcomer-chat");
    });

    await t.step("the connection page opens its packet table at the newest packet", async () => {
      const conn = await connect(h.port("echo"));
      try {
        for (let i = 0; i < 40; i++) {
          const text = `line ${String(i).padStart(2, "0")}\n`;
          await writeAll(conn, encoder.encode(text));
          await readExactly(conn, text.length);
        }
        const id = h.service.registry.snapshots().find((s) =>
          s.endpoint === "echo" && s.remote?.port === conn.localAddr.port
        )!.id;
        await open(h, `/sockets/${id}`, "conn_detail");
        const table = page.locator("[data-packet-table]");
        const atEnd = () =>
          table.evaluate((el) =>
            el.scrollTop + el.clientHeight >= el.scrollHeight - 2
          );
        await waitFor("the packet table at its end", atEnd);
        const last = page.locator(".packet-table td.data", { hasText: "line 39" }).last();
        assert(await last.isVisible());
        // A new packet while at the end: the table follows it.
        await writeAll(conn, encoder.encode("line 40\n"));
        await readExactly(conn, 8);
        await page.locator(".packet-table td.data", { hasText: "line 40" }).last().waitFor();
        await waitFor("the table following the newest packet", atEnd);
        await shot(h, "newcomer-conn");
      } finally {
        closeQuietly(conn);
      }
    });
  },
});
