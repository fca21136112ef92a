// POST /functions/v1/ts-error-worker {"claim_token"?: "<uuid>", "wait"?: false, "batch_size"?: 10}
// The batch fixer, woken by pg_cron's process-ts-errors job through pg_net with the claim it made (see the
// migration 20261125150700_typescript_error_batches.sql). Service role only. Fixes the claimed errors, then
// keeps claiming pending ones until none are left or the time budget is spent; answers 202 at once, or with
// {"wait": true} the report: claimed, succeeded, failed, stale (results refused because a claim expired).
// A claim that arrives while a drain is running here is worked on right after it (status "queued").
//
//   WORKER_BUDGET_MS (default 50000), TS_ERROR_STALE_SECONDS (30: the claims' lease, renewed while working)
import { z } from "zod";
import { requireServiceRole } from "../_shared/auth.ts";
import { readJson, route } from "../_shared/http.ts";
import { configuredLlm } from "../_shared/llm_env.ts";
import { drainTypeScriptErrors } from "../_shared/ts_error_queue.ts";
import { respondToWake } from "../_shared/worker.ts";

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

const Body = z.object({
  claim_token: z.uuid().nullable().default(null),
  wait: z.boolean().default(false),
  /** Set by the worker itself when it starts its next slice (worker.ts). */
  continuation: z.boolean().default(false),
  batch_size: z.number().int().min(1).max(500).default(10),
  budget_ms: z.number().int().min(100).max(600_000).default(env("WORKER_BUDGET_MS", 50_000)),
}).strict();

Deno.serve(route(["POST"], async (req) => {
  await requireServiceRole(req);
  const body = await readJson(req, Body);
  const llm = configuredLlm();
  return await respondToWake("ts-error-worker", (options) =>
    drainTypeScriptErrors({
      ...options,
      claimToken: body.claim_token,
      batchSize: body.batch_size,
      staleAfterSeconds: env("TS_ERROR_STALE_SECONDS", 30),
      llm,
    }), {
    wait: body.wait,
    continuation: body.continuation,
    budgetMs: body.budget_ms,
    // A claim must be worked on even when a drain is already running here (that drain only claims pending
    // errors, never this claim's): it gets a drain of its own once the running one ends.
    followUp: body.claim_token ?? undefined,
  });
}));
