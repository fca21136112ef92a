// The fix answer cache (migration 20261207100000_fix_answer_cache.sql): a verified answer of fix-code-error (and
// of the MCP fix_code_error tool) is kept per owner, so that an identical request — same error, code, file path,
// error code, model and owner scope — is answered from Postgres, `cached: true`, until the knowledge it was built
// on changes (a new or changed fix of that error code the owner can see, feedback on one) or it expires.
//
//   FIX_CACHE_TTL_SECONDS   how long an answer is kept (default 86400; 0 turns the cache off)
//
// Only verified answers are cached: an answer that failed a rule, or came from retrieval alone, may be better
// the next time (another model attempt, a new past fix), so it is computed again. A request whose error code is
// not given (nor in the error text) is not cached either: its knowledge is not known before it is computed.
import { createHash } from "node:crypto";
import type { Caller } from "./auth.ts";
import type { Sql, Step } from "./db.ts";

/** Bump when what an answer holds or how it is verified changes: older entries then never match. */
const ANSWER_FORMAT = "fix-answer-1";

function ttlSeconds(): number {
  const raw = Deno.env.get("FIX_CACHE_TTL_SECONDS")?.trim();
  if (!raw) return 86_400;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`FIX_CACHE_TTL_SECONDS must be a non-negative integer, got "${raw}"`);
  }
  return value;
}

/** What identifies a request in the cache, and the knowledge versions its lookup saw. */
export interface FixCacheEntry {
  /** The caller's user id; null for the service role (its own scope). */
  owner: string | null;
  /** SHA-256 (hex) of the request. */
  key: string;
  errorCode: string;
  /** The knowledge versions at the lookup (ai.fix_knowledge_of), for storing the answer. */
  seen: string[];
}

export interface FixCacheRequest {
  error: string;
  code: string;
  filePath: string | null;
  errorCode: string | null;
  provider: string | null;
  model: string | null;
  attempts: number;
}

/** The cache's key of a request (everything the answer depends on besides the knowledge and the owner). */
export function fixCacheKey(request: FixCacheRequest): string {
  const material = JSON.stringify([
    ANSWER_FORMAT,
    request.error,
    request.code,
    request.filePath,
    request.errorCode,
    request.provider,
    request.model,
    request.attempts,
  ]);
  return createHash("sha256").update(material).digest("hex");
}

export type FixAnswerLookup<T> = { answer: T } | { answer: null; entry: FixCacheEntry };

/**
 * Looks the request up for `caller`, as a statement to send with others (db.ts sendSteps): the cached answer when
 * a valid one exists, else the entry to store the answer under once computed; null when the cache is off or the
 * error code is not known up front.
 */
export function fixAnswerStep<T>(
  caller: Pick<Caller, "role" | "userId">,
  errorCode: string | null,
  request: FixCacheRequest,
): Step<FixAnswerLookup<T>> | null {
  if (errorCode === null || ttlSeconds() === 0) return null;
  const owner = caller.role === "service_role" ? null : caller.userId;
  if (caller.role !== "service_role" && owner === null) return null;
  const key = fixCacheKey(request);
  return {
    query: (sql) => sql`select answer, knowledge from ai.fix_cache_lookup(${owner}, ${key}, ${errorCode})`,
    read: ([row]) =>
      row.answer !== null
        ? { answer: row.answer as T }
        : { answer: null, entry: { owner, key, errorCode, seen: row.knowledge as string[] } },
  };
}

/**
 * The statement that stores `answer` under `entry` (ai.fix_cache_store: only if its stored fix `analysisId` exists
 * and nothing else changed the knowledge since the lookup), to be sent right after that fix is stored.
 */
export function storeFixAnswer(tx: Sql, entry: FixCacheEntry, answer: object, analysisId: string) {
  return tx`
    select ai.fix_cache_store(${entry.owner}, ${entry.key}, ${entry.errorCode}, ${tx.json(answer as never)},
                              ${entry.seen}::bigint[], ${analysisId}::uuid,
                              make_interval(secs => ${ttlSeconds()})) as stored`;
}
