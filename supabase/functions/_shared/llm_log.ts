// Every LLM call is stored in public.llm_responses, successful or not: prompt, response, provider, model,
// tokens, latency, owner. Callers record right after the call, before doing anything else with the result.
// A failure is stored as failureText(error): what kind of failure and an error id (the owner reads these rows;
// the upstream's own text, which may hold URLs or settings, goes to the log under that id).
import type { ChatMessage, LlmProvider, LlmUsage } from "./llm_config.ts";
import type postgres from "postgres";
import type { Sql, Tx } from "./db.ts";
import { llmFailureMessage, logWithId } from "./http.ts";

/** The stored (and shown) text of a failed call: its kind and an error id; the details go to the log. */
export function failureText(error: unknown): string {
  const id = logWithId(error, "llm");
  return (error as Error)?.name === "LlmError"
    ? llmFailureMessage(error as Error, id)
    : `The LLM call failed (error id ${id}).`;
}

export interface LlmCallRecord {
  owner: string | null;
  functionName: string;
  provider: LlmProvider | string;
  model: string;
  messages: ChatMessage[];
  response: string | null;
  usage?: LlmUsage | null;
  latencyMs: number;
  stream?: boolean;
  /** Set when the call failed: the reason, and the upstream status if there was one. */
  error?: string | null;
  httpStatus?: number | null;
  metadata?: Record<string, unknown>;
}

/** Inserts one llm_responses row; returns its id. */
export async function recordLlmCall(sql: Sql | Tx, record: LlmCallRecord): Promise<string> {
  const [row] = await sql`
    insert into public.llm_responses (owner, function_name, provider, model, prompt, response, prompt_tokens,
      completion_tokens, latency_ms, stream, status, error, http_status, metadata)
    values (${record.owner}, ${record.functionName}, ${record.provider}, ${record.model},
      ${sql.json(record.messages as unknown as postgres.JSONValue)}, ${record.response},
      ${record.usage?.prompt_tokens ?? 0}, ${record.usage?.completion_tokens ?? 0},
      ${Math.max(0, Math.round(record.latencyMs))}, ${record.stream ?? false},
      ${record.error ? "error" : "success"}, ${record.error ?? null}, ${record.httpStatus ?? null},
      ${sql.json((record.metadata ?? {}) as postgres.JSONValue)})
    returning id`;
  return row.id;
}
