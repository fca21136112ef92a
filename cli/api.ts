// Talking to the project's edge functions — a local stack or a hosted project — with the user's key:
// fix-code-error and code-fix-feedback over plain HTTP, and the mcp function's queue tools
// (queue_typescript_errors, list_typescript_errors) through the MCP SDK's client.
//
// Failures that every later request would repeat (the URL cannot be reached, the key is refused, the
// function is not deployed) become a CliError that ends the run with one clear sentence.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { FixOutcome } from "../supabase/functions/_shared/code_fix.ts";
import type { SimilarFix } from "../supabase/functions/_shared/similar_fixes.ts";
import { unfenceAll } from "../supabase/functions/_shared/mcp/untrusted.ts";
import { CliError } from "./errors.ts";

export interface FixRequest {
  error: string;
  code: string;
  file_path: string;
  error_code: string;
  model?: string;
}

/** What fix-code-error answers: the server's own type, so the CLI and the function cannot drift apart. */
export type FixResponse = FixOutcome;
export type { SimilarFix };

/** An answer that is not a success but concerns only this request (the run goes on). */
export class RequestFailed extends Error {
  override name = "RequestFailed";
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** Errors every later request would repeat: the run stops at the first one. */
const FATAL_CODES = new Set([
  "model_not_allowed",
  "llm_misconfigured",
  "database_not_configured",
  "embedding_model_unavailable",
]);

const START_HINT = "is the stack running? `npx -y deno@2 task start` (or pass the project's URL with --url)";

/** Headers for a key: a JWT goes in Authorization, a new-style sb_… key in apikey (as supabase-js sends them). */
export function authHeaders(key: string): Record<string, string> {
  return key.startsWith("sb_") ? { apikey: key } : { authorization: `Bearer ${key}` };
}

function keyRefused(url: string, status: number, detail: string): CliError {
  return new CliError(
    `The key was refused by ${url} (${status}${detail ? `: ${detail}` : ""}). Pass a user's JWT or the ` +
      "service key with --key or SUPABASE_KEY (`npx -y deno@2 task status` prints the local keys).",
  );
}

function unreachable(url: string, error: unknown): CliError {
  const reason = error instanceof Error ? error.message.replace(/\s+/g, " ").slice(0, 200) : String(error);
  return new CliError(`Cannot reach ${url}: ${START_HINT}. (${reason})`);
}

interface ErrorBody {
  error?: { code?: string; message?: string } | string;
}

function errorText(body: ErrorBody | null, fallback: string): { code: string; message: string } {
  if (body && typeof body.error === "object" && body.error) {
    return { code: body.error.code ?? "", message: body.error.message ?? fallback };
  }
  if (body && typeof body.error === "string") return { code: "", message: body.error };
  return { code: "", message: fallback };
}

export class Api {
  #mcp: Client | null = null;

  constructor(readonly url: string, readonly key: string, private readonly sleep = delay) {}

  functionUrl(name: string): string {
    return `${this.url.replace(/\/+$/, "")}/functions/v1/${name}`;
  }

  /** POSTs JSON to a function; retries 429/503 (honouring Retry-After, up to 30 s) twice. */
  async post<T>(name: string, body: unknown): Promise<T> {
    for (let attempt = 0;; attempt++) {
      let response: Response;
      try {
        response = await fetch(this.functionUrl(name), {
          method: "POST",
          headers: { ...authHeaders(this.key), "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      } catch (error) {
        throw unreachable(this.url, error);
      }
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch { /* not JSON */ }
      if (response.ok) return parsed as T;
      const { code, message } = errorText(parsed as ErrorBody, text.slice(0, 300) || response.statusText);
      if ((response.status === 401 || response.status === 403) && !code.startsWith("llm_")) {
        throw keyRefused(this.url, response.status, message);
      }
      if (response.status === 404 && (code === "function_not_found" || code === "")) {
        throw new CliError(`${name} is not deployed at ${this.url} (404: ${message}).`);
      }
      if (FATAL_CODES.has(code)) throw new CliError(`${name} at ${this.url}: ${message}`);
      const retryAfter = Number(response.headers.get("retry-after") ?? "1");
      if ((response.status === 429 || response.status === 503) && attempt < 2 && retryAfter <= 30) {
        await this.sleep(Math.max(1, retryAfter) * 1000);
        continue;
      }
      throw new RequestFailed(`${response.status}${code ? ` ${code}` : ""}: ${message}`, response.status);
    }
  }

  fixCodeError(request: FixRequest): Promise<FixResponse> {
    return this.post<FixResponse>("fix-code-error", request);
  }

  feedback(analysisId: string, feedback: "accepted" | "rejected", note?: string): Promise<unknown> {
    return this.post("code-fix-feedback", { analysis_id: analysisId, feedback, ...(note ? { note } : {}) });
  }

  async #client(): Promise<Client> {
    if (this.#mcp) return this.#mcp;
    const client = new Client({ name: "supabase-ai-fix-cli", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(this.functionUrl("mcp")), {
      requestInit: { headers: authHeaders(this.key) },
    });
    try {
      await client.connect(transport);
    } catch (error) {
      const status = (error as { code?: unknown }).code;
      if (status === 401 || status === 403) throw keyRefused(this.url, status, (error as Error).message);
      if (status === 404) {
        throw new CliError(`The mcp function is not deployed at ${this.url} (--queue and --status use it).`);
      }
      if (typeof status === "number") {
        throw new CliError(`The mcp function at ${this.url} answered ${status}: ${(error as Error).message}`);
      }
      throw unreachable(this.url, error);
    }
    this.#mcp = client;
    return client;
  }

  /** Calls one of the mcp function's tools; its structured result, or a CliError with the tool's sentence. */
  async tool<T>(name: string, args: Record<string, unknown>): Promise<T> {
    const client = await this.#client();
    let result: CallToolResult;
    try {
      result = await client.callTool({ name, arguments: args }) as CallToolResult;
    } catch (error) {
      throw new CliError(`${name} failed: ${(error as Error).message}`, 1);
    }
    if (result.isError) {
      const text = (result.content as { text?: string }[]).map((c) => c.text ?? "").join(" ");
      throw new CliError(text || `${name} failed`, 1);
    }
    // Row data comes fenced as untrusted data (for models); the CLI shows and uses the values themselves.
    return unfenceAll(result.structuredContent) as T;
  }

  async close(): Promise<void> {
    await this.#mcp?.close().catch(() => {});
    this.#mcp = null;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
