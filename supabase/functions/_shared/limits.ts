// Per-user limits enforced in Postgres (shared by every instance): requests per minute per function, and
// token budgets for LLM calls — per user and for the whole project — that every call reserves against before
// it is made (its prompt's estimate plus the capped max_tokens) and settles after it is recorded, so
// concurrent calls, MCP batches and the batch worker cannot pass a budget together (ai.reserve_tokens).
// The service role is not rate limited and has no per-user budget; the project's budget binds every call.
//
//   RATE_LIMIT_PER_MINUTE           requests per user per function per minute (default 60; 0 turns it off)
//   LLM_DAILY_TOKEN_BUDGET          tokens per user per 24 hours across LLM calls (default unset: no budget)
//   LLM_PROJECT_DAILY_TOKEN_BUDGET  tokens per 24 hours for all calls together (default unset: no budget)
//   LLM_MAX_OUTPUT_TOKENS           the most any call may generate: a caller's max_tokens is capped to it,
//                                   and it is sent when the caller gives none (default 4096)
import type { Caller } from "./auth.ts";
import { db, runStep, type Step } from "./db.ts";
import { HttpError } from "./http.ts";

// (The shapes of llm_config.ts's ChatMessage and LlmUsage, declared here: functions that only rate-limit
// must not pull the LLM client's types into their import graph.)
interface ChatMessage {
  content: string;
}
interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

function intEnv(name: string, fallback: number): number {
  const raw = Deno.env.get(name)?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** Whole seconds until `at` (a timestamp Postgres returned), at least 1: a 429's Retry-After. */
function secondsUntil(at: string | Date): number {
  return Math.max(1, Math.ceil((new Date(at).getTime() - Date.now()) / 1000));
}

/** Counts this request against the caller's per-minute limit for `scope`; 429 with Retry-After past it. */
export async function enforceRateLimit(caller: Caller, scope: string): Promise<void> {
  const step = rateLimitStep(caller, scope);
  if (step) await runStep(step);
}

/** enforceRateLimit as a statement to send with others (null: no limit applies to the caller). */
export function rateLimitStep(caller: Caller, scope: string): Step<void> | null {
  const max = intEnv("RATE_LIMIT_PER_MINUTE", 60);
  if (max === 0 || caller.role === "service_role") return null;
  const key = `${scope}:${caller.userId ?? caller.role}`;
  return {
    query: (sql) => sql`select allowed, remaining, reset_at from ai.check_rate_limit(${key}, ${max}, 60)`,
    read: ([row]) => {
      if (row.allowed) return;
      const retryAfter = secondsUntil(row.reset_at);
      throw new HttpError(
        429,
        "rate_limited",
        `Rate limit reached: ${max} requests per minute to ${scope}. Retry in ${retryAfter} s.`,
        { limit: max, reset_at: row.reset_at },
        { "retry-after": String(retryAfter) },
      );
    },
  };
}

/**
 * A statement to send with others (db.ts sendSteps) that answers 429 with Retry-After (when enough usage has aged
 * out of the 24 h window) past LLM_DAILY_TOKEN_BUDGET; null when no budget applies to the caller.
 */
export function tokenBudgetStep(caller: Caller): Step<void> | null {
  const budget = intEnv("LLM_DAILY_TOKEN_BUDGET", 0);
  if (budget === 0 || caller.role === "service_role") return null;
  return {
    query: (sql) =>
      sql`select allowed, used, ai.token_budget_resets_at(${caller.userId}, ${budget}) as reset_at
          from ai.token_budget(${caller.userId}, ${budget})`,
    read: ([row]) => {
      if (row.allowed) return;
      const retryAfter = secondsUntil(row.reset_at);
      throw new HttpError(
        429,
        "token_budget_exceeded",
        `Daily token budget of ${budget} used (${row.used} tokens in 24 h). Retry in ${retryAfter} s.`,
        { budget, used: Number(row.used), reset_at: row.reset_at },
        { "retry-after": String(retryAfter) },
      );
    },
  };
}

/** The max_tokens a call is made with: the caller's, at most LLM_MAX_OUTPUT_TOKENS (its default when none). */
export function cappedMaxTokens(requested?: number | null): number {
  const cap = intEnv("LLM_MAX_OUTPUT_TOKENS", 4096) || 4096;
  return requested ? Math.min(requested, cap) : cap;
}

/** A generous estimate of the tokens of a text (about 3 characters a token; code and non-English run shorter). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 3);
}

/** A generous estimate of a prompt's tokens: its texts plus a few per message for the chat format. */
export function estimatePromptTokens(messages: ChatMessage[]): number {
  return messages.reduce((sum, m) => sum + estimateTokens(m.content) + 4, 0);
}

/**
 * What a call that failed or was cut off used, when the provider did not say: nothing for an answer the
 * provider refused (a 4xx: not billed), else the prompt, plus what was generated before the end.
 */
export function estimatedUsage(
  messages: ChatMessage[],
  partial = "",
  status: number | null = null,
): LlmUsage {
  if (status !== null && status >= 400 && status < 500) {
    return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
  }
  const prompt = estimatePromptTokens(messages);
  const completion = estimateTokens(partial);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A finished call's usage as the provider reported it, or (when it reported none) estimated. */
export function usageOf(
  messages: ChatMessage[],
  text: string,
  reported: LlmUsage | null | undefined,
): { usage: LlmUsage; estimated: boolean } {
  if (reported && reported.prompt_tokens + reported.completion_tokens > 0) {
    return { usage: reported, estimated: false };
  }
  return { usage: estimatedUsage(messages, text), estimated: true };
}

export interface Reservation {
  /** Releases the reservation; call it after the call is recorded (its row counts what it used). */
  settle(): Promise<void>;
}

/**
 * Reserves the most a call can use — `messages`' estimate plus `maxTokens` — against the owner's daily budget
 * (LLM_DAILY_TOKEN_BUDGET; owner null: none) and the project's (LLM_PROJECT_DAILY_TOKEN_BUDGET). 429
 * token_budget_exceeded / project_token_budget_exceeded when either would be passed (details.retry_at: when
 * enough of it will have aged out). A no-op when no budget is set.
 */
export async function reserveTokens(
  owner: string | null,
  messages: ChatMessage[],
  maxTokens: number,
): Promise<Reservation> {
  const userBudget = intEnv("LLM_DAILY_TOKEN_BUDGET", 0) || null;
  const projectBudget = intEnv("LLM_PROJECT_DAILY_TOKEN_BUDGET", 0) || null;
  if ((userBudget === null || owner === null) && projectBudget === null) return { settle: async () => {} };
  const tokens = estimatePromptTokens(messages) + maxTokens;
  const [row] = await db()`
    select reservation_id, allowed, scope, used, budget, retry_at
    from ai.reserve_tokens(${owner}, ${tokens}, ${userBudget}, ${projectBudget})`;
  if (!row.allowed) {
    const project = row.scope === "project";
    const retryAfter = secondsUntil(row.retry_at);
    throw new HttpError(
      429,
      project ? "project_token_budget_exceeded" : "token_budget_exceeded",
      project
        ? `This project's daily token budget of ${row.budget} is used up (${row.used} tokens in 24 h, calls in flight included).`
        : `Daily token budget of ${row.budget} used (${row.used} tokens in 24 h, calls in flight included; this call needs up to ${tokens}).`,
      { budget: Number(row.budget), used: Number(row.used), needed: tokens, retry_at: row.retry_at },
      { "retry-after": String(retryAfter) },
    );
  }
  const id = row.reservation_id as string;
  return { settle: async () => void await db()`select ai.settle_tokens(${id})` };
}
