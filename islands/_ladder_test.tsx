import { ok, strictEqual } from "node:assert/strict";
import { renderToString } from "preact-render-to-string";
import { Ladder, LADDER_PAGE } from "./_ladder.tsx";
import { ladder, type WireSegment } from "../lib/view/ladder.ts";

function seg(
  seq: number,
  ts: number,
  dir: "in" | "out",
  flags: string[],
  len = 0,
  analysis: string[] = [],
): WireSegment {
  return { seq, ts, dir, flags, tcpSeq: 1, tcpAck: 1, win: 65536, len, options: {}, analysis };
}

Deno.test("Ladder renders a fixture connection as SVG arrows, groups and app events", () => {
  const model = ladder([
    seg(1, 0, "in", ["SYN"]),
    seg(2, 0.01, "out", ["SYN", "ACK"]),
    seg(3, 0.02, "in", ["ACK"]),
    seg(4, 1, "in", ["PSH", "ACK"], 64),
    seg(5, 2, "out", ["PSH", "ACK"], 64, ["retransmission"]),
    seg(6, 5000, "in", ["RST"]),
  ], [{ seq: 1, ts: 1.1, dir: "in", len: 64 }]);
  const html = renderToString(<Ladder model={model} />);
  ok(html.startsWith('<figure class="ladder"'), html.slice(0, 80));
  strictEqual(html.match(/<line /g)!.length, 2 + 6);
  ok(html.includes("SYN, ACK") && html.includes("ACK 1:65 len=64 win=65536"));
  ok(html.includes('data-analysis="retransmission"'));
  ok(html.includes('data-group="handshake"') && html.includes('data-group="close"'));
  ok(html.includes("app: read 64 B"));
  ok(/5\.0 s quiet/.test(html), "the gap is marked");
});

Deno.test("Ladder pages 1,000 segments and says what it left out", () => {
  const many = Array.from({ length: 1200 }, (_, i) => seg(i + 1, i, "in", ["ACK"]));
  const html = renderToString(<Ladder model={ladder(many)} />);
  ok(html.includes('data-omitted="200"'));
  ok(html.includes(`data-pages="${1000 / LADDER_PAGE}"`));
  strictEqual(html.match(/data-seq=/g)!.length, LADDER_PAGE);
});
