// The embed-worker's drain: claim a batch of embedding jobs, embed their texts with one model call, write the
// vectors back through ai.complete_embedding_jobs (which refuses stale ones), record failures for retry.
// Repeats until the queue is empty or the time budget is spent. A batch's claims are renewed until its
// write-back is done (a short lease: a crashed worker's jobs come back within about a minute), and a
// write-back cut by a lost connection is retried after reconnecting.
import type postgres from "postgres";
import { db } from "./db.ts";
import { embed } from "./embeddings.ts";
import { heartbeatMs, startHeartbeat } from "./lease.ts";
import { retryOnLostConnection } from "./reconnect.ts";
import type { DrainOptions, DrainReport } from "./worker.ts";

interface Job {
  job_id: string;
  claim_token: string;
  content: string | null;
  content_hash: string | null;
}

interface Finished {
  job_id: string;
  claim_token: string;
  content_hash?: string | null;
  embedding?: number[] | null;
  error?: string;
}

export interface EmbeddingDrainOptions extends DrainOptions {
  batchSize: number;
  /** How long a claim stays invisible to other workers. */
  visibilitySeconds: number;
  /**
   * Stop claiming once this much time has gone by and report `more: true` when work was left: the worker then
   * wakes itself for the next slice (worker.ts), so no request runs past hosted's CPU limit (about 2 s per
   * request; the embedding model's CPU counts against the worker there). Wall time bounds CPU time from above.
   */
  sliceMs?: number;
  /** Write-backs allowed in flight at once (default 1). */
  writeBacks?: number;
  /**
   * Keep polling an empty queue until this long after the latest pg_net wake-up (DrainOptions.wokenAt): the
   * insert/update trigger sends no wake-up within 2 seconds of the previous one (ai._embedding_wake's
   * debounce), so jobs queued in that window are this drain's to take, even when it found the queue empty.
   */
  lingerMs?: number;
}

const LINGER_POLL_MS = 200;

/** Embeds a batch; if the batch fails as a whole, each text alone, so one bad text cannot sink the rest. */
async function embedJobs(jobs: Job[]): Promise<Finished[]> {
  const texts = jobs.map((j) => j.content as string);
  try {
    const vectors = await embed(texts);
    return jobs.map((j, i) => ({ ...j, embedding: vectors[i] }));
  } catch (batchError) {
    if (jobs.length === 1) return [{ ...jobs[0], error: (batchError as Error).message }];
    const out: Finished[] = [];
    for (const job of jobs) out.push(...await embedJobs([job]));
    return out;
  }
}

/** Writes a batch's results back (stale vectors refused in SQL) and records its failures for retry. */
async function writeBack(done: Finished[], report: DrainReport): Promise<void> {
  const sql = db();
  const ok = done.filter((d) => !d.error);
  const bad = done.filter((d) => d.error);
  if (ok.length) {
    const [result] = await retryOnLostConnection(() =>
      sql`select written, stale, failed from ai.complete_embedding_jobs(${
        sql.json(ok as unknown as postgres.JSONValue)
      })`
    );
    report.succeeded += result.written;
    (report.stale as number) += result.stale;
    report.failed += result.failed; // rows that could not be written (failed alone, with the reason)
  }
  if (bad.length) {
    const failures = bad.map((b) => ({ job_id: b.job_id, claim_token: b.claim_token, error: b.error }));
    await retryOnLostConnection(() => sql`select ai.fail_embedding_jobs(${sql.json(failures)})`);
    report.failed += bad.length;
  }
}

/**
 * Claims, embeds and writes back batch after batch. A batch's write-back (Postgres's work: index maintenance)
 * overlaps the next batch's claim and embedding (this process's work), so both cores stay busy. A drain that
 * fails midway reports what it did before the error.
 */
export async function drainEmbeddingQueue(options: EmbeddingDrainOptions): Promise<DrainReport> {
  const sql = db();
  const started = Date.now();
  const report: DrainReport = {
    claimed: 0,
    succeeded: 0,
    failed: 0,
    stale: 0,
    batches: 0,
    ms: 0,
    embed_ms: 0,
  };
  // Write-backs in flight (at most options.writeBacks): Postgres's index maintenance is the pipeline's heaviest
  // stage, and two of them in parallel use a second core while this process claims and embeds the next batch.
  const writing: Promise<void>[] = [];
  const allWritten = () => Promise.all(writing.splice(0));
  try {
    while (Date.now() - started < options.budgetMs) {
      const jobs = await sql<Job[]>`
        select job_id::text, claim_token::text, content, content_hash
        from ai.claim_embedding_jobs(${options.batchSize}, make_interval(secs => ${options.visibilitySeconds}))`;
      if (jobs.length === 0) {
        await allWritten();
        const until = (options.wokenAt?.() ?? 0) + (options.lingerMs ?? 0);
        if (Date.now() >= until || Date.now() - started >= options.budgetMs) break;
        await new Promise((resolve) => setTimeout(resolve, LINGER_POLL_MS));
        continue;
      }
      report.batches++;
      report.claimed += jobs.length;
      const claims = jobs.map((j) => ({ job_id: j.job_id, claim_token: j.claim_token }));
      const stopRenewing = startHeartbeat(
        () =>
          sql`select ai.renew_embedding_claims(${
            sql.json(claims)
          }, make_interval(secs => ${options.visibilitySeconds}))`,
        heartbeatMs(options.visibilitySeconds),
      );

      // Rows that are gone or have no text: finish them without a vector.
      const empty: Finished[] = jobs.filter((j) => j.content === null || j.content === "")
        .map((j) => ({ ...j, embedding: null }));
      const texts = jobs.filter((j) => j.content !== null && j.content !== "");
      const t0 = performance.now();
      const done = texts.length ? await embedJobs(texts) : [];
      (report.embed_ms as number) += Math.round(performance.now() - t0);

      while (writing.length >= (options.writeBacks ?? 1)) {
        await writing.shift()!.catch(async (error) => {
          await stopRenewing(); // (an earlier write-back failed: this batch stops here too)
          throw error;
        });
      }
      const written = writeBack([...empty, ...done], report).finally(stopRenewing);
      written.catch(() => {}); // awaited above/below; this only keeps an early failure from being "unhandled"
      writing.push(written);
      if (options.sliceMs !== undefined && Date.now() - started >= options.sliceMs) {
        report.more = jobs.length === options.batchSize; // a full batch: more is probably waiting
        break;
      }
    }
    await allWritten();
  } catch (error) {
    await Promise.allSettled(writing.splice(0));
    report.error = (error as Error).message;
  }
  report.ms = Date.now() - started;
  return report;
}
