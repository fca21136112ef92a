// GET /functions/v1/health — is this project's backend up? Answers without a key (verify_jwt = false) and
// tells nothing secret: database reachability and which optional features are configured. A database that
// cannot be reached is "unreachable" with an error id; what the driver said (host names, user names, …)
// goes to the log only.
import postgres from "postgres";

const sql = postgres(Deno.env.get("SUPABASE_DB_URL") ?? "", { max: 1, idle_timeout: 20, onnotice: () => {} });

Deno.serve(async () => {
  let database = "ok";
  let errorId: string | undefined;
  try {
    await sql`select 1`;
  } catch (error) {
    errorId = crypto.randomUUID();
    console.error(`[health ${errorId}] database unreachable:`, error);
    database = "unreachable";
  }
  const body = {
    status: database === "ok" ? "ok" : "degraded",
    database,
    ...(errorId ? { error_id: errorId } : {}),
    embedding_model: "gte-small",
    llm_provider: Deno.env.get("LLM_PROVIDER") ?? null,
  };
  return Response.json(body, { status: database === "ok" ? 200 : 503 });
});
