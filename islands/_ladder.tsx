/**
 * The ladder drawing: client and server lines, one arrow per segment, app events and queue
 * samples beside our line, compressed gaps marked, the handshake and close bracketed. Draws a
 * model from lib/view/ladder.ts; at 1,000 segments it pages (200 rows a page) so the SVG
 * stays small enough to read and to render.
 */
import { useState } from "preact/hooks";
import type { LadderModel } from "../lib/view/ladder.ts";

/** Rows (arrows, app events, samples) drawn per page. */
export const LADDER_PAGE = 200;

const WIDTH = 640;
const X = { client: 160, server: 480 } as const;

/** Props: the model, and the page to start on (the latest by default). */
export interface LadderProps {
  model: LadderModel;
  page?: number;
}

/** The ladder SVG with its pager. */
/** Room above the drawing for the client and server headings, clear of the first arrow. */
const HEAD = 20;

export function Ladder({ model, page }: LadderProps) {
  const rows = [
    ...model.arrows.map((a) => a.y1),
    ...model.app.map((a) => a.y),
    ...model.queues.map((q) => q.y),
  ]
    .sort((a, b) => a - b);
  const pages = Math.max(1, Math.ceil(rows.length / LADDER_PAGE));
  const [at, setAt] = useState(page ?? pages - 1);
  const top = rows[at * LADDER_PAGE] ?? 0;
  const bottom = rows[Math.min(rows.length, (at + 1) * LADDER_PAGE) - 1] ?? 0;
  const inPage = (y: number) => y >= top && y <= bottom;
  const y0 = top - 20;
  const height = Math.max(40, bottom - top + 40);
  return (
    <figure class="ladder" data-ladder="" data-pages={pages}>
      {model.omitted > 0 && (
        <p class="muted small" data-omitted={model.omitted}>
          {model.omitted} earlier items not shown (the latest 1,000 are)
        </p>
      )}
      {pages > 1 && (
        <nav class="toolbar small" aria-label="Ladder pages">
          <button type="button" disabled={at === 0} onClick={() => setAt(at - 1)}>earlier</button>
          <span>page {at + 1} of {pages}</span>
          <button type="button" disabled={at === pages - 1} onClick={() => setAt(at + 1)}>
            later
          </button>
        </nav>
      )}
      <svg
        viewBox={`0 ${y0 - HEAD} ${WIDTH} ${height + HEAD}`}
        width={WIDTH}
        height={height + HEAD}
        role="img"
        aria-label="Segments between client and server over time"
      >
        <defs>
          <marker id="ladder-head" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">
            <path d="M0,0 L8,4 L0,8 z" fill="currentColor" />
          </marker>
        </defs>
        <text x={X.client} y={y0 - 8} text-anchor="middle">client</text>
        <text x={X.server} y={y0 - 8} text-anchor="middle">server</text>
        <line x1={X.client} x2={X.client} y1={y0 + 16} y2={y0 + height} stroke="currentColor" />
        <line x1={X.server} x2={X.server} y1={y0 + 16} y2={y0 + height} stroke="currentColor" />
        {model.groups.filter((g) => g.y2 >= top && g.y1 <= bottom).map((g) => (
          <g key={`${g.kind}-${g.y1}`} data-group={g.kind}>
            <rect
              x={X.client - 4}
              y={g.y1 - 8}
              width={X.server - X.client + 8}
              height={g.y2 - g.y1 + 16}
              fill="none"
              stroke="currentColor"
              stroke-dasharray="3 3"
              opacity="0.5"
            />
            <text x={X.server + 12} y={g.y1} class="small">{g.kind}</text>
          </g>
        ))}
        {model.gaps.filter((g) => inPage(g.y) || (g.y > top && g.y < bottom)).map((g) => (
          <g key={`gap-${g.y}`} data-gap={g.ms}>
            <text x={WIDTH / 2} y={g.y + g.height / 2} text-anchor="middle" class="muted">
              ⋯ {g.ms >= 1000 ? `${(g.ms / 1000).toFixed(1)} s` : `${g.ms.toFixed(0)} ms`} quiet ⋯
            </text>
          </g>
        ))}
        {model.arrows.filter((a) => inPage(a.y1)).map((a) => (
          <g key={a.seq} data-seq={a.seq} data-analysis={a.analysis.join(" ") || undefined}>
            <line
              x1={X[a.from]}
              y1={a.y1}
              x2={X[a.to]}
              y2={a.y2}
              stroke={a.analysis.length > 0 ? "crimson" : "currentColor"}
              marker-end="url(#ladder-head)"
            />
            <text
              x={(X.client + X.server) / 2}
              y={a.y1 - 3}
              text-anchor="middle"
              class="mono small"
            >
              {a.label}
              {a.analysis.length > 0 ? ` [${a.analysis.join(", ")}]` : ""}
            </text>
          </g>
        ))}
        {model.app.filter((m) => inPage(m.y)).map((m) => (
          <text
            key={`app-${m.seq}`}
            data-app={m.seq}
            x={m.side === "server" ? X.server + 8 : X.client - 8}
            y={m.y + 4}
            text-anchor={m.side === "server" ? "start" : "end"}
            class="small"
          >
            app: {m.label}
          </text>
        ))}
        {model.queues.filter((q) => inPage(q.y)).map((q) => (
          <text
            key={`q-${q.ts}`}
            x={q.side === "server" ? X.server + 8 : X.client - 8}
            y={q.y + 4}
            text-anchor={q.side === "server" ? "start" : "end"}
            class="muted small"
          >
            {q.label}
          </text>
        ))}
      </svg>
    </figure>
  );
}
