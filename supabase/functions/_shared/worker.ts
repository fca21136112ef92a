// What the queue workers (embed-worker, ts-error-worker) share: one drain at a time per instance, a time
// budget, background continuation after answering pg_net, and a row in ai.worker_runs for every drain.
import { serviceRoleHeaders } from "./auth.ts";
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
  /** The drain stopped at the end of its slice with work left: the worker wakes itself for the next one. */
  more?: boolean;
  [detail: string]: unknown;
}

export interface DrainOptions {
  /** Stop claiming new batches after this many milliseconds. */
  budgetMs: number;
  /** When the latest wake-up without `wait` (pg_net's) reached this instance (Date.now(); 0: none yet). */
  wokenAt?: () => number;
}

type Drain = (options: DrainOptions) => Promise<DrainReport>;

interface EdgeRuntimeLike {
  waitUntil(promise: Promise<unknown>): void;
}

const running = new Map<string, Promise<DrainReport>>();
/** Drains waiting for the running one to end, by worker and follow-up key. */
const followUps = new Map<string, Promise<DrainReport>>();
const lastWake = new Map<string, number>();

async function recordRun(worker: string, startedAt: Date, report: DrainReport): Promise<void> {
  const { claimed, succeeded, failed, stale = 0, error, ...details } = report;
  await db()`
    insert into ai.worker_runs (worker, started_at, claimed, succeeded, failed, stale, error, details)
    values (${worker}, ${startedAt}, ${claimed}, ${succeeded}, ${failed}, ${stale}, ${error ?? null},
            ${db().json(details as Record<string, number>)})`;
}

/**
 * Runs one drain of `worker` unless one is already running here; records it in ai.worker_runs. A wake-up that
 * finds a drain running joins it, unless it names a `followUp` key (e.g. a claim the running drain does not
 * know about): then it gets a drain of its own, started when the running one ends (one per key).
 */
export function startDrain(
  worker: string,
  drain: Drain,
  options: DrainOptions,
  followUp?: string,
): { promise: Promise<DrainReport>; fresh: boolean; queued?: boolean } {
  const current = running.get(worker);
  if (current) {
    if (followUp === undefined) return { promise: current, fresh: false };
    const key = `${worker}\u0000${followUp}`;
    let next = followUps.get(key);
    if (!next) {
      next = current.catch(() => {}).then(() => {
        followUps.delete(key);
        return startDrain(worker, drain, options, followUp).promise;
      });
      followUps.set(key, next);
    }
    return { promise: next, fresh: false, queued: true };
  }
  const startedAt = new Date();
  let promise: Promise<DrainReport> | null = null;
  promise = (async () => {
    let report: DrainReport;
    try {
      report = await drain({ ...options, wokenAt: () => lastWake.get(worker) ?? 0 });
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
    // Done claiming: a wake-up from now on starts a new drain instead of joining this one.
    if (running.get(worker) === promise) running.delete(worker);
    await recordRun(worker, startedAt, report).catch((e) =>
      console.error(`${worker}: could not record the run:`, e)
    );
    if (report.more) await wakeSelf(worker);
    return report;
  })();
  running.set(worker, promise);
  return { promise, fresh: true };
}

/**
 * Starts the next slice of a drain as a new request to this worker (hosted may serve it from another isolate),
 * with the service role's key. If that fails, pg_cron's wake-up (every minute) picks the work up.
 */
async function wakeSelf(worker: string): Promise<void> {
  try {
    const url = Deno.env.get("SUPABASE_URL")?.replace(/\/+$/, "");
    if (!url) throw new Error("SUPABASE_URL is not set");
    const response = await fetch(`${url}/functions/v1/${worker}`, {
      method: "POST",
      headers: { ...serviceRoleHeaders(), "content-type": "application/json" },
      body: JSON.stringify({ continuation: true }),
    });
    await response.body?.cancel();
    if (response.status !== 202) throw new Error(`it answered ${response.status}`);
  } catch (error) {
    console.error(`${worker}: could not start the next slice (pg_cron will): ${(error as Error).message}`);
  }
}

/**
 * Answers a wake-up: with `wait`, after the drain (200 + report); otherwise at once (202) while the drain goes
 * on in the background — pg_net's short timeout never cuts a drain. On the hosted edge runtime the drain is
 * kept alive with EdgeRuntime.waitUntil.
 */
export async function respondToWake(
  worker: string,
  drain: Drain,
  options: DrainOptions & { wait: boolean; continuation?: boolean; followUp?: string },
) {
  const { wait: _, continuation: __, followUp, ...drainOptions } = options;
  // A wake-up from pg_net (see DrainOptions.wokenAt); a worker's own next slice is not one.
  if (!options.wait && !options.continuation) lastWake.set(worker, Date.now());
  const { promise, fresh, queued } = startDrain(worker, drain, drainOptions, followUp);
  if (options.wait) {
    const report = await promise;
    return json(
      { worker, status: fresh || queued ? "drained" : "joined", ...report },
      report.error ? 500 : 200,
    );
  }
  const edge = (globalThis as { EdgeRuntime?: EdgeRuntimeLike }).EdgeRuntime;
  edge?.waitUntil(promise);
  return json({ worker, status: fresh ? "started" : queued ? "queued" : "already_running" }, 202);
}
