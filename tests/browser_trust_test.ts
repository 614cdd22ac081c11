/**
 * CSRF in a real browser (Debian's Chromium through playwright-core): a page
 * served from another port of 127.0.0.1, the same site as the dashboard, so
 * the token's cookie rides along, tries a no-cors fetch and a text/plain form
 * POST at the fault route; the fault stays none, and the dashboard's own
 * fault control still works.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok, strictEqual } from "node:assert/strict";
import { BROWSER_TEST, open, start } from "./_browser.ts";
import { waitFor } from "./_helpers.ts";

/** A loaded machine (the whole suite on two cores) gets this long for each wait. */
const TIMEOUT_MS = 10_000;

/** The other site's page: both ways a page can POST to another origin without asking. */
function attackerPage(fault: string): string {
  return `<!doctype html>
<title>another site</title>
<iframe name="sink"></iframe>
<form id="form" method="post" enctype="text/plain" action="${fault}" target="sink">
  <input name='{"mode":"stall","x":"' value='"}'>
</form>
<script>
  fetch(${JSON.stringify(fault)}, {
    method: "POST",
    mode: "no-cors",
    credentials: "include",
    headers: { "content-type": "text/plain" },
    body: '{"mode":"stall"}',
  }).then((res) => {
    document.body.dataset.fetched = res.type;
    document.getElementById("form").submit();
  }, (err) => { document.body.dataset.fetched = "error: " + err; });
</script>`;
}

Deno.test({
  name:
    "a page on another port cannot set a fault, token cookie or not; the dashboard's own control can",
  ...BROWSER_TEST,
  async fn() {
    const token = "browser-trust-token";
    await using h = await start({ timeoutMs: TIMEOUT_MS, token });
    const { page } = h;
    const auth = { authorization: `Bearer ${token}` };
    const faultUrl = `${h.base}/api/endpoints/echo/fault`;
    const faultMode = async () =>
      ((await (await fetch(faultUrl, { headers: auth })).json()) as { fault: { mode: string } })
        .fault.mode;
    // The user opened the dashboard: the browser now holds the token's cookie.
    await open(h, `/?token=${token}`, "endpoint_cards");

    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response(attackerPage(faultUrl), {
          headers: { "content-type": "text/html; charset=utf-8" },
        }),
    );
    try {
      await page.goto(`http://127.0.0.1:${other.addr.port}/`);
      await page.waitForSelector("body[data-fetched]");
      // The fetch got its (opaque) answer: whatever it did is done.
      strictEqual(await page.getAttribute("body", "data-fetched"), "opaque");
      strictEqual(await faultMode(), "none", "after the no-cors fetch");
      // The form's answer lands in the frame: the refusal, not the fault.
      const answer = await waitFor("the form POST's answer in the frame", async () => {
        // The frame may still be navigating to the answer: ask again then.
        const text = await page.frame({ name: "sink" })?.content().catch(() => undefined);
        return text?.includes('"error"') || text?.includes('"fault"') ? text : null;
      }, { timeoutMs: TIMEOUT_MS });
      strictEqual(await faultMode(), "none", "after the form POST");
      ok(answer.includes("Cross-site request refused"), answer);
    } finally {
      await other.shutdown();
    }
    strictEqual(await faultMode(), "none");

    await open(h, "/", "endpoint_cards");
    const echoCard = page.locator('[data-endpoint="echo"]');
    await echoCard.getByLabel("Fault mode for echo").selectOption("stall");
    await echoCard.getByRole("button", { name: "apply" }).click();
    await echoCard.locator('[data-fault-badge="stall"]').waitFor();
    strictEqual(await faultMode(), "stall");
  },
});
