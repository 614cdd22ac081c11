/** Query and body parameter parsing with bounds checks, answered with a specific 400. */

/** A parameter that failed validation; routes answer it with 400 and its message. */
export class ParamError extends Error {}

/** Parses an optional integer query parameter within [min, max]. */
export function intParam(
  url: URL,
  name: string,
  options: { min: number; max: number; fallback?: number },
): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return options.fallback;
  if (!/^-?\d+$/.test(raw)) {
    throw new ParamError(`Cannot parse query: "${name}" is not an integer: "${raw}"`);
  }
  const n = Number(raw);
  if (n < options.min || n > options.max) {
    throw new ParamError(
      `Cannot parse query: "${name}" is out of range ${options.min}..${options.max}: "${raw}"`,
    );
  }
  return n;
}

/** Parses an optional string query parameter limited to a set of values. */
export function enumParam<T extends string>(
  url: URL,
  name: string,
  values: readonly T[],
): T | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  if (!values.includes(raw as T)) {
    throw new ParamError(
      `Cannot parse query: "${name}" must be one of ${values.join(", ")}: "${raw}"`,
    );
  }
  return raw as T;
}

/**
 * Parses an optional `endpoint` query parameter: one of `endpoints`' names. A
 * name that isn't one is refused rather than matching nothing, so a typo is
 * told apart from an idle endpoint.
 */
export function endpointParam(
  url: URL,
  endpoints: { has(name: string): boolean; keys(): Iterable<string> },
): string | undefined {
  const raw = url.searchParams.get("endpoint");
  if (raw === null || raw === "") return undefined;
  if (!endpoints.has(raw)) {
    throw new ParamError(
      `Cannot parse query: "endpoint" must be one of ${[...endpoints.keys()].join(", ")}: "${raw}"`,
    );
  }
  return raw;
}

/**
 * Parses an optional comma-separated list of endpoint names, each one of
 * `endpoints`' (refused otherwise, as {@linkcode endpointParam} does).
 */
export function endpointsParam(
  url: URL,
  name: string,
  endpoints: { has(name: string): boolean; keys(): Iterable<string> },
): string[] | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const wanted = [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
  if (wanted.length === 0) return undefined;
  const unknown = wanted.find((s) => !endpoints.has(s));
  if (unknown !== undefined) {
    throw new ParamError(
      `Cannot parse query: "${name}" has "${unknown}", not one of ${
        [...endpoints.keys()].join(", ")
      }`,
    );
  }
  return wanted;
}

/**
 * Parses an optional comma-separated list of socket states, as `ss` spells
 * them too (`established`, `time-wait`): returns the names in upper case with
 * underscores, each one of `states`.
 */
export function statesParam(
  url: URL,
  name: string,
  states: readonly string[],
): string[] | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return undefined;
  const wanted = raw.split(",").map((s) => s.trim().toUpperCase().replaceAll("-", "_")).filter(
    Boolean,
  );
  if (wanted.length === 0) return undefined;
  const unknown = wanted.find((s) => !states.includes(s));
  if (unknown !== undefined) {
    throw new ParamError(
      `Cannot parse query: "${name}" has "${unknown}", not one of ${states.join(", ")}`,
    );
  }
  return wanted;
}

/** Reads a JSON object body, bounded in bytes: a larger one is refused without being held. */
export async function jsonBody(req: Request, maxBytes = 65536): Promise<Record<string, unknown>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw new ParamError(`Cannot parse body: larger than ${maxBytes} bytes`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body !== null) {
    const reader = req.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.length;
        if (size > maxBytes) {
          throw new ParamError(`Cannot parse body: larger than ${maxBytes} bytes`);
        }
        chunks.push(value);
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const text = new TextDecoder().decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ParamError(`Cannot parse body: not valid JSON: "${text.slice(0, 60)}"`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ParamError("Cannot parse body: expected a JSON object");
  }
  return value as Record<string, unknown>;
}
