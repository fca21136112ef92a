// The ts-error-worker's drain (ARCHITECTURE.md, flow 3): fix each claimed TypeScript error with the code-fix
// flow, as its owner, and write every outcome back through ai.record_typescript_error_result (which accepts
// it only while our claim holds the row). Then claim more, until none are due or the budget is spent.
//
// While a batch is worked on, its claim's lease is renewed (a heartbeat), so only a dead worker's claims expire.
// An attempt counts when work on an error starts (ai.start_typescript_error). An LLM failure is a failed
// attempt, retried with backoff; only on the last attempt does retrieval answer instead (fix_source
// retrieval_fallback). An owner whose token budget is used up has the error put back, its attempt not counted.
// Write-backs cut by a lost connection are retried after reconnecting.
import { callerForOwner, db } from "./db.ts";
import { fixCodeError, type FixOutcome } from "./code_fix.ts";
import { logWithId } from "./http.ts";
import { heartbeatMs, withHeartbeat } from "./lease.ts";
import type { Llm } from "./llm.ts";
import { retryOnLostConnection } from "./reconnect.ts";
import type { DrainOptions, DrainReport } from "./worker.ts";

interface QueuedError {
  id: string;
  owner: string | null;
  file_path: string;
  error_code: string;
  error_message: string;
  code_snippet: string;
  claim_token: string;
}

export interface TsErrorDrainOptions extends DrainOptions {
  /** The claim the waking cron run made (process_typescript_errors_batch), processed first. */
  claimToken: string | null;
  batchSize: number;
  /** The claims' lease: renewed every third of it while working. */
  staleAfterSeconds: number;
  llm: Llm | null;
}

type Outcome = "succeeded" | "failed" | "deferred" | "stale";

/** A token-budget refusal (the owner's or the project's): not the error's fault, so not an attempt. */
function budgetRefusal(error: unknown): { retryAt: Date; message: string } | null {
  const e = error as { name?: string; status?: number; code?: string; details?: { retry_at?: string } };
  if (e?.name !== "HttpError" || e.status !== 429 || !/token_budget/.test(e.code ?? "")) return null;
  const retryAt = e.details?.retry_at ? new Date(e.details.retry_at) : new Date(Date.now() + 3_600_000);
  return { retryAt, message: (error as Error).message };
}

async function fixOne(error: QueuedError, llm: Llm | null): Promise<Outcome> {
  const sql = db();
  const [started] = await retryOnLostConnection(() =>
    sql`select attempts, max_attempts from ai.start_typescript_error(${error.id}, ${error.claim_token})`
  );
  if (!started) return "stale"; // our claim expired meanwhile and someone else has the row
  const lastAttempt = started.attempts >= started.max_attempts;
  const input = {
    error: error.error_message,
    code: error.code_snippet,
    filePath: error.file_path,
    errorCode: error.error_code,
  };
  const context = (withLlm: Llm | null) => ({
    owner: error.owner,
    actor: callerForOwner(error.owner),
    llm: withLlm,
    functionName: "ts-error-worker",
    llmFailure: "throw" as const,
  });

  let outcome: FixOutcome | null = null;
  let source: "llm" | "compiler" | "retrieval" | "retrieval_fallback" = "retrieval";
  let note: string | null = null;
  try {
    outcome = await fixCodeError(context(llm), input);
    source = outcome.source === "llm" || outcome.source === "compiler" ? outcome.source : "retrieval";
  } catch (e) {
    if ((e as { code?: string }).code === "code_too_complex") {
      // Quarantined input (the compiler ran out of time on it): it can never succeed, so it fails now.
      const [row] = await retryOnLostConnection(() =>
        sql`select ai.fail_typescript_error(${error.id}, ${error.claim_token}, ${
          (e as Error).message
        }) as status`
      );
      return row.status === null ? "stale" : "failed";
    }
    const refused = budgetRefusal(e);
    if (refused) {
      const [row] = await retryOnLostConnection(() =>
        sql`select ai.defer_typescript_error(${error.id}, ${error.claim_token}, ${refused.retryAt},
                                             ${refused.message}) as status`
      );
      return row.status === null ? "stale" : "deferred";
    }
    // Stored for the owner to read: the reason itself goes to the log only.
    const id = logWithId(e, "ts-error-worker");
    const llmFailed = (e as Error)?.name === "LlmError";
    note = llmFailed ? `the LLM call failed (error id ${id})` : `the fix failed (error id ${id})`;
    if (llmFailed && lastAttempt) {
      // The last attempt: answer from retrieval after all, marked as such.
      try {
        outcome = await fixCodeError(context(null), input);
        source = "retrieval_fallback";
        if (outcome.success) note += "; answered from retrieval";
      } catch (fallbackError) {
        note += `; retrieval failed too (error id ${logWithId(fallbackError, "ts-error-worker")})`;
      }
    }
  }

  let fix: string | null = null;
  let analysisId: string | null = null;
  let failure: string | null = note;
  if (outcome?.success) {
    fix = outcome.fix;
    analysisId = outcome.stored?.id ?? outcome.reference?.id ?? null;
  } else if (outcome) {
    failure = [note, `no fix found${outcome.warnings.length ? `: ${outcome.warnings.join("; ")}` : ""}`]
      .filter(Boolean).join("; ");
  }
  const [row] = await retryOnLostConnection(() =>
    sql`select ai.record_typescript_error_result(${error.id}, ${error.claim_token}, ${fix}, ${analysisId},
                                                 ${failure}, ${fix === null ? null : source}) as status`
  );
  if (row.status === null) return "stale"; // our claim expired meanwhile: the result was refused
  return fix === null ? "failed" : "succeeded";
}

export async function drainTypeScriptErrors(options: TsErrorDrainOptions): Promise<DrainReport> {
  const sql = db();
  const started = Date.now();
  const report: DrainReport = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    stale: 0,
    deferred: 0,
    released: 0,
    batches: 0,
    ms: 0,
  };
  const columns = sql`id, owner, file_path, error_code, error_message, code_snippet, claim_token::text`;
  try {
    let batch: QueuedError[] = options.claimToken
      ? await sql<QueuedError[]>`select ${columns} from public.typescript_errors
                                 where claim_token = ${options.claimToken} and status = 'processing'`
      : [];
    while (true) {
      if (batch.length === 0) {
        if (Date.now() - started >= options.budgetMs) break;
        batch = await sql<QueuedError[]>`
          select ${columns} from ai.claim_typescript_errors(${options.batchSize}, make_interval(secs => ${options.staleAfterSeconds}))`;
        if (batch.length === 0) break;
      }
      report.batches++;
      report.claimed += batch.length;
      const token = batch[0].claim_token;
      const work = batch;
      await withHeartbeat(
        () => sql`select ai.renew_typescript_error_claim(${token})`,
        heartbeatMs(options.staleAfterSeconds),
        async () => {
          for (const error of work) {
            // The time budget is checked per error: what was not started is handed back untouched, and the
            // worker wakes itself for the rest (worker.ts), so no request outlives hosted's limits.
            if (Date.now() - started >= options.budgetMs) {
              const [row] = await retryOnLostConnection(() =>
                sql`select ai.release_typescript_error(${error.id}, ${error.claim_token}) as status`
              );
              if (row.status !== null) {
                (report.released as number)++;
                report.more = true;
              }
              continue;
            }
            (report[await fixOne(error, options.llm)] as number)++;
          }
        },
      );
      // A failed error waits out its backoff (run_after), so claiming on never hands it straight back.
      batch = [];
    }
  } catch (error) {
    report.error = (error as Error).message; // what was done before the failure stays in the report
  }
  report.ms = Date.now() - started;
  return report;
}
