// Request handling shared by every function: CORS, method checks, size-limited zod-validated JSON bodies,
// and errors as `{"error": {"code", "message", "details"?}}` with the right status — 400 bad input, 401/403
// credentials, 405 method, 413 too large, 429 limits, 502/504 upstream, 503 not configured, 500 our fault.
import { z } from "zod";
import { findUnstorableText } from "./storable_text.ts";

export const CORS_HEADERS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, x-client-info, apikey, content-type, accept",
};

/** An error meant for the caller: status, a stable machine code, and a sentence saying what to do. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(body, { status, headers: { ...CORS_HEADERS, ...headers } });
}

export function errorJson(
  status: number,
  code: string,
  message: string,
  details?: unknown,
  headers: Record<string, string> = {},
): Response {
  return json(
    { error: details === undefined ? { code, message } : { code, message, details } },
    status,
    headers,
  );
}

/**
 * Logs an error that is ours (or an upstream's) with a fresh id and returns the id: callers get a generic
 * sentence with the id, the details go only to the log. An error logged once keeps its id (so the id a
 * caller sees matches the one stored with the failed call), and is not logged twice.
 */
export function logWithId(error: unknown, context = "error"): string {
  const tagged = error as { errorId?: string } | null;
  if (tagged && typeof tagged === "object" && typeof tagged.errorId === "string") return tagged.errorId;
  const id = crypto.randomUUID();
  console.error(`[${context} ${id}]`, error);
  if (tagged && typeof tagged === "object" && Object.isExtensible(tagged)) tagged.errorId = id;
  return id;
}

/** What a failed LLM call looks like to a caller: no upstream text, URL or setting, just what kind of failure. */
export function llmFailureMessage(error: object, id: string): string {
  const { kind, status } = error as { kind?: unknown; status?: unknown };
  const what = ({
    upstream: typeof status === "number"
      ? `The LLM provider answered with an error (HTTP ${status})`
      : "The LLM provider answered with an error",
    timeout: "The LLM provider did not answer in time",
    connection: "The LLM provider could not be reached",
    stream_interrupted: "The LLM provider's answer broke off",
    aborted: "The LLM call was cancelled",
  } as Record<string, string>)[String(kind)] ?? "The LLM call failed";
  return `${what} (error id ${id}).`;
}

/**
 * Maps any thrown value to a response. Errors from the shared modules are recognised by name, so this file
 * imports none of them (and no function loads the model or the LLM SDK just to report an error).
 */
export function toErrorResponse(error: unknown): Response {
  if (error instanceof HttpError) {
    return errorJson(error.status, error.code, error.message, error.details, error.headers);
  }
  const e = error as Error & Record<string, unknown>;
  switch (e?.name) {
    case "ModelNotAllowedError":
      return errorJson(400, "model_not_allowed", e.message, { allowed: e.allowed });
    // Upstream and configuration failures: the caller gets the kind of failure and an error id; the reason
    // (an upstream body, a URL with its user:password, a setting's value) goes to the log only.
    case "LlmError": {
      const status = e.httpStatus as number;
      const headers: Record<string, string> = {};
      if (status === 429 && typeof e.retryAfterMs === "number") {
        headers["retry-after"] = String(Math.ceil(e.retryAfterMs / 1000));
      }
      const id = logWithId(error, "llm");
      return errorJson(
        status,
        `llm_${e.kind}`,
        llmFailureMessage(e, id),
        { upstream_status: e.status, error_id: id },
        headers,
      );
    }
    case "LlmConfigError": {
      const id = logWithId(error, "llm config");
      return errorJson(
        503,
        "llm_misconfigured",
        `The LLM is not configured correctly; the server log says what to fix (error id ${id}).`,
        { error_id: id },
      );
    }
    case "EmbeddingModelError": {
      const id = logWithId(error, "embedding model");
      return errorJson(
        503,
        "embedding_model_unavailable",
        `The embedding model is not available (error id ${id}).`,
        { error_id: id },
      );
    }
    case "CompileTimeoutError": {
      // A fix the model wrote that the compiler could not check in time (the caller's own code is refused
      // earlier, with its field: compile_guard.ts).
      const id = logWithId(error, "compile");
      return errorJson(
        422,
        "code_too_complex",
        `The TypeScript compiler could not check the code in time (error id ${id}).`,
        { error_id: id },
      );
    }
    case "PostgresError":
      if (e.code === "57014") {
        const id = logWithId(error, "query timeout");
        return errorJson(
          503,
          "query_timeout",
          `The database query took too long and was stopped (error id ${id}); try again, or send less.`,
          { error_id: id },
        );
      }
  }
  const id = logWithId(error);
  return errorJson(500, "internal_error", `Something went wrong on our side (error id ${id}).`, {
    error_id: id,
  });
}

/**
 * Reads at most maxBytes of the body (413 past that), parses JSON (400), refuses text Postgres cannot store
 * (400 invalid_text naming the field) and validates it (400 with issues).
 */
export async function readJson<T extends z.ZodType>(
  req: Request,
  schema: T,
  maxBytes = 1_000_000,
): Promise<z.infer<T>> {
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.byteLength;
      if (size > maxBytes) throw tooLarge(maxBytes);
      chunks.push(chunk);
    }
  }
  const text = new TextDecoder().decode(concat(chunks, size));
  if (text.trim() === "") {
    throw new HttpError(400, "invalid_json", "The request body is empty; send a JSON object.");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      "invalid_json",
      `The request body is not valid JSON: ${(error as Error).message}`,
    );
  }
  const unstorable = findUnstorableText(value);
  if (unstorable) {
    throw new HttpError(400, "invalid_text", `${unstorable.path || "body"}: ${unstorable.problem}.`, {
      path: unstorable.path,
    });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap(plainIssues);
    const first = issues[0];
    throw new HttpError(400, "invalid_request", `${first.path || "body"}: ${first.message}`, issues);
  }
  return parsed.data;
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  errors?: Issue[][];
}

/**
 * An issue as `{path, message}`s. A failed union (zod says only "Invalid input") is replaced by the issues of
 * the branch whose type the value had, e.g. "input: must hold at most 128 texts" for a too-long array.
 */
function plainIssues(issue: Issue): { path: string; message: string }[] {
  if (issue.code === "invalid_union" && Array.isArray(issue.errors)) {
    const wrongType = (branch: Issue[]) =>
      branch.every((i) => i.code === "invalid_type" && i.path.length === 0);
    const branch = issue.errors.find((b) => b.length > 0 && !wrongType(b));
    if (branch) return branch.flatMap((i) => plainIssues({ ...i, path: [...issue.path, ...i.path] }));
    const expected = [...new Set(issue.errors.flat().map((i) => i.expected).filter(Boolean))];
    if (expected.length) {
      return [{ path: issue.path.join("."), message: `Invalid input: expected ${expected.join(" or ")}` }];
    }
  }
  return [{ path: issue.path.join("."), message: issue.message }];
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, "payload_too_large", `The request body is larger than ${maxBytes} bytes.`);
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Wraps a handler: answers CORS preflight, refuses other methods than `methods` with 405, and turns whatever
 * the handler throws into a JSON error response.
 */
export function route(
  methods: string[],
  handler: (req: Request) => Promise<Response>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS_HEADERS });
    if (!methods.includes(req.method)) {
      return errorJson(405, "method_not_allowed", `Use ${methods.join(" or ")}.`, undefined, {
        allow: [...methods, "OPTIONS"].join(", "),
      });
    }
    try {
      return await handler(req);
    } catch (error) {
      return toErrorResponse(error);
    }
  };
}
