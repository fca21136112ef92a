// What the queue workers (embed-worker, ts-error-worker) share: one drain at a time per instance, a time
// budget, background continuation after answering pg_net, and a row in ai.worker_runs for every drain.
import { db } from "./db.ts";
import { json } from "./http.ts";

export interface DrainReport {
  claimed: number;
  succeeded: number;
  failed: number;
  stale?: number;
  batches: number;
  ms: number;
  error?: string;
  [detail: string]: unknown;
}

export interface DrainOptions {
  /** Stop claiming new batches after this many milliseconds. */
  budgetMs: number;
}

type Drain = (options: DrainOptions) => Promise<DrainReport>;

interface EdgeRuntimeLike {
  waitUntil(promise: Promise<unknown>): void;
}

const running = new Map<string, Promise<DrainReport>>();

async function recordRun(worker: string, startedAt: Date, report: DrainReport): Promise<void> {
  const { claimed, succeeded, failed, stale = 0, error, ...details } = report;
  await db()`
    insert into ai.worker_runs (worker, started_at, claimed, succeeded, failed, stale, error, details)
    values (${worker}, ${startedAt}, ${claimed}, ${succeeded}, ${failed}, ${stale}, ${error ?? null},
            ${db().json(details as Record<string, number>)})`;
}

/** Runs one drain of `worker` unless one is already running here; records it in ai.worker_runs. */
export function startDrain(
  worker: string,
  drain: Drain,
  options: DrainOptions,
): { promise: Promise<DrainReport>; fresh: boolean } {
  const current = running.get(worker);
  if (current) return { promise: current, fresh: false };
  const startedAt = new Date();
  const promise = (async () => {
    let report: DrainReport;
    try {
      report = await drain(options);
    } catch (error) {
      report = {
        claimed: 0,
        succeeded: 0,
        failed: 0,
        batches: 0,
        ms: Date.now() - startedAt.getTime(),
        error: (error as Error).message,
      };
    }
    await recordRun(worker, startedAt, report).catch((e) =>
      console.error(`${worker}: could not record the run:`, e)
    );
    return report;
  })().finally(() => running.delete(worker));
  running.set(worker, promise);
  return { promise, fresh: true };
}

/**
 * Answers a wake-up: with `wait`, after the drain (200 + report); otherwise at once (202) while the drain goes
 * on in the background — pg_net's short timeout never cuts a drain. On the hosted edge runtime the drain is
 * kept alive with EdgeRuntime.waitUntil.
 */
export async function respondToWake(worker: string, drain: Drain, options: DrainOptions & { wait: boolean }) {
  const { promise, fresh } = startDrain(worker, drain, options);
  if (options.wait) {
    const report = await promise;
    return json({ worker, status: fresh ? "drained" : "joined", ...report }, report.error ? 500 : 200);
  }
  const edge = (globalThis as { EdgeRuntime?: EdgeRuntimeLike }).EdgeRuntime;
  edge?.waitUntil(promise);
  return json({ worker, status: fresh ? "started" : "already_running" }, 202);
}
