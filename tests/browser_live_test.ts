/**
 * Every island takes its live state from the one event source (`/api/events`):
 * in Chromium, the launcher's runs, the buffers demo's writer and the sink's
 * switch, the overview's drain pill and the chat room follow the service with
 * no page asking `/api/clients`, `/api/endpoints` or `/api/chat` again.
 * Screenshot: shots/live_runs.png.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { deepStrictEqual, ok as assert } from "node:assert/strict";
import { BROWSER_TEST, open, shot, start } from "./_browser.ts";

/** A loaded machine (the whole suite on two cores) gets this long for each wait. */
const TIMEOUT_MS = 20_000;

/** The JSON reads an island used to repeat on a timer. */
const POLLED = /\/api\/(clients|endpoints|chat)(\?|$)/;

Deno.test({
  name:
    "the launcher, the buffers demo, the overview and the chat room follow the event stream without polling",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start({ timeoutMs: TIMEOUT_MS });
    const { page } = h;
    const reads: string[] = [];
    page.on("request", (req) => {
      const url = new URL(req.url());
      if (req.method() === "GET" && POLLED.test(url.pathname + url.search)) {
        reads.push(url.pathname);
      }
    });
    const post = (path: string, body: unknown) =>
      fetch(`${h.base}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      }).then((r) => r.json());

    // The launcher: a run started from the page shows up, then finishes, from `clients` events.
    await open(h, "/sockets", "multiconn_launcher");
    await page.locator("details.launcher summary").click();
    await page.locator("details.launcher button[type=submit]").click();
    await page.locator('details.launcher tr[data-run][data-status="done"]').waitFor();
    // A run started elsewhere (curl) appears too.
    const other = await post("/api/clients/multiconn", { conns: 1, messages: 1 });
    assert(typeof other.id === "string", JSON.stringify(other));
    await page.locator(`details.launcher tr[data-run="${other.id}"][data-status="done"]`)
      .waitFor();
    await shot(h, "live_runs");

    // The buffers demo: the writer's run and the sink's switch.
    await open(h, "/buffers", "buffers_demo");
    await page.locator('button[data-action="start"]').click();
    await page.locator('tr[data-run][data-status="running"]').waitFor();
    await page.locator('button[data-action="drain"]').click();
    await page.locator(".pill", { hasText: "sink reading" }).waitFor();
    // Switched elsewhere: the page follows.
    await post("/api/sink/drain", { drain: false });
    await page.locator(".pill", { hasText: "sink not reading" }).waitFor();
    await page.locator('button[data-action="stop"]').click();
    await page.locator('tr[data-run][data-status="running"]').waitFor({ state: "detached" });

    // The overview's sink card: its pill flips with the switch.
    await open(h, "/", "endpoint_cards");
    await page.locator('[data-endpoint="sink"] .pill', { hasText: "not reading" }).waitFor();
    await post("/api/sink/drain", { drain: true });
    await page.locator('[data-endpoint="sink"] .pill', { hasText: "draining" }).waitFor();
    await post("/api/sink/drain", { drain: false });

    // The chat room: a message posted elsewhere appears.
    await open(h, "/chat", "chat_room");
    await post("/api/chat", { name: "curl", text: "from outside the page" });
    await page.locator(".msg", { hasText: "from outside the page" }).waitFor();

    deepStrictEqual(reads, [], "no island reads these APIs on its own");
  },
});
