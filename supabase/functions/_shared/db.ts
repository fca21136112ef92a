// One postgres.js pool per function instance, on SUPABASE_DB_URL (the platform sets it), and transactions
// that run as the caller so that row level security decides what they see and write.
//
// Round trips cost more than the statements here (a fix request used to make 16): statements are prepared
// once per connection (DB_PREPARE, default true; set it to false behind a pooler in transaction mode, which
// keeps no prepared statements), and a transaction's BEGIN, claims and statements travel in one write.
import postgres from "postgres";
import type { Caller } from "./auth.ts";
import { HttpError } from "./http.ts";

export type Sql = postgres.Sql;
export type Tx = postgres.ReservedSql;

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
    // Prepared statements: without them postgres.js asks the server for every parameterised statement's
    // types first, a second round trip each time. SUPABASE_DB_URL is the direct connection on hosted.
    prepare: Deno.env.get("DB_PREPARE")?.trim().toLowerCase() !== "false",
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

/** `select set_config(…)` of the caller's role and claims, local to the transaction (as PostgREST does). */
function claimsOf(tx: Tx, caller: Pick<Caller, "role" | "claims">) {
  const timeout = caller.role === "service_role" ? null : `${userStatementTimeoutMs()}ms`;
  return tx`select set_config('role', ${caller.role}, true),
                   set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
                   set_config('statement_timeout', coalesce(${timeout}::text, current_setting('statement_timeout')), true)`;
}

/** A postgres.js query: sent when executed. */
type Sendable = { execute(): Promise<unknown> };

/**
 * Sends `queries` now, in this order (postgres.js sends a query only once it is awaited or executed), and
 * settles them all; a rejection is handled at once, so it is never an unhandled one while fn runs.
 */
function sendInOrder(queries: Sendable[]): Promise<PromiseSettledResult<unknown>[]> {
  return Promise.allSettled(queries.map((q) => q.execute()));
}

/** The first failure among settled queries, thrown; else nothing. */
function throwFirst(settled: PromiseSettledResult<unknown>[]): void {
  for (const s of settled) if (s.status === "rejected") throw s.reason;
}

/**
 * Runs fn in a transaction as the caller: `role` and `request.jwt.claims` are set locally, exactly as
 * PostgREST does, so auth.uid() and RLS policies apply. The service role bypasses RLS. A user's statements
 * get a statement timeout (as PostgREST's roles do on Supabase), so no request of theirs holds a connection
 * for long: past it Postgres cancels the statement (SQLSTATE 57014, answered 503 query_timeout). BEGIN and the
 * claims are sent before fn runs and travel with its first statements (pipelined on a reserved connection);
 * COMMIT follows fn, ROLLBACK if it throws. Nothing of fn's can run outside the transaction or without the
 * claims: they are queued first, and a failure of either aborts the transaction, so every later statement fails
 * too.
 */
export async function asCaller<T>(
  caller: Pick<Caller, "role" | "claims">,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const tx = await db().reserve();
  try {
    const opening = sendInOrder([tx`begin`, claimsOf(tx, caller)]);
    let result: T;
    try {
      result = await fn(tx);
      throwFirst(await opening);
    } catch (error) {
      await opening;
      await tx`rollback`.catch(() => {});
      throw error;
    }
    await tx`commit`;
    return result;
  } finally {
    tx.release();
  }
}

/** A statement sent with others (sendSteps) or alone (runStep), and what its rows mean (or the error they make). */
export interface Step<T> {
  query: (sql: Sql) => postgres.PendingQuery<postgres.Row[]>;
  read: (rows: postgres.Row[]) => T;
}

/** One step in its own round trip. */
export async function runStep<T>(step: Step<T>): Promise<T> {
  return step.read(await step.query(db()));
}

/**
 * The steps' statements in one round trip, each its own statement (one failing does not undo another). Independent
 * statements go out on the pool at once, pipelined on its connections, holding none of them (a reservation would
 * keep a connection from every other request for the whole round trip); `inOrder` statements — a later one reads
 * what an earlier one wrote — go together on one reserved connection, which runs them in order. Returns, for each
 * step, a reader of its value that throws its error (null for a null step), so the caller decides which failures
 * count and in what order (a 429 of the first before anything the others said).
 */
export async function sendSteps<T extends readonly unknown[]>(
  steps: { [K in keyof T]: Step<T[K]> | null },
  { inOrder = false }: { inOrder?: boolean } = {},
): Promise<{ [K in keyof T]: () => T[K] | null }> {
  const present = (steps as readonly (Step<unknown> | null)[]).filter((s): s is Step<unknown> => s !== null);
  const settled: PromiseSettledResult<unknown>[] = [];
  if (present.length && inOrder) {
    const tx = await db().reserve();
    try {
      settled.push(...await sendInOrder(present.map((step) => step.query(tx))));
    } finally {
      tx.release();
    }
  } else if (present.length) {
    settled.push(...await sendInOrder(present.map((step) => step.query(db()))));
  }
  return (steps as readonly (Step<unknown> | null)[]).map((step) => () => {
    if (step === null) return null;
    const result = settled[present.indexOf(step)];
    if (result.status === "rejected") throw result.reason;
    return step.read(result.value as postgres.Row[]);
  }) as { [K in keyof T]: () => T[K] | null };
}

/** The claims of a user acting through a worker (e.g. the owner of a queued error). */
export function callerForOwner(owner: string | null): Pick<Caller, "role" | "claims"> {
  return owner
    ? { role: "authenticated", claims: { sub: owner, role: "authenticated" } }
    : { role: "service_role", claims: { role: "service_role" } };
}

/**
 * pgvector's text form of a vector. pgvector keeps float4, and 9 significant digits name every float4 exactly (the
 * model's numbers are float4), in about two thirds of the text of the shortest float8 form: less to write to the
 * socket and for Postgres to parse, with three vectors in each fix request.
 */
export function toVector(values: readonly number[]): string {
  const known = vectorTexts.get(values);
  if (known !== undefined) return known;
  let text = "[";
  for (let i = 0; i < values.length; i++) text += (i ? "," : "") + values[i].toPrecision(9);
  text += "]";
  if (Object.isFrozen(values)) vectorTexts.set(values, text);
  return text;
}

/**
 * The text of each frozen vector, made once: a fix request sends its query vector twice (the search, the insert).
 * Only frozen arrays are remembered, so a vector changed after its text was made can never be sent stale.
 */
const vectorTexts = new WeakMap<readonly number[], string>();
