/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core):
 * hydration, live updates from /api/events, payloads shown as text, the sink
 * demonstration, and the socket table's render times with 2,000 connections.
 * Screenshots of every page go to shots/.
 *
 * Needs /usr/bin/chromium; set SOCKSCOPE_SKIP_BROWSER=1 to skip these tests.
 */
import { ok as assert, strictEqual as assertEquals } from "node:assert/strict";
import { connStream } from "../lib/capture/conn_stream.ts";
import type { Service } from "../lib/net/service.ts";
import { BROWSER_TEST, open, shot, SHOTS, start, VIEWPORT } from "./_browser.ts";
import {
  appFrame,
  closeQuietly,
  connect,
  encoder,
  rawAppFrame,
  readExactly,
  waitFor,
  writeAll,
} from "./_helpers.ts";

/** One echo round trip, so the bytes are in the packet log before the test looks. */
async function echo(conn: Deno.Conn, text: string): Promise<void> {
  const bytes = encoder.encode(text);
  await writeAll(conn, bytes);
  await readExactly(conn, bytes.length);
}

function idOf(service: Service, endpoint: string, remotePort: number): string {
  return service.registry.snapshots().find((s) =>
    s.endpoint === endpoint && s.remote?.port === remotePort
  )!.id;
}

Deno.test({
  name: "dashboard pages work in Chromium",
  ...BROWSER_TEST,
  async fn(t) {
    await using h = await start();
    const { page } = h;

    await t.step("the overview hydrates and shows a card per endpoint", async () => {
      await open(h, "/", "endpoint_cards");
      assertEquals(await page.locator(".card.endpoint[data-endpoint]").count() >= 5, true);
      const echoCard = page.locator('[data-endpoint="echo"]');
      assert((await echoCard.innerText()).includes(`nc 127.0.0.1 ${h.port("echo")}`));
      await page.waitForSelector(".live-live");
    });

    await t.step(
      "a connection to echo appears in the sockets table within 2 s, then leaves",
      async () => {
        await open(h, "/sockets?endpoint=echo", "sockets_table");
        const conn = await connect(h.port("echo"));
        try {
          const opened = performance.now();
          await echo(conn, "hello from the browser test\n");
          const row = page.locator(`tr[data-ours="true"]`, {
            hasText: `127.0.0.1:${conn.localAddr.port}`,
          });
          await row.waitFor({ state: "visible" });
          console.log(`row visible ${(performance.now() - opened).toFixed(0)} ms after connect`);
          await shot(h, "sockets");
          closeQuietly(conn);
          await row.waitFor({ state: "detached" });
          // The client closed first, so its side lingers in TIME_WAIT, as ss shows it: folded
          // into a count until asked for.
          const folded = page.locator("[data-timewait-folded]");
          await folded.waitFor();
          await folded.getByRole("link", { name: "(show)" }).click();
          await page.locator(`tr[data-state="TIME_WAIT"]`).first().waitFor();
          await folded.getByRole("link", { name: "(fold)" }).click();
        } finally {
          closeQuietly(conn);
        }
      },
    );

    await t.step("a row's close button closes that connection", async () => {
      const conn = await connect(h.port("echo"));
      try {
        await echo(conn, "close me");
        const row = page.locator(`tr[data-id="${idOf(h.service, "echo", conn.localAddr.port)}"]`);
        await row.waitFor();
        await row.getByRole("button", { name: "close" }).click();
        const end = await conn.read(new Uint8Array(16));
        assertEquals(end, null);
        await row.waitFor({ state: "detached" });
        // The side that closed first now waits in FIN_WAIT2: the kernel still has it.
        await page.locator(`tr[data-state="FIN_WAIT2"][data-ours="true"]`).waitFor();
      } finally {
        closeQuietly(conn);
      }
    });

    const script = "<script>window.__xss=1</script>";
    const img = `<img src=x onerror="window.__xss=2">`;
    // Far longer than the packet log's 64-byte previews: its end shows only from the capture.
    const long = `long payload ${"x".repeat(400)} end of the long payload`;
    let xssConn = "";

    await t.step("the packet log shows the bytes the test sent, live", async () => {
      await open(h, "/packets", "packet_log");
      const conn = await connect(h.port("echo"));
      const app = await connect(h.port("app"));
      try {
        const marker = `browser-test-${crypto.randomUUID().slice(0, 8)}`;
        await echo(conn, marker);
        await page.locator(".packet-table td.data", { hasText: marker }).first().waitFor();
        // A decoded app frame and a framing error, for the screenshot and the notes column.
        const content = encoder.encode(JSON.stringify({ action: "search", value: "morpheus" }));
        await writeAll(
          app,
          appFrame({
            byteorder: "little",
            "content-type": "text/json",
            "content-encoding": "utf-8",
            "content-length": content.length,
          }, content),
        );
        await writeAll(app, rawAppFrame(encoder.encode("{not json")));
        await page.locator(".note-err").first().waitFor();
        await page.locator(".packet-table tr.row").first().click();
        await shot(h, "packets");
      } finally {
        closeQuietly(conn);
        closeQuietly(app);
      }
    });

    await t.step("payload markup shows as text and runs nothing", async () => {
      const conn = await connect(h.port("echo"));
      try {
        await echo(conn, script);
        await echo(conn, img);
        xssConn = idOf(h.service, "echo", conn.localAddr.port);
        // Server-rendered history, then the live tail.
        await open(h, `/packets?conn=${xssConn}`, "packet_log");
        await page.getByText(script).first().waitFor();
        await page.getByText(img).first().waitFor();
        await echo(conn, script);
        await page.locator("td.data", { hasText: script }).nth(2).waitFor();
        await page.locator(".packet-table tr.row").first().click();
        const probe = () =>
          page.evaluate(() => ({
            xss: (globalThis as { __xss?: unknown }).__xss,
            imgs: document.querySelectorAll('img[src="x"]').length,
            scripts: [...document.scripts].filter((s) => s.textContent?.includes("__xss")).length,
          }));
        assertEquals(JSON.stringify(await probe()), JSON.stringify({ imgs: 0, scripts: 0 }));
        await open(h, `/sockets/${xssConn}`, "conn_detail");
        await page.locator("[data-follow-stream]", { hasText: script }).waitFor();
        await page.locator("[data-follow-stream]", { hasText: img }).waitFor();
        assertEquals(JSON.stringify(await probe()), JSON.stringify({ imgs: 0, scripts: 0 }));
        // Sent while the page is open: the stream fetches it whole from the capture.
        await echo(conn, long);
        const stream = page.locator('[data-follow-stream][data-source="capture"]');
        await stream.getByText("end of the long payload").first().waitFor();
        await page.getByText("Full payloads from the capture").waitFor();
      } finally {
        closeQuietly(conn);
      }
    });

    await t.step("a closed connection's page keeps its counters, packets and stream", async () => {
      await waitFor("the connection to close", () => h.service.registry.get(xssConn)?.closedAt);
      await open(h, `/sockets/${xssConn}`, "conn_detail");
      await page.getByText("Final counters below").waitFor();
      const stream = page.locator('[data-follow-stream][data-source="capture"]');
      await stream.getByText("end of the long payload").nth(1).waitFor();
      // Every read and write the packet log has, each whole: three short echoes and a long one.
      const entries = h.service.log.query({ conn: xssConn });
      assert(entries.length >= 8, `at least 8 reads and writes, got ${entries.length}`);
      assertEquals(await stream.locator(".chunk").count(), entries.length);
      await shot(h, "socket_detail", true);
      await page.locator(".follow select").selectOption("in");
      const reads = entries.filter((p) => p.dir === "in").length;
      await waitFor("only the reads", async () => await stream.locator(".chunk").count() === reads);
      await page.getByRole("button", { name: "hex", exact: true }).click();
      await stream.locator(".hexdump").first().waitFor();
    });

    await t.step(
      "the buffers page shows Recv-Q climbing while the sink does not read",
      async () => {
        await open(h, "/buffers", "buffers_demo");
        await page.locator('[data-action="start"]').click();
        const recvQ = page.locator('[data-metric="sink-recvq"]');
        const value = async () => Number(await recvQ.getAttribute("data-value") || 0);
        await waitFor("a non-zero sink Recv-Q", async () => await value() > 0, {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        await waitFor("the writer to block", () => page.locator(".phase-blocked").count(), {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        await page.waitForTimeout(600);
        console.log(
          `sink Recv-Q ${await value()} B, writer Send-Q ${await page.locator(
            '[data-metric="writer-sendq"]',
          ).getAttribute("data-value")} B`,
        );
        await shot(h, "buffers");
        await page.locator('[data-action="drain"]').click();
        await waitFor("the Recv-Q to fall to zero", async () => await value() === 0, {
          timeoutMs: 20_000,
          intervalMs: 100,
        });
        await page.locator('[data-action="stop"]').click();
      },
    );

    await t.step("the multiconn client launched from the page runs to the end", async () => {
      await open(h, "/sockets", "multiconn_launcher");
      await page.locator(".launcher summary").click();
      await page.getByLabel("Connections").fill("8");
      await page.getByLabel("Messages each").fill("8000");
      await page.getByLabel("Size (bytes)").fill("1000");
      const launched = performance.now();
      await page.getByRole("button", { name: "Launch" }).click();
      // Its connections show up as client rows while it runs (it runs for a few seconds),
      // named by their process once the owner scan found it.
      const clients = page.locator('tr[data-ours="true"]').filter({
        has: page.locator("td.owner", { hasText: /^client( · |$)/ }),
      });
      await clients.nth(7).waitFor();
      await shot(h, "sockets_multiconn");
      await page.locator('tr[data-status="done"]').waitFor({ timeout: 30_000 });
      console.log(`multiconn run took ${(performance.now() - launched).toFixed(0)} ms`);
      await clients.first().waitFor({ state: "detached" });
    });

    await t.step("the pages are useful before any script runs", async () => {
      const conn = await connect(h.port("echo"));
      const context = await h.browser.newContext({ viewport: VIEWPORT, javaScriptEnabled: false });
      try {
        await echo(conn, "no script needed\n");
        const id = idOf(h.service, "echo", conn.localAddr.port);
        const plain = await context.newPage();
        await plain.goto(`${h.base}/sockets?endpoint=echo`);
        await plain.locator(`tr[data-id="${id}"]`).waitFor();
        await plain.screenshot({ path: new URL("nojs_sockets.png", SHOTS).pathname });
        await plain.goto(`${h.base}/packets?conn=${id}`);
        await plain.locator("td.data", { hasText: "no script needed" }).first().waitFor();
        assertEquals(await plain.locator("[data-hydrated]").count(), 0);
      } finally {
        await context.close();
        closeQuietly(conn);
      }
    });

    await t.step("screenshots of the overview with traffic", async () => {
      await open(h, "/", "endpoint_cards");
      const conn = await connect(h.port("echo"));
      try {
        for (let i = 0; i < 6; i++) {
          await echo(conn, "x".repeat(2000 * (i + 1)));
          await page.waitForTimeout(400);
        }
        await shot(h, "overview");
      } finally {
        closeQuietly(conn);
      }
    });
  },
});

Deno.test({
  name:
    "the follow stream shows the first and latest whole payloads once the capture evicted the middle",
  ...BROWSER_TEST,
  async fn() {
    // A 64 KiB capture holds less than the page asks for: its whole content shows, gaps marked.
    await using h = await start({ captureBytes: 64 * 1024 });
    const { page } = h;
    const conn = await connect(h.port("echo"));
    try {
      // Short messages, each echoed before the next: reads the capture stores whole, echoes too.
      for (let i = 0; i < 4000; i += 10) {
        const lines = Array.from(
          { length: 10 },
          (_, j) => `line ${i + j} of a long conversation\n`,
        );
        await echo(conn, lines.join(""));
      }
      const id = idOf(h.service, "echo", conn.localAddr.port);
      await open(h, `/sockets/${id}`, "conn_detail");
      const stream = page.locator('[data-follow-stream][data-source="capture"]');
      await stream.getByText("line 3999 of a long conversation").first().waitFor();
      // The first line is kept (each connection keeps its first bytes), the middle is gone, and
      // each direction says how much is missing where.
      assert(await stream.getByText("line 0 of", { exact: false }).count() > 0, "no first line");
      assertEquals(await stream.getByText("line 2000 of", { exact: false }).count(), 0);
      const gaps = stream.locator(".stream-gap[data-gap]");
      await gaps.first().waitFor();
      // A marker per gap the capture has, in both directions, saying how many bytes.
      const expected = connStream(h.service.capture!, id).records.filter((r) => r.gap > 0)
        .map((r) => `${r.dir} ${r.gap}`);
      const marked = await gaps.evaluateAll((els) =>
        els.map((el) => `${el.getAttribute("data-dir")} ${el.getAttribute("data-gap")}`)
      );
      assertEquals(JSON.stringify(marked), JSON.stringify(expected));
      assert(marked.some((m) => m.startsWith("in ")) && marked.some((m) => m.startsWith("out ")));
      const label = page.locator("[data-stream-source]");
      assert(
        / it holds; .+ were evicted/.test(await label.innerText()),
        await label.innerText(),
      );
      // It follows on: bytes sent while the page is open show up, evicted or not.
      await echo(conn, "the newest words, sent while the page follows\n");
      await stream.getByText("the newest words").nth(1).waitFor();
      await shot(h, "socket_detail_evicted", true);
      await page.getByRole("button", { name: "hex", exact: true }).click();
      await stream.locator(".hexdump").first().waitFor();
      assertEquals(await stream.locator(".stream-gap[data-gap]").count(), await gaps.count());
    } finally {
      closeQuietly(conn);
    }
  },
});

/** Percentile of sorted numbers. */
function pct(sorted: number[], p: number): number {
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

Deno.test({
  name: "the sockets table stays smooth with 2,000 live connections",
  ...BROWSER_TEST,
  async fn() {
    await using h = await start();
    const conns: Deno.TcpConn[] = [];
    try {
      const N = 2000;
      for (let i = 0; i < N; i += 200) {
        conns.push(
          ...await Promise.all(Array.from({ length: 200 }, () => connect(h.port("echo")))),
        );
      }
      await waitFor(
        "2,000 live echo connections",
        () => h.service.registry.endpoints.get("echo")!.live === N,
        { timeoutMs: 30_000 },
      );
      const { page } = h;
      await open(h, "/sockets", "sockets_table");
      // The first snapshot replaces the server's first rows: ours, the peers' and the listeners.
      await waitFor(
        "the full table",
        async () =>
          Number(await page.locator("[data-row-count]").getAttribute("data-row-count")) >= 2 * N,
        {
          timeoutMs: 30_000,
          intervalMs: 100,
        },
      );
      // Traffic on some connections, so rows change while we measure.
      const traffic = (async () => {
        for (let round = 0; round < 24; round++) {
          await Promise.all(conns.slice(round * 50, round * 50 + 50).map((c) => echo(c, "tick")));
          await new Promise((r) => setTimeout(r, 400));
        }
      })();
      const result = await page.evaluate(async () => {
        performance.clearMeasures("sockscope:sockets-render");
        const scroller = document.querySelector(".table-scroll") as HTMLElement;
        const frames: number[] = [];
        const longTasks: number[] = [];
        const po = new PerformanceObserver((list) => {
          for (const e of list.getEntries()) longTasks.push(e.duration);
        });
        po.observe({ type: "longtask", buffered: false });
        let last = performance.now();
        const end = last + 10_000;
        let maxRows = 0;
        await new Promise<void>((resolve) => {
          const tick = (now: number) => {
            frames.push(now - last);
            last = now;
            scroller.scrollTop += 120;
            if (scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1) {
              scroller.scrollTop = 0;
            }
            maxRows = Math.max(maxRows, scroller.querySelectorAll("tbody tr.row").length);
            if (now < end) requestAnimationFrame(tick);
            else resolve();
          };
          requestAnimationFrame(tick);
        });
        po.disconnect();
        const renders = performance.getEntriesByName("sockscope:sockets-render").map((e) =>
          e.duration
        );
        // What one snapshot costs to receive: fetch it and time JSON.parse alone.
        const text = await (await fetch("/api/sockets")).text();
        const t0 = performance.now();
        JSON.parse(text);
        const parseMs = performance.now() - t0;
        const rowHeight = (scroller.querySelector("tbody tr.row") as HTMLElement).offsetHeight;
        return { frames, longTasks, renders, maxRows, parseMs, bytes: text.length, rowHeight };
      });
      await traffic;
      await page.evaluate(() => document.querySelector(".table-scroll")!.scrollTop = 0);
      await page.waitForTimeout(200);
      await shot(h, "sockets_2000");
      const frames = result.frames.slice(1).sort((a, b) => a - b);
      const renders = result.renders.slice().sort((a, b) => a - b);
      const summary = {
        rows: Number(await page.locator("[data-row-count]").getAttribute("data-row-count")),
        domRowsMax: result.maxRows,
        rowHeightPx: result.rowHeight,
        renders: renders.length,
        renderMsP50: +pct(renders, 0.5).toFixed(2),
        renderMsP95: +pct(renders, 0.95).toFixed(2),
        renderMsMax: +(renders.at(-1) ?? NaN).toFixed(2),
        frames: frames.length,
        frameMsP50: +pct(frames, 0.5).toFixed(2),
        frameMsP95: +pct(frames, 0.95).toFixed(2),
        frameMsMax: +(frames.at(-1) ?? NaN).toFixed(2),
        framesOver50ms: frames.filter((f) => f > 50).length,
        longTasks: result.longTasks.length,
        longTaskMsMax: +(Math.max(0, ...result.longTasks)).toFixed(1),
        snapshotBytes: result.bytes,
        snapshotParseMs: +result.parseMs.toFixed(2),
      };
      console.log(`sockets table with ${N} connections: ${JSON.stringify(summary)}`);
      await Deno.writeTextFile(
        new URL("perf_sockets_2000.json", SHOTS),
        JSON.stringify(summary, null, 2),
      );
      assertEquals(result.rowHeight, 24, "rows are as tall as the window computation assumes");
      assert(
        result.maxRows < 200,
        `windowed: at most a few screens of rows in the DOM, saw ${result.maxRows}`,
      );
      assert(renders.length >= 3, "the table re-rendered on live updates");
      assert(summary.renderMsP95 < 100, `p95 render ${summary.renderMsP95} ms`);
    } finally {
      for (const c of conns) closeQuietly(c);
    }
  },
});
