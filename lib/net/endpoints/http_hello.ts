/**
 * The raw HTTP hello endpoint (seed 002): a plain TCP socket that reads a
 * browser's request up to the blank line and answers with a hand-written
 * HTTP/1.1 response (an HTML page echoing the request), then closes.
 * There is no HTTP library here: the bytes are the lesson.
 */
import { defineTcpEndpoint } from "../endpoint_spec.ts";
import type { ConnHandler, ObservedConn } from "../observed_conn.ts";

/** Limits of the HTTP hello endpoint. */
export interface HttpHelloOptions {
  /**
   * Bytes of request head (request line and headers) read before answering 431.
   *
   * @default {16384}
   */
  maxRequestBytes?: number;
  /** How long the server keeps draining the request body before it closes. @default 1000 */
  lingerMs?: number;
}

interface Pending {
  buf: Uint8Array;
  length: number;
  answered: boolean;
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) (HTTP\/\d\.\d)$/;

/** Escapes text for HTML element content. */
export function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** The request head up to (not including) the blank line, or null until it has arrived. */
function headEnd(buf: Uint8Array, length: number, from: number): number {
  for (let i = Math.max(0, from - 3); i < length; i++) {
    if (buf[i] !== 0x0a) continue;
    if (i >= 1 && buf[i - 1] === 0x0a) return i - 1;
    if (i >= 3 && buf[i - 1] === 0x0d && buf[i - 2] === 0x0a && buf[i - 3] === 0x0d) return i - 3;
  }
  return -1;
}

/** Builds a whole response: status line, headers, blank line, body (unless HEAD). */
export function httpResponse(
  status: string,
  html: string,
  options: { head?: boolean } = {},
): Uint8Array {
  const body = encoder.encode(html);
  const head = [
    `HTTP/1.1 ${status}`,
    "Content-Type: text/html; charset=utf-8",
    `Content-Length: ${body.length}`,
    "Connection: close",
    "Server: sockscope http-hello (written by hand on a TCP socket)",
    "",
    "",
  ].join("\r\n");
  const headBytes = encoder.encode(head);
  if (options.head) return headBytes;
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

function page(title: string, paragraphs: string[], request: string): string {
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    "<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}" +
    "pre{background:#f4f4f4;padding:1rem;overflow:auto}</style>",
    "</head><body>",
    `<h1>${escapeHtml(title)}</h1>`,
    ...paragraphs.map((p) => `<p>${p}</p>`),
    "<p>Your browser sent these bytes before the blank line:</p>",
    `<pre>${escapeHtml(request)}</pre>`,
    "</body></html>",
    "",
  ].join("\n");
}

/** Builds the HTTP hello endpoint's connection handler. */
export function httpHelloHandler(options: HttpHelloOptions = {}): ConnHandler {
  const max = options.maxRequestBytes ?? 16_384;
  const lingerMs = options.lingerMs ?? 1000;

  const answer = (conn: ObservedConn, p: Pending, response: Uint8Array, summary: string) => {
    p.answered = true;
    p.buf = new Uint8Array(0);
    conn.rxBuffered = 0;
    conn.trackMessage(false, true);
    return conn.write(response, [{ kind: "http", summary }]).then(() =>
      conn.closeGracefully("answered", lingerMs)
    );
  };

  return {
    data(conn, chunk) {
      const p =
        (conn.data ??= { buf: new Uint8Array(1024), length: 0, answered: false }) as Pending;
      // Anything after the head (a body, a second request) is drained by the graceful close.
      if (p.answered) return;
      const take = Math.min(chunk.length, max + 4 - p.length);
      if (p.length + take > p.buf.length) {
        const grown = new Uint8Array(
          Math.min(max + 4, Math.max(p.buf.length * 2, p.length + take)),
        );
        grown.set(p.buf.subarray(0, p.length));
        p.buf = grown;
      }
      p.buf.set(chunk.subarray(0, take), p.length);
      const from = p.length;
      p.length += take;
      conn.rxBuffered = p.length;
      const end = headEnd(p.buf, p.length, from);
      if (end === -1) {
        if (p.length <= max) {
          // A head that trickles in (slowloris) is closed by the endpoint's read timeout.
          conn.trackMessage(true, false);
          return;
        }
        conn.countLimit("http-request-bytes");
        conn.annotate({
          kind: "http",
          summary: `request head longer than ${max} B without a blank line`,
          error: true,
        });
        return answer(
          conn,
          p,
          httpResponse(
            "431 Request Header Fields Too Large",
            page("Request too large", [`The request head is longer than ${max} bytes.`], ""),
          ),
          "HTTP/1.1 431 Request Header Fields Too Large",
        );
      }
      const request = latin1.decode(p.buf.subarray(0, end));
      const line = request.split(/\r?\n/, 1)[0];
      const m = REQUEST_LINE.exec(line);
      conn.annotate({
        kind: "http",
        summary: `HTTP request: ${line.slice(0, 120)} (${end} B before the blank line)`,
        error: m === null,
      });
      if (m === null) {
        conn.countError("protocol");
        return answer(
          conn,
          p,
          httpResponse(
            "400 Bad Request",
            page("Bad request", [
              `The request line <code>${
                escapeHtml(line.slice(0, 200))
              }</code> is not <code>METHOD target HTTP/x.y</code>.`,
            ], request),
          ),
          "HTTP/1.1 400 Bad Request",
        );
      }
      const html = page("Hello, world!", [
        "This page was written by hand, byte by byte, on a plain TCP socket: a status line, " +
        "four headers, a blank line, then this HTML.",
        `You asked for <code>${escapeHtml(m[1])} ${escapeHtml(m[2])}</code> over <code>${
          escapeHtml(m[3])
        }</code>.`,
      ], request);
      const response = httpResponse("200 OK", html, { head: m[1] === "HEAD" });
      return answer(conn, p, response, `HTTP/1.1 200 OK (${response.length} B)`);
    },
    end(conn) {
      const p = conn.data as Pending | undefined;
      if (p === undefined || p.answered || p.length === 0) return;
      const request = latin1.decode(p.buf.subarray(0, p.length));
      conn.countError("protocol");
      conn.annotate({
        kind: "http",
        summary: "the client half-closed before the blank line",
        error: true,
      });
      p.answered = true;
      conn.rxBuffered = 0;
      return conn.write(
        httpResponse(
          "400 Bad Request",
          page("Incomplete request", [
            "The stream ended before the blank line that ends a request head.",
          ], request),
        ),
        [{ kind: "http", summary: "HTTP/1.1 400 Bad Request" }],
      );
    },
  };
}

/** The HTTP hello endpoint. */
export const httpHello = defineTcpEndpoint({
  name: "http-hello",
  transport: "tcp",
  defaultPort: 65440,
  description: "A raw socket answering a browser with a hand-written HTTP response",
  tryIt: [
    "curl -v http://{host}:{port}/",
    "printf 'GET / HTTP/1.1\\r\\n\\r\\n' | nc {host} {port}",
  ],
  lab: {
    group: "protocols",
    seed: "seed 002 · a raw socket answering a browser",
    lesson: "HTTP is text on a TCP socket: the server reads the request up to the blank line " +
      "and writes a status line, headers and a page by hand. Open it in a browser, then find " +
      "the browser's request bytes in the packet log.",
    browser: true,
  },
  behaviour: () => ({ handler: httpHelloHandler() }),
});
