/**
 * The socket table names each socket's owning process and shows the kernel's tcp_info as
 * optional columns, at 1280 px: an `nc` talking to echo is found by name and pid, with its
 * RTT, retransmits and cwnd, and every column still fits. Screenshots go to
 * shots/sockets-columns-*.png.
 *
 * Needs /usr/bin/chromium and nc; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { BROWSER_TEST, open, shot, start } from "./_browser.ts";
import { waitFor } from "./_helpers.ts";

const LAPTOP = { width: 1280, height: 800 };

/** Reads a child's stdout until it holds `text`, or fails after `ms`. */
async function readUntil(
  stream: ReadableStream<Uint8Array>,
  text: string,
  ms: number,
): Promise<void> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let seen = "";
  const timer = setTimeout(() => reader.cancel().catch(() => {}), ms);
  try {
    while (!seen.includes(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`nc's output ended without "${text}": "${seen}"`);
      seen += decoder.decode(value, { stream: true });
    }
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

Deno.test({
  name: "/sockets names the nc on the other end and shows its RTT, retransmits and cwnd",
  ...BROWSER_TEST,
  async fn(t) {
    await using h = await start({ viewport: LAPTOP, timeoutMs: 20_000 });
    const { page } = h;
    const nc = new Deno.Command("nc", {
      args: ["127.0.0.1", String(h.port("echo"))],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const writer = nc.stdin.getWriter();
      await writer.write(new TextEncoder().encode("hello from nc\n"));
      // The echo back means the connection is up and has an RTT sample.
      await readUntil(nc.stdout, "hello from nc\n", 10_000);
      const pid = nc.pid;

      await t.step("the server render honours ?cols=", async () => {
        const html = await (await fetch(`${h.base}/sockets?cols=cwnd,rtt`)).text();
        assert(html.includes('data-col="rtt"') && html.includes('data-col="cwnd"'), "shown");
        assert(!html.includes('data-col="retrans"'), "retrans not asked for");
        const plain = await (await fetch(`${h.base}/sockets`)).text();
        assert(!plain.includes('data-col="rtt"'), "off by default");
      });

      await t.step(
        "the peer row names nc with its pid, and the three columns have values",
        async () => {
          await open(h, "/sockets?cols=rtt,retrans,cwnd", "sockets_table");
          for (const c of ["rtt", "retrans", "cwnd"]) {
            assert(await page.getByLabel(new RegExp(`^\\s*${c}$`, "i")).isChecked(), c);
          }
          const row = page.locator(`tr[data-ours="false"]:has(.proc[data-pid="${pid}"])`);
          // The owner scan runs at most every 2 s, so the name may come a snapshot later.
          await row.waitFor();
          const owner = row.locator("td.owner");
          assertEquals((await owner.innerText()).trim(), `peer · nc (pid ${pid})`);
          const [need, room] = await owner.evaluate((td) => [td.scrollWidth, td.clientWidth]);
          assert(need <= room, `the owner's cell needs ${need} px and has ${room}`);
          const rtt = await row.locator('td[data-col="rtt"]').innerText();
          assert(Number(rtt) > 0, `RTT "${rtt}"`);
          const retrans = await row.locator('td[data-col="retrans"]').innerText();
          assert(/^\d+$/.test(retrans.trim()), `retrans "${retrans}"`);
          const cwnd = await row.locator('td[data-col="cwnd"]').innerText();
          assert(Number(cwnd.replaceAll("\u202f", "")) > 0, `cwnd "${cwnd}"`);
          // Our end of the same connection says who holds it too: this test's own process.
          const ours = page.locator(`tr[data-ours="true"][data-state="ESTABLISHED"] td.owner`)
            .first();
          assert((await ours.innerText()).startsWith("server"), await ours.innerText());
          await shot(h, "sockets-columns-all");
        },
      );

      await t.step(
        "with every column on, the table fits 1280 px and the close button shows",
        async () => {
          const frame = page.locator(".table-scroll");
          const [wide, seen] = await frame.evaluate((el) => [el.scrollWidth, el.clientWidth]);
          assert(wide <= seen, `the table is ${wide} px wide in a ${seen} px frame`);
          const button = page.locator("td.act button", { hasText: "close" }).first();
          await button.waitFor();
          const [need, room] = await button.locator("xpath=..").evaluate((td) => [
            td.scrollWidth,
            td.clientWidth,
          ]);
          assert(need <= room, `the close button's cell needs ${need} px and has ${room}`);
          const box = (await button.boundingBox())!;
          const outer = (await frame.boundingBox())!;
          assert(box.x + box.width <= outer.x + outer.width, "the button inside the table");
          // Every heading fits its column.
          for (const th of await page.locator(".sock-table th[data-col]").all()) {
            const [w, c] = await th.evaluate((el) => [el.scrollWidth, el.clientWidth]);
            assert(w <= c, `${await th.getAttribute("data-col")} heading needs ${w} px, has ${c}`);
          }
        },
      );

      await t.step(
        "the text box finds the row by its owner; a sort and a box go in the URL",
        async () => {
          await page.getByRole("searchbox").fill(`nc ${pid}`);
          const count = page.locator("[data-row-count]");
          await waitFor(
            "only nc's row",
            async () => (await count.getAttribute("data-row-count")) === "1",
          );
          assertEquals(await page.locator(`.proc[data-pid="${pid}"]`).count(), 1);
          await page.getByRole("searchbox").fill("");
          await page.locator('th[data-col="rtt"] button').click();
          await page.locator('th[data-col="rtt"][aria-sort]').waitFor();
          assert(page.url().includes("sort=rtt"), page.url());
          await page.getByLabel(/^\s*cwnd$/i).uncheck();
          await waitFor(
            "cwnd's column gone",
            async () => await page.locator('th[data-col="cwnd"]').count() === 0,
          );
          assert(page.url().endsWith("cols=rtt,retrans"), page.url());
          // Hiding the column a view sorts by resets the sort.
          await page.getByLabel(/^\s*rtt$/i).uncheck();
          await waitFor("the sort reset", () => Promise.resolve(!page.url().includes("sort=")));
          assert(page.url().endsWith("?cols=retrans"), page.url());
          await shot(h, "sockets-columns-retrans");
        },
      );
    } finally {
      try {
        nc.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await nc.status;
    }
  },
});
