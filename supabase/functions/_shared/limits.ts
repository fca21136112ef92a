// Per-user limits enforced in Postgres (shared by every instance): requests per minute per function, and an
// optional daily token budget for LLM calls. The service role (workers, server-side callers) is not limited.
//
//   RATE_LIMIT_PER_MINUTE   requests per user per function per minute (default 60; 0 turns it off)
//   LLM_DAILY_TOKEN_BUDGET  tokens per user per 24 hours across LLM calls (default unset: no budget)
import type { Caller } from "./auth.ts";
import { db } from "./db.ts";
import { HttpError } from "./http.ts";

function intEnv(name: string, fallback: number): number {
  const raw = Deno.env.get(name)?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** Counts this request against the caller's per-minute limit for `scope`; 429 with Retry-After past it. */
export async function enforceRateLimit(caller: Caller, scope: string): Promise<void> {
  const max = intEnv("RATE_LIMIT_PER_MINUTE", 60);
  if (max === 0 || caller.role === "service_role") return;
  const key = `${scope}:${caller.userId ?? caller.role}`;
  const [row] = await db()`select allowed, remaining, reset_at from ai.check_rate_limit(${key}, ${max}, 60)`;
  if (!row.allowed) {
    const retryAfter = Math.max(1, Math.ceil((new Date(row.reset_at).getTime() - Date.now()) / 1000));
    throw new HttpError(
      429,
      "rate_limited",
      `Rate limit reached: ${max} requests per minute to ${scope}. Retry in ${retryAfter} s.`,
      { limit: max, reset_at: row.reset_at },
      { "retry-after": String(retryAfter) },
    );
  }
}

/** 429 with Retry-After (when enough usage has aged out of the 24 h window) past LLM_DAILY_TOKEN_BUDGET. */
export async function enforceTokenBudget(caller: Caller): Promise<void> {
  const budget = intEnv("LLM_DAILY_TOKEN_BUDGET", 0);
  if (budget === 0 || caller.role === "service_role") return;
  const [row] = await db()`
    select allowed, used, ai.token_budget_resets_at(${caller.userId}, ${budget}) as reset_at
    from ai.token_budget(${caller.userId}, ${budget})`;
  if (!row.allowed) {
    const retryAfter = Math.max(1, Math.ceil((new Date(row.reset_at).getTime() - Date.now()) / 1000));
    throw new HttpError(
      429,
      "token_budget_exceeded",
      `Daily token budget of ${budget} used (${row.used} tokens in 24 h). Retry in ${retryAfter} s.`,
      { budget, used: Number(row.used), reset_at: row.reset_at },
      { "retry-after": String(retryAfter) },
    );
  }
}
