// One postgres.js pool per function instance, on SUPABASE_DB_URL (the platform sets it), and transactions
// that run as the caller so that row level security decides what they see and write.
import postgres from "postgres";
import type { Caller } from "./auth.ts";
import { HttpError } from "./http.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.TransactionSql;

let pool: Sql | null = null;

/** The shared pool (created on first use). */
export function db(): Sql {
  if (pool) return pool;
  const url = Deno.env.get("SUPABASE_DB_URL");
  if (!url) {
    throw new HttpError(503, "database_not_configured", "SUPABASE_DB_URL is not set for this function.");
  }
  pool = postgres(url, {
    // Every isolate holds its own pool (hosted may run many): keep it small.
    max: Number(Deno.env.get("DB_POOL_SIZE") ?? 2),
    idle_timeout: 30,
    // Works through Supavisor's transaction mode too, where prepared statements are not kept.
    prepare: false,
    onnotice: () => {},
    connection: { application_name: "supabase-ai" },
  });
  return pool;
}

/** How long one statement run for a user may take (DB_USER_STATEMENT_TIMEOUT_MS; Supabase's own default: 8 s). */
function userStatementTimeoutMs(): number {
  const value = Number(Deno.env.get("DB_USER_STATEMENT_TIMEOUT_MS") ?? 8_000);
  return Number.isInteger(value) && value > 0 ? value : 8_000;
}

/**
 * Runs fn in a transaction as the caller: `role` and `request.jwt.claims` are set locally, exactly as
 * PostgREST does, so auth.uid() and RLS policies apply. The service role bypasses RLS. A user's statements
 * get a statement timeout (as PostgREST's roles do on Supabase), so no request of theirs holds a connection
 * for long: past it Postgres cancels the statement (SQLSTATE 57014, answered 503 query_timeout).
 */
export async function asCaller<T>(
  caller: Pick<Caller, "role" | "claims">,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const timeout = caller.role === "service_role" ? null : `${userStatementTimeoutMs()}ms`;
  return await db().begin(async (tx) => {
    await tx`select set_config('role', ${caller.role}, true),
                    set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
                    set_config('statement_timeout', coalesce(${timeout}::text, current_setting('statement_timeout')), true)`;
    return await fn(tx);
  }) as T;
}

/** The claims of a user acting through a worker (e.g. the owner of a queued error). */
export function callerForOwner(owner: string | null): Pick<Caller, "role" | "claims"> {
  return owner
    ? { role: "authenticated", claims: { sub: owner, role: "authenticated" } }
    : { role: "service_role", claims: { role: "service_role" } };
}

/** pgvector's text form of a vector. */
export function toVector(values: number[]): string {
  return `[${values.join(",")}]`;
}
