/**
 * The wire ladder on the connection page at 1280 px: a client echoes a few messages; the
 * server socket's page draws the handshake (SYN, SYN-ACK), the data segments and the app's
 * reads on one axis; a message sent while the page is open arrives on the ladder live.
 * Screenshot: shots/ladder-echo.png.
 *
 * Needs /usr/bin/chromium and the wire view (root or CAP_NET_RAW); SOCKSCOPE_SKIP_BROWSER=1
 * skips it.
 */
import { ok as assert } from "node:assert/strict";
import { BROWSER_TEST, type Harness, open, shot, start } from "./_browser.ts";
import { closeQuietly, connect, encoder, readExactly, waitFor, writeAll } from "./_helpers.ts";

const LAPTOP = { width: 1280, height: 800 };

/**
 * The echo server's socket row of `conn`, once the wire view has at least `segments` of its
 * segments (so they are there before the page asks for them).
 */
async function echoRowOnWire(h: Harness, conn: Deno.TcpConn, segments: number) {
  const port = (conn.localAddr as Deno.NetAddr).port;
  const row = await waitFor(
    "the echo server's socket",
    async () =>
      (await h.service.sockets()).find((r) =>
        r.ours && r.endpoint === "echo" && r.kind === "conn" && r.remote?.port === port
      ),
  );
  await waitFor(
    `${segments} of its segments on the wire`,
    () => h.service.wire.segments({ local: row.local, remote: row.remote! }).length >= segments,
  );
  return row;
}

Deno.test({
  name: "the connection page draws the wire ladder with the app's reads, live",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ viewport: LAPTOP, timeoutMs: 20_000, wire: true });
    assert(h.service.wire.available, `the wire view is off: ${h.service.wire.reason}`);
    const conn = await connect(h.port("echo"));
    try {
      for (const text of ["hello\n", "ladder\n", "world\n"]) {
        await writeAll(conn, encoder.encode(text));
        await readExactly(conn, text.length);
      }
      const row = await echoRowOnWire(h, conn, 9);
      await open(h, `/sockets/${encodeURIComponent(row.id)}`, "conn_detail");
      const ladder = h.page.locator("[data-wire-ladder] svg");
      await ladder.waitFor();
      const labels = await ladder.locator("g[data-seq] text").allTextContents();
      assert(labels.some((l) => l.trim() === "SYN"), labels.join(" | "));
      assert(labels.some((l) => l.trim() === "SYN, ACK"), labels.join(" | "));
      assert(labels.some((l) => /len=6 /.test(l)), labels.join(" | "));
      assert(await h.page.locator('[data-wire-ladder] [data-group="handshake"]').count() > 0);
      const reads = await ladder.locator("text[data-app]").allTextContents();
      assert(reads.some((r) => /^app: read 6 B/.test(r)), reads.join(" | "));
      assert(reads.some((r) => /^app: write 6 B/.test(r)), reads.join(" | "));

      // Live: the next exchange shows without a reload (len=5: "live\n").
      await writeAll(conn, encoder.encode("live\n"));
      await readExactly(conn, 5);
      await ladder.locator("g[data-seq] text", { hasText: "len=5 " }).first().waitFor();
      await ladder.locator("text[data-app]", { hasText: "read 5 B" }).first().waitFor();
      await shot(h, "ladder-echo", true);
    } finally {
      closeQuietly(conn);
    }
  },
});

Deno.test({
  name: "the ladder stays readable at 1,000 items: paged, the latest page first, live",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ viewport: LAPTOP, timeoutMs: 20_000, wire: true });
    assert(h.service.wire.available, `the wire view is off: ${h.service.wire.reason}`);
    const conn = await connect(h.port("echo"));
    try {
      // 400 echoes: about 800 segments on the wire (the view keeps the first 32 and the latest
      // 224) and 800 app reads and writes, so the page has well over 1,000 items to lay out.
      const message = encoder.encode("0123456789abcdef\n");
      for (let i = 0; i < 400; i++) {
        await writeAll(conn, message);
        await readExactly(conn, message.length);
      }
      const row = await echoRowOnWire(h, conn, 250);
      const t0 = performance.now();
      await open(h, `/sockets/${encodeURIComponent(row.id)}`, "conn_detail");
      const figure = h.page.locator("[data-wire-ladder] figure[data-ladder]");
      await figure.locator("g[data-seq]").first().waitFor();
      const drawnMs = performance.now() - t0;
      const pages = Number(await figure.getAttribute("data-pages"));
      // 1,000 items kept, 200 rows a page.
      assert(pages >= 5, `pages: ${pages}`);
      assert(await figure.locator("[data-omitted]").count() === 1, "the cut is said");
      const rows = await figure.locator("g[data-seq]").count() +
        await figure.locator("text[data-app]").count();
      assert(rows > 0 && rows <= 200, `rows drawn on one page: ${rows}`);
      await figure.getByText(`page ${pages} of ${pages}`).waitFor();
      // Paging back shows the earlier rows; forward again, the latest.
      await figure.getByRole("button", { name: "earlier" }).click();
      await figure.getByText(`page ${pages - 1} of ${pages}`).waitFor();
      await figure.getByRole("button", { name: "later" }).click();
      await figure.getByText(`page ${pages} of ${pages}`).waitFor();
      // Live at the cap: a new exchange (len=5) appears on the latest page.
      await writeAll(conn, encoder.encode("last\n"));
      await readExactly(conn, 5);
      await figure.locator("g[data-seq] text", { hasText: "len=5 " }).first().waitFor();
      console.log(
        `ladder at 1,000 items: ${pages} pages, ${rows} rows on the page, first paint ${
          drawnMs.toFixed(0)
        } ms after navigation began`,
      );
      await shot(h, "ladder-1000", true);
    } finally {
      closeQuietly(conn);
    }
  },
});
