// Queue claims are short leases (ai.claim_typescript_errors' stale_after, ai.claim_embedding_jobs'
// visibility timeout): a worker renews the ones it holds while it works, so only a dead worker's claims
// expire — and those are back in the queue within about a minute instead of waiting out a long timeout.
//
//   await withHeartbeat(() => sql`select ai.renew_typescript_error_claim(${token})`, leaseMs / 3, async () => {
//     …work on the claimed rows…
//   });

/** Calls `renew` every `everyMs` until the returned stop() (which waits for a renewal in flight). */
export function startHeartbeat(renew: () => Promise<unknown>, everyMs: number): () => Promise<void> {
  let renewing: Promise<unknown> | null = null;
  const timer = setInterval(() => {
    if (renewing) return; // the previous renewal is still on its way
    renewing = renew().catch((error) => console.error("could not renew a queue lease:", error))
      .finally(() => renewing = null);
  }, Math.max(50, everyMs));
  return async () => {
    clearInterval(timer);
    await renewing;
  };
}

/** Runs `work`, calling `renew` every `everyMs` until it settles. A failed renewal is logged, never fatal. */
export async function withHeartbeat<T>(
  renew: () => Promise<unknown>,
  everyMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const stop = startHeartbeat(renew, everyMs);
  try {
    return await work();
  } finally {
    await stop();
  }
}

/** The heartbeat interval for a lease of `leaseSeconds`: three renewals fit in one lease. */
export function heartbeatMs(leaseSeconds: number): number {
  return Math.max(100, Math.floor((leaseSeconds * 1000) / 3));
}
