// GET /functions/v1/health — is this project's backend up? Answers without a key (verify_jwt = false) and
// tells nothing secret: database reachability and which optional features are configured.
import postgres from "postgres";

const sql = postgres(Deno.env.get("SUPABASE_DB_URL") ?? "", { max: 1, idle_timeout: 20, onnotice: () => {} });

Deno.serve(async () => {
  let database = "ok";
  try {
    await sql`select 1`;
  } catch (error) {
    database = `unreachable: ${(error as Error).message}`;
  }
  const body = {
    status: database === "ok" ? "ok" : "degraded",
    database,
    embedding_model: "gte-small",
    llm_provider: Deno.env.get("LLM_PROVIDER") ?? null,
  };
  return Response.json(body, { status: database === "ok" ? 200 : 503 });
});
