/**
 * Which requests the dashboard trusts, as pure decisions: the `Host` a
 * request names (DNS rebinding), where a mutating request comes from and what
 * it carries (CSRF), the token, and which bind addresses are loopback. Each
 * check returns null or the refusal to send; main.ts applies them in one
 * middleware before routing.
 */

/** A request refused: the status and the `{"error": …}` message to send. */
export interface Refusal {
  status: 401 | 403 | 415 | 421;
  error: string;
}

const IPV4_PART = /^(0|[1-9]\d{0,2})$/;

/**
 * The 4 bytes of a dotted-quad IPv4 literal, or null. Strict on purpose:
 * `127.1` and `0177.0.0.1` (which inet_aton would take) are not IP literals
 * here, so a caller treats them as names, the safe side of every check.
 */
export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!IPV4_PART.test(parts[i]) || Number(parts[i]) > 255) return null;
    out[i] = Number(parts[i]);
  }
  return out;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * The 16 bytes of an IPv6 literal without brackets (`::1`, `fe80::1`,
 * `::ffff:127.0.0.1`), or null; a zone (`%lo`) is not accepted.
 */
export function parseIpv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups: number[][] = [];
  for (let h = 0; h < halves.length; h++) {
    const words: number[] = [];
    const parts = halves[h] === "" ? [] : halves[h].split(":");
    for (let i = 0; i < parts.length; i++) {
      // Only the address's last 32 bits may be written as dotted IPv4.
      const last = i === parts.length - 1 && h === halves.length - 1;
      const v4 = last && parts[i].includes(".") ? parseIpv4(parts[i]) : null;
      if (v4 !== null) {
        words.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (HEX_GROUP.test(parts[i])) {
        words.push(parseInt(parts[i], 16));
      } else {
        return null;
      }
    }
    groups.push(words);
  }
  const [head, tail = []] = groups;
  const count = head.length + tail.length;
  // With "::" at least one group is zero; without it, exactly eight groups.
  if (halves.length === 2 ? count > 7 : count !== 8) return null;
  const words = [...head, ...new Array(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** The bytes of an IP literal (IPv6 with or without brackets), or null for a name. */
export function parseIp(text: string): Uint8Array | null {
  if (text.startsWith("[") && text.endsWith("]")) return parseIpv6(text.slice(1, -1));
  return parseIpv4(text) ?? (text.includes(":") ? parseIpv6(text) : null);
}

function isMappedV4(ip: Uint8Array): boolean {
  return ip.length === 16 && ip.subarray(0, 10).every((b) => b === 0) && ip[10] === 0xff &&
    ip[11] === 0xff;
}

/**
 * True when `host` is loopback by its address: IPv4 127.0.0.0/8, `::1`,
 * `::ffff:127.x.y.z`, or exactly the name `localhost`. Any other name (even
 * `127.evil.example` or `localhost.evil.example`) is not: DNS decides where
 * it points, so binding to it needs the token.
 */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const ip = parseIp(host);
  if (ip === null) return false;
  if (ip.length === 4) return ip[0] === 127;
  if (isMappedV4(ip)) return ip[12] === 127;
  return ip.subarray(0, 15).every((b) => b === 0) && ip[15] === 1;
}

function isWildcard(ip: Uint8Array): boolean {
  return ip.every((b) => b === 0);
}

function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The name in a `Host` header without its port, lower-cased (`[::1]:8000` →
 * `[::1]`), or null when the header is not `host[:port]`.
 */
export function hostName(header: string): string | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/.exec(header);
  if (m === null || (m[2] !== undefined && Number(m[2]) > 65535)) return null;
  return m[1].toLowerCase();
}

/** Who may name the dashboard in `Host`: see {@linkcode checkHost}. */
export interface HostOptions {
  /** The address the dashboard is bound to, as given to `--host` (`127.0.0.1`, `::`, a name). */
  bind: string;
  /** More names to accept, from `--allow-host`. @default [] */
  allowHosts?: readonly string[];
}

/**
 * Null when a request's `Host` names this service, else a 421 refusal. DNS
 * rebinding needs a name the attacker's DNS answers, so these pass: `localhost`,
 * the bound address, the `--allow-host` names, and, when bound to a wildcard
 * (`0.0.0.0`, `::`) or to a name, any IP literal: the machine's addresses
 * change with its interfaces (and a forwarded port arrives under the
 * forwarder's address), and no page can rebind an IP literal.
 */
export function checkHost(host: string | null, options: HostOptions): Refusal | null {
  const name = host === null ? null : hostName(host);
  const bind = options.bind.toLowerCase();
  const bound = parseIp(bind);
  if (name !== null) {
    const ip = parseIp(name);
    if (name === "localhost" || name === bind) return null;
    if (ip !== null && (bound === null || isWildcard(bound) || sameIp(ip, bound))) return null;
    for (const allowed of options.allowHosts ?? []) {
      const a = allowed.toLowerCase();
      const aIp = parseIp(a);
      if (a === name || (ip !== null && aIp !== null && sameIp(ip, aIp))) return null;
    }
  }
  const expected = bound === null
    ? `${options.bind}, an IP address`
    : isWildcard(bound)
    ? "an IP address"
    : bound.length === 16 && !bind.startsWith("[")
    ? `[${bind}]`
    : bind;
  return {
    status: 421,
    error: `Misdirected request: host "${host ?? ""}" is not ${expected}, localhost ` +
      "or a name given with --allow-host",
  };
}

/** Methods that change nothing: the only ones another site may send. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Null when a request may act, else a refusal. A mutating request (any
 * method but GET, HEAD, OPTIONS) is refused 403 when `Sec-Fetch-Site` says
 * `cross-site` or `same-site` (another port of this host is the same site)
 * or its `Origin` is not `host`'s own; and 415 when it carries a body that is
 * not `application/json`, the one type a page on another site cannot send
 * without the browser asking first (CORS preflight, which we never grant).
 * curl and scripts send no `Origin` and pass. `host` is the request's `Host`.
 */
export function checkMutation(method: string, headers: Headers, host: string): Refusal | null {
  if (SAFE_METHODS.has(method.toUpperCase())) return null;
  const site = headers.get("sec-fetch-site")?.toLowerCase();
  if (site === "cross-site" || site === "same-site") {
    return { status: 403, error: `Cross-site request refused: Sec-Fetch-Site is "${site}"` };
  }
  const origin = headers.get("origin");
  if (origin !== null && originHost(origin) !== urlHost(host)) {
    return {
      status: 403,
      error: `Cross-site request refused: origin "${origin}" is not this dashboard's`,
    };
  }
  const type = headers.get("content-type");
  if (type === null) {
    const length = headers.get("content-length");
    const hasBody = headers.has("transfer-encoding") || (length !== null && length !== "0");
    return hasBody
      ? { status: 415, error: "Unsupported content type: none given, send application/json" }
      : null;
  }
  if (type.split(";")[0].trim().toLowerCase() !== "application/json") {
    return { status: 415, error: `Unsupported content type "${type}": send application/json` };
  }
  return null;
}

/** `host[:port]` of an http(s) origin as the URL parser writes it, or null (`null`, other schemes). */
function originHost(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.host : null;
  } catch {
    return null;
  }
}

function urlHost(host: string): string | undefined {
  try {
    return new URL(`http://${host}`).host;
  } catch {
    return undefined;
  }
}

/**
 * The value of cookie `name` in a `Cookie` header, or undefined: pairs split
 * on `;`, trimmed, the name compared exactly (so `xsockscope_token` is not
 * `sockscope_token`).
 */
export function cookieValue(header: string | null | undefined, name: string): string | undefined {
  for (const pair of header?.split(";") ?? []) {
    const eq = pair.indexOf("=");
    if (eq !== -1 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** The credentials of `Authorization: Bearer <token>`, or undefined for any other header. */
export function bearerToken(header: string | null | undefined): string | undefined {
  return /^Bearer +(\S+) *$/i.exec(header ?? "")?.[1];
}

const encoder = new TextEncoder();

/**
 * Compares a given token with the expected one in constant time: both sides
 * go through HMAC-SHA-256 under a key made per process, and the two 32-byte
 * MACs are compared without an early exit, so the time taken says nothing
 * about the token, its length, or even its hash.
 */
export class TokenCheck {
  #expected: Promise<{ key: CryptoKey; mac: Uint8Array }>;

  /** Prepares the comparison with `token`. */
  constructor(token: string) {
    this.#expected = (async () => {
      const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
      ]);
      const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(token)));
      return { key, mac };
    })();
  }

  /** True when `given` is the token. */
  async matches(given: string | undefined): Promise<boolean> {
    const { key, mac } = await this.#expected;
    const other = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, encoder.encode(given ?? "")),
    );
    let diff = given === undefined ? 1 : 0;
    for (let i = 0; i < mac.length; i++) diff |= mac[i] ^ other[i];
    return diff === 0;
  }
}
