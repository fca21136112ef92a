// POST /functions/v1/embed-worker — the automatic-embedding worker, woken by pg_net (see the migration
// 20261125150200_worker_wakeups.sql). Service role only. Drains ai.embedding_jobs in batches until the queue
// is empty or the time budget is spent; answers 202 at once (the drain goes on), or with {"wait": true}
// the drain's report: claimed, succeeded, failed, stale, batches, ms.
//
// After a wake-up from pg_net the drain keeps watching an empty queue for EMBED_LINGER_MS: writes within 2 s of
// a wake-up send none (the trigger's debounce), so their jobs are left to the drain that wake-up started.
//
// A drain works in slices of EMBED_SLICE_MS (about a second, under hosted's CPU limit per request: the model's
// CPU counts against the worker there) and, when work is left, wakes itself for the next slice.
//
//   EMBED_BATCH_SIZE (default 64), EMBED_SLICE_MS (1000), EMBED_WRITEBACKS (1: write-backs in flight at once),
//   EMBED_VISIBILITY_SECONDS (30: the claims' lease,
//   renewed while they are worked on), WORKER_BUDGET_MS (50000, the longest a drain may run, slices and lingering
//   included), EMBED_LINGER_MS (3000)
import { z } from "zod";
import { requireServiceRole } from "../_shared/auth.ts";
import { drainEmbeddingQueue } from "../_shared/embedding_queue.ts";
import { readJson, route } from "../_shared/http.ts";
import { respondToWake } from "../_shared/worker.ts";

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

const Body = z.object({
  wait: z.boolean().default(false),
  /** Set by the worker itself when it starts its next slice (worker.ts). */
  continuation: z.boolean().default(false),
  batch_size: z.number().int().min(1).max(1000).default(env("EMBED_BATCH_SIZE", 64)),
  budget_ms: z.number().int().min(100).max(600_000).default(env("WORKER_BUDGET_MS", 50_000)),
}).strict();

Deno.serve(route(["POST"], async (req) => {
  await requireServiceRole(req);
  const body = await readJson(req, Body);
  return await respondToWake("embed-worker", (options) =>
    drainEmbeddingQueue({
      ...options,
      batchSize: body.batch_size,
      visibilitySeconds: env("EMBED_VISIBILITY_SECONDS", 30),
      lingerMs: env("EMBED_LINGER_MS", 3_000),
      sliceMs: env("EMBED_SLICE_MS", 1_000),
      writeBacks: env("EMBED_WRITEBACKS", 1),
    }), { wait: body.wait, continuation: body.continuation, budgetMs: body.budget_ms });
}));
