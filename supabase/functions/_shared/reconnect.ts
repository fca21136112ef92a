// A queue worker's write-back must not be lost with a connection: when Postgres restarts or a connection is
// cut, the worker reconnects and writes again instead of dropping finished work and leaving it to the claim's
// expiry. The write-back functions are safe to repeat (a result is accepted only while its claim holds the
// row; a second delivery of the same result is refused as stale), so retrying is always correct.
//
//   await retryOnLostConnection(() => sql`select ai.complete_embedding_jobs(${…})`);

/** postgres.js's own connection errors, and Postgres's "the server is going away / not up yet" codes. */
const LOST = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "57P01", // admin_shutdown (the backend was terminated)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up / shutting down)
  "08000",
  "08003",
  "08006", // connection_exception, connection_does_not_exist, connection_failure
]);

/** Whether `error` means the connection was lost (the statement may or may not have run). */
export function isLostConnection(error: unknown): boolean {
  const e = error as { code?: unknown; errno?: unknown };
  return LOST.has(String(e?.code ?? "")) || LOST.has(String(e?.errno ?? ""));
}

export interface RetryOptions {
  /** Give up after this long (default 60 s: Postgres restarts take seconds). */
  withinMs?: number;
  /** First pause between tries (doubled each time, at most 2 s). */
  delayMs?: number;
}

/** Runs `fn`; while it fails because the connection was lost, reconnects (postgres.js does) and runs it again. */
export async function retryOnLostConnection<T>(
  fn: () => Promise<T>,
  { withinMs = 60_000, delayMs = 100 }: RetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + withinMs;
  let pause = delayMs;
  while (true) {
    try {
      return await fn();
    } catch (error) {
      if (!isLostConnection(error) || Date.now() + pause > deadline) throw error;
      console.warn(
        `database connection lost (${(error as { code?: string }).code}); retrying in ${pause} ms`,
      );
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 2_000);
    }
  }
}
