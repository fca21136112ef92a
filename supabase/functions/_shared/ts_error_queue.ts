// The ts-error-worker's drain (ARCHITECTURE.md, flow 3): fix each claimed TypeScript error with the code-fix
// flow, as its owner, and write every outcome back through ai.record_typescript_error_result (which accepts
// it only while our claim holds the row). Then claim more, until none are pending or the budget is spent.
import { callerForOwner, db } from "./db.ts";
import { fixCodeError } from "./code_fix.ts";
import type { Llm } from "./llm.ts";
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
  staleAfterSeconds: number;
  llm: Llm | null;
}

async function fixOne(
  error: QueuedError,
  llm: Llm | null,
): Promise<{ status: string | null; failed: boolean }> {
  let fix: string | null = null;
  let analysisId: string | null = null;
  let failure: string | null = null;
  try {
    const outcome = await fixCodeError(
      { owner: error.owner, actor: callerForOwner(error.owner), llm, functionName: "ts-error-worker" },
      {
        error: error.error_message,
        code: error.code_snippet,
        filePath: error.file_path,
        errorCode: error.error_code,
      },
    );
    if (outcome.success) {
      fix = outcome.fix;
      analysisId = outcome.stored?.id ?? outcome.reference?.id ?? null;
    } else {
      failure = `no fix found${outcome.warnings.length ? `: ${outcome.warnings.join("; ")}` : ""}`;
    }
  } catch (e) {
    failure = (e as Error).message || String(e);
  }
  const [row] = await db()`
    select ai.record_typescript_error_result(${error.id}, ${error.claim_token}, ${fix}, ${analysisId}, ${failure}) as status`;
  return { status: row.status, failed: failure !== null };
}

export async function drainTypeScriptErrors(options: TsErrorDrainOptions): Promise<DrainReport> {
  const sql = db();
  const started = Date.now();
  const report: DrainReport = { claimed: 0, succeeded: 0, failed: 0, stale: 0, batches: 0, ms: 0 };
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
      let failures = 0;
      for (const error of batch) {
        const { status, failed } = await fixOne(error, options.llm);
        if (status === null) (report.stale as number)++; // our claim expired meanwhile: the result was refused
        else if (failed) failures++;
        else report.succeeded++;
      }
      report.failed += failures;
      batch = [];
      // A failed error is pending again at once (the cron schedule is its backoff): claiming on would hand it
      // straight back and spend all its attempts in this one drain. Leave it, and the rest, to the next run.
      if (failures > 0) break;
    }
  } catch (error) {
    report.error = (error as Error).message; // what was done before the failure stays in the report
  }
  report.ms = Date.now() - started;
  return report;
}
