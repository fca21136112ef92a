// Retrieval of past fixes, shared by fix-code-error's flow and the MCP find_similar_errors tool: the query is
// embedded exactly like stored errors are (public.error_embedding_text), and fixes of the same error code
// (keyword match) come before fixes of any code (vector only), each in find_similar_errors' order.
import type { Caller } from "./auth.ts";
import { db, toVector } from "./db.ts";
import { embed } from "./embeddings.ts";

export interface SimilarFix {
  id: string;
  error_code: string | null;
  error_message: string | null;
  code_snippet: string;
  suggested_fix: string;
  similarity: number;
  status: string;
  verified: boolean;
  provider: string | null;
}

export interface SimilarOptions {
  count: number;
  minSimilarity?: number;
  /** Also fixes of other error codes after the same-code ones (default true). */
  anyCode?: boolean;
}

/**
 * public.error_embedding_text(code, message, snippet) — the text stored errors are embedded as — computed here
 * without a round trip: `concat_ws(E'\n', nullif(concat_ws(' ', code, message), ''), snippet)` (concat_ws skips
 * nulls, not empty strings). tests/similar_fixes.test.ts holds it to the SQL function.
 */
export function errorEmbeddingText(
  code: string | null,
  message: string | null,
  snippet: string | null,
): string {
  const head = [code, message].filter((part) => part !== null).join(" ");
  return [head === "" ? null : head, snippet].filter((part) => part !== null).join("\n");
}

/**
 * The embedding of an error as stored errors are embedded (code + message, then the code); frozen, so that its text
 * is made once for the search and the row that stores it (toVector).
 */
export async function errorQueryVector(
  code: string | null,
  message: string,
  snippet: string,
): Promise<readonly number[]> {
  const [vector] = await embed([errorEmbeddingText(code, message, snippet)]);
  return Object.freeze(vector);
}

/**
 * The query vector of an error and the past fixes nearest to it as `actor` may see them: what fix-code-error's flow
 * and the MCP find_similar_errors tool both retrieve.
 */
export async function retrieveSimilarFixes(
  actor: Pick<Caller, "role" | "claims">,
  code: string | null,
  message: string,
  snippet: string,
  options: SimilarOptions,
): Promise<{ queryVector: readonly number[]; similar: SimilarFix[] }> {
  const queryVector = await errorQueryVector(code, message, snippet);
  return { queryVector, similar: await findSimilarFixes(actor, queryVector, code, options) };
}

/**
 * Past fixes nearest to `query` as `actor` may see them (RLS), same error code first: one statement
 * (ai.find_similar_fixes_as takes on the actor's role and claims for the search), pipelined on the pool.
 */
export async function findSimilarFixes(
  actor: Pick<Caller, "role" | "claims">,
  query: readonly number[],
  code: string | null,
  { count, minSimilarity = 0, anyCode = true }: SimilarOptions,
): Promise<SimilarFix[]> {
  const sql = db();
  const claims = sql.json({ ...actor.claims, role: actor.role });
  // Fixes of any code fill the list only when those of the same code do not: the second search runs only then.
  const rows = await sql<SimilarFix[]>`
    select * from ai.find_similar_fixes_as(${claims}, ${toVector(query)}::extensions.vector, ${count},
                                           ${minSimilarity}, ${code}, ${anyCode})`;
  const seen = new Set<string>();
  const out: SimilarFix[] = [];
  for (const row of rows) {
    if (seen.has(row.id) || out.length >= count) continue;
    seen.add(row.id);
    out.push({
      id: row.id,
      error_code: row.error_code,
      error_message: row.error_message,
      code_snippet: row.code_snippet,
      suggested_fix: row.suggested_fix,
      similarity: Math.round(Number(row.similarity) * 1e4) / 1e4,
      status: row.status,
      verified: row.verified,
      provider: row.provider,
    });
  }
  return out;
}
