/**
 * The diagnoses where people look, at 1280 px: on /diagnoses a click on
 * "reproduce" for peer-not-reading makes the service hold a chargen
 * connection it never reads; the diagnosis shows on the page with its
 * evidence, on the overview's panel, as a badge on the socket's row (whose
 * close button still fits) and on the connection page, then clears.
 * Screenshots go to shots/diagnoses-*.png.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import type { Page } from "playwright-core";
import { BROWSER_TEST, type Harness, open, SHOTS, start } from "./_browser.ts";
import { waitFor } from "./_helpers.ts";
import type { DiagnosesResponse } from "../lib/view/api_types.ts";

const LAPTOP = { width: 1280, height: 800 };

/** Opens `path` in a page of its own and waits for `island` to hydrate. */
async function openIn(h: Harness, path: string, island: string): Promise<Page> {
  const page = await h.page.context().newPage();
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  await page.goto(`${h.base}${path}`);
  await page.locator(`[data-island="${island}"][data-hydrated]`).waitFor();
  return page;
}

async function shotOf(page: Page, name: string, fullPage = false): Promise<void> {
  await Deno.mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage });
}

Deno.test({
  name: "/diagnoses reproduces peer-not-reading; it shows on the page, overview, row and socket",
  ...BROWSER_TEST,
  async fn(t) {
    await using h = await start({ viewport: LAPTOP, timeoutMs: 20_000 });
    const { page } = h;
    const overview = await openIn(h, "/", "diagnoses_summary");
    const sockets = await openIn(h, "/sockets", "sockets_table");
    await open(h, "/diagnoses", "diagnoses_page");
    const kind = page.locator('section.diag-kind[data-kind="peer-not-reading"]');

    await t.step(
      "every kind is listed, each can be reproduced (loss through a socket filter)",
      async () => {
        assertEquals(await page.locator("section.diag-kind").count(), 9);
        assert(await page.locator("nav").getByRole("link", { name: "Diagnoses" }).isVisible());
        assertEquals(await page.locator("[data-unavailable]").count(), 0);
        const vanished = page.locator('section.diag-kind[data-kind="peer-vanished"]');
        const button = vanished.getByRole("button", { name: "Reproduce" });
        assert(await button.isEnabled());
        assert(/socket filter/.test((await button.getAttribute("title")) ?? ""));
        assert(await overview.locator("[data-no-problems]").isVisible(), "a healthy start");
      },
    );

    let socket = "";
    await t.step("reproduce: the diagnosis appears with its evidence", async () => {
      await kind.getByRole("button", { name: "Reproduce" }).click();
      await kind.locator("[data-run-state]").waitFor();
      const card = kind.locator('article.diag[data-active="true"]');
      await card.first().waitFor({ timeout: 20_000 });
      assert((await card.first().locator("table.evidence tbody tr").count()) > 0, "evidence");
      assert(/What to do:/.test(await card.first().innerText()));
      await waitFor(
        "the run says it appeared",
        async () =>
          /appeared \d+\.\d s after the start/.test(
            await kind.locator("[data-run-state]").innerText(),
          ),
        { timeoutMs: 10_000 },
      );
      await kind.scrollIntoViewIfNeeded();
      await shotOf(page, "diagnoses-appear");
      const res = await fetch(`${h.base}/api/diagnoses?active=1`);
      const body: DiagnosesResponse = await res.json();
      socket = body.diagnoses.find((d) => d.kind === "peer-not-reading")?.socket ?? "";
      assert(socket !== "", "the diagnosis names its socket");
    });

    await t.step("the overview panel lists it with a link to its socket", async () => {
      const item = overview.locator(
        '[data-diagnoses-overview] article[data-kind="peer-not-reading"]',
      );
      await item.waitFor();
      assertEquals(
        await item.locator("a").first().getAttribute("href"),
        `/sockets/${encodeURIComponent(socket)}`,
      );
      await shotOf(overview, "diagnoses-overview");
    });

    await t.step("the socket row has a badge with the summary; the close button fits", async () => {
      const row = sockets.locator(`tr[data-id="${socket}"]`);
      const badge = row.locator('.diag-badge[data-kind^="peer-not-reading"]');
      await badge.waitFor();
      assert(/peer-not-reading \(warning\): /.test((await badge.getAttribute("title")) ?? ""));
      const button = row.locator("td.act button", { hasText: "close" });
      const [need, room] = await button.locator("xpath=..").evaluate((td) => [
        td.scrollWidth,
        td.clientWidth,
      ]);
      assert(need <= room, `the close button's cell needs ${need} px and has ${room}`);
      await shotOf(sockets, "diagnoses-sockets");
    });

    await t.step("the connection page has the panel with evidence and advice", async () => {
      const conn = await openIn(h, `/sockets/${encodeURIComponent(socket)}`, "conn_detail");
      const card = conn.locator('[data-diagnoses-panel] article[data-kind="peer-not-reading"]');
      await card.waitFor();
      assert((await card.locator("table.evidence tbody tr").count()) > 0);
      await shotOf(conn, "diagnoses-conn");
      await conn.close();
    });

    await t.step("it clears once the scenario ends, and goes into the history", async () => {
      await kind.locator('article.diag[data-active="true"]').first().waitFor({
        state: "detached",
        timeout: 40_000,
      });
      assertEquals(await kind.getAttribute("data-active"), "0");
      await waitFor(
        "the run says it cleared",
        async () =>
          /cleared \d+\.\d s after it/.test(await kind.locator("[data-run-state]").innerText()),
        {
          timeoutMs: 20_000,
        },
      );
      await kind.locator(".diag-history li").first().waitFor({ state: "attached" });
      await overview.locator('[data-diagnoses-overview] article[data-kind="peer-not-reading"]')
        .waitFor({ state: "detached" });
      await sockets.locator('.diag-badge[data-kind^="peer-not-reading"]').waitFor({
        state: "detached",
      });
      await kind.scrollIntoViewIfNeeded();
      await shotOf(page, "diagnoses-cleared");
      await shotOf(page, "diagnoses-page", true);
    });
  },
});
