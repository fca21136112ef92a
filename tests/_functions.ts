// Helpers for the edge-function integration tests (tests/functions_*.test.ts): users and their JWTs, raw
// HTTP calls through a gateway, a second gateway with an LLM (a fake server) configured, and waiting for the
// automatic-embedding queue to drain. The stack itself comes from `deno task test` (see tests/_stack.ts).
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import type postgres from "postgres";
import {
  accessToken,
  type ExtraGateway,
  startExtraGateway,
  startExtraGatewayWithModel,
} from "../stack/attach.ts";
import { JWT_SECRET } from "../stack/config.ts";
import { ANON_KEY, eventually, SERVICE_ROLE_KEY, SUPABASE_URL } from "./_stack.ts";

export type Sql = postgres.Sql;

/** A user's access token as the project's auth server signs it (ES256 with the stack's signing key). */
export async function userToken(userId: string, claims: Record<string, unknown> = {}): Promise<string> {
  return await accessToken(userId, { claims });
}

/**
 * A legacy access token (HS256 with the project's JWT secret), as projects without asymmetric keys issue them.
 * Functions cannot check its signature (they never get the secret): they ask the auth server.
 */
export async function legacyUserToken(
  userId: string,
  claims: Record<string, unknown> = {},
  secret = JWT_SECRET,
): Promise<string> {
  return await new SignJWT({ sub: userId, role: "authenticated", aud: "authenticated", ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

export interface TestUser {
  id: string;
  token: string;
}

/** A fresh row in auth.users and its access token. */
export async function createUser(sql: Sql): Promise<TestUser> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email, email_confirmed_at) values (${id}, ${`${id}@example.test`}, now())`;
  return { id, token: await userToken(id) };
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

/** POSTs JSON (or sends `init` as given) to /functions/v1/<name> of `baseUrl`; parses the JSON answer. */
export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  name: string,
  options: { body?: unknown; token?: string | null; method?: string; raw?: BodyInit; headers?: HeadersInit } =
    {},
): Promise<Answer<T>> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  const method = options.method ?? "POST";
  let body: BodyInit | undefined = options.raw;
  if (body === undefined && options.body !== undefined) {
    headers.set("content-type", "application/json");
    body = JSON.stringify(options.body);
  }
  const response = await fetch(`${baseUrl}/functions/v1/${name}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch { /* not JSON: keep the text */ }
  return { status: response.status, headers: response.headers, body: parsed as T };
}

/** Asserts a JSON error answer with the status and error code. */
export function assertError(
  answer: Answer,
  status: number,
  code?: string,
): { code: string; message: string } {
  assert.equal(
    answer.status,
    status,
    `expected ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`,
  );
  const error = (answer.body as { error?: { code: string; message: string } }).error;
  assert.ok(error, `expected an error body, got ${JSON.stringify(answer.body)}`);
  assert.equal(typeof error.message, "string");
  if (code) assert.equal(error.code, code, error.message);
  return error;
}

export type TestGateway = ExtraGateway;

/**
 * A second functions gateway serving the real supabase/functions against the test stack's database, with
 * extra environment (an LLM pointed at a fake server, limits …), under the same runtime rules.
 */
export function startTestGateway(env: Record<string, string>): TestGateway {
  return startExtraGateway(env);
}

/** The same with a model runner of its own, run with `modelEnv` (e.g. an empty model folder). */
export async function startTestGatewayWithModel(
  env: Record<string, string>,
  modelEnv: Record<string, string>,
): Promise<TestGateway> {
  return await startExtraGatewayWithModel(env, modelEnv);
}

/** The env of an LLM-configured gateway: the OpenAI-compatible provider at `baseURL`. */
export function openAiCompatibleEnv(
  baseURL: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    LLM_PROVIDER: "openai-compatible",
    LLM_BASE_URL: baseURL,
    LLM_API_KEY: "sk-fake-test",
    LLM_MODEL: "fake-model",
    LLM_ALLOWED_MODELS: "fake-model,fake-model-large",
    LLM_MAX_RETRIES: "1",
    LLM_TIMEOUT_MS: "5000",
    ...extra,
  };
}

/** Waits until no embedding job is pending or in flight (failed ones excepted) and returns the status rows. */
export async function embeddingsSettled(sql: Sql, timeoutMs = 60_000) {
  let last: unknown[] = [];
  try {
    return await eventually(
      async () => {
        const rows = await sql`select source, embedding_column, pending::int, in_flight::int,
                                    expired_claims::int, failed::int, last_failure from ai.embedding_status`;
        last = rows;
        return rows.every((r) => r.pending === 0 && r.in_flight === 0 && r.expired_claims === 0)
          ? rows
          : null;
      },
      "the embedding queue to drain",
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; ai.embedding_status: ${JSON.stringify(last)}`);
  }
}

/** Waits until every row of the shared knowledge base has its error embedding. */
export async function knowledgeBaseEmbedded(sql: Sql, timeoutMs = 60_000): Promise<number> {
  await embeddingsSettled(sql, timeoutMs);
  return await eventually(
    async () => {
      const [row] = await sql`select count(*)::int as total, count(code_embedding)::int as embedded
                            from public.code_analysis where shared`;
      return row.total > 0 && row.total === row.embedded ? row.total : null;
    },
    "the knowledge base's embeddings",
    timeoutMs,
  );
}

/**
 * Waits until no embedding drain of any gateway is lingering: a drain woken by pg_net keeps claiming every 200 ms
 * for EMBED_LINGER_MS after its last wake-up, so a test that needs its own worker to claim new jobs first waits
 * until no session has asked for claims in the last second.
 */
export async function embeddingDrainsIdle(sql: Sql, timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () =>
      (await sql`select 1 from pg_catalog.pg_stat_activity
                 where query like '%claim_embedding_jobs%' and pid <> pg_backend_pid()
                   and (state = 'active' or state_change > now() - interval '1 second')`).length === 0,
    "no embedding drain lingering",
    timeoutMs,
  );
}

/**
 * Waits until every request queued in pg_net so far has been sent and answered: a worker's wake-up queued just
 * before a test paused the wake-ups may still be on its way, and would start a drain later.
 */
export async function queuedRequestsAnswered(sql: Sql, timeoutMs = 30_000): Promise<void> {
  const [{ last }] = await sql`select last_value::bigint as last from net.http_request_queue_id_seq`;
  await eventually(
    async () => {
      const [{ answered }] = await sql`
        select not exists (select from net.http_request_queue)
               and (exists (select from net._http_response where id = ${last})
                    or not exists (select from net._http_response)) as answered`;
      return answered;
    },
    "the requests queued in pg_net to be answered",
    timeoutMs,
  );
}

/**
 * Runs fn with pg_cron's embed-worker wake-up paused, so that only the worker we call drains the queue. Pausing
 * the job is not enough: a wake-up it (or a trigger) queued just before may still be on its way through pg_net,
 * and a drain it started lingers (EMBED_LINGER_MS) and would claim rows fn inserts; fn starts once those are
 * answered and no drain lingers. With `triggers: false` the write triggers' wake-ups go nowhere too: any write to
 * a registered table in the background — another worker storing a fix — would otherwise wake the stack's worker.
 */
export async function withoutCronWakeups<T>(
  sql: Sql,
  fn: () => Promise<T>,
  { triggers = true } = {},
): Promise<T> {
  const [job] = await sql`select jobid from cron.job where jobname = 'embed-worker'`;
  await sql`select cron.alter_job(${job.jobid}, active := false)`;
  const restoreWakeUps = triggers ? null : await pointWakeUpsAt(sql, "http://127.0.0.1:9");
  try {
    await queuedRequestsAnswered(sql);
    await embeddingDrainsIdle(sql);
    return await fn();
  } finally {
    await restoreWakeUps?.();
    await sql`select cron.alter_job(${job.jobid}, active := true)`;
  }
}

/** Points Vault's project_url (where pg_net wake-ups go) at `url`; returns a function restoring it. */
export async function pointWakeUpsAt(sql: Sql, url: string): Promise<() => Promise<void>> {
  const [secret] =
    await sql`select id, decrypted_secret from vault.decrypted_secrets where name = 'project_url'`;
  assert.ok(secret, "Vault has no project_url");
  await sql`select vault.update_secret(${secret.id}, ${url})`;
  return async () => {
    await sql`select vault.update_secret(${secret.id}, ${secret.decrypted_secret})`;
  };
}

/** Cosine similarity of two vectors. */
export function cosine(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** pgvector's text form ("[0.1,0.2,…]") as numbers. */
export function parseVector(text: string | null): number[] | null {
  return text === null ? null : JSON.parse(text) as number[];
}

/** A ```ts reply whose code is the user's snippet with `from` replaced by `to`. */
export function snippetOf(messages: { role: string; content: string }[]): string {
  const user = messages.find((m) => m.role === "user")?.content ?? "";
  const match = user.match(/Code:\n```typescript\n([\s\S]*?)\n```/);
  assert.ok(match, `no code block in the prompt:\n${user}`);
  return match[1];
}

export { eventually };

/** A worker refuses users (403), the anon key (403) and no token (401), and rejects each invalid body (400). */
export async function assertServiceRoleOnly(sql: Sql, name: string, invalidBodies: unknown[]): Promise<void> {
  const user = await createUser(sql);
  assertError(await call(SUPABASE_URL, name, { token: user.token, body: {} }), 403, "service_role_required");
  assertError(await call(SUPABASE_URL, name, { token: ANON_KEY, body: {} }), 403, "service_role_required");
  assertError(await call(SUPABASE_URL, name, { body: {} }), 401);
  for (const body of invalidBodies) {
    assertError(await call(SUPABASE_URL, name, { token: SERVICE_ROLE_KEY, body }), 400);
  }
}

/** The lines of `text` inside Markdown code fences (CommonMark: a fence closes only with as many backticks). */
export function fencedLines(text: string): Set<string> {
  const inside = new Set<string>();
  let open = 0;
  for (const line of text.split("\n")) {
    const ticks = line.match(/^(`{3,})[\w-]*\s*$/)?.[1].length ?? 0;
    if (open === 0 && ticks) open = ticks;
    else if (open && ticks >= open && /^`+\s*$/.test(line)) open = 0;
    else if (open) inside.add(line);
  }
  return inside;
}
