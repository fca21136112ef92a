// health: answers without any key and tells nothing secret.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { call } from "./_functions.ts";
import { ANON_KEY, SERVICE_ROLE_KEY, SUPABASE_DB_URL, SUPABASE_URL } from "./_stack.ts";

Deno.test("health: GET without a key gets 200 with status ok and the database reachable", async () => {
  const answer = await call<Record<string, unknown>>(SUPABASE_URL, "health", { method: "GET" });
  assert.equal(answer.status, 200);
  assert.equal(answer.body.status, "ok");
  assert.equal(answer.body.database, "ok");
  assert.equal(answer.body.embedding_model, "gte-small");
  assert.equal(answer.body.llm_provider, null, "the stack's gateway has no LLM configured");
});

Deno.test("health: the answer holds no key, URL or secret", async () => {
  const answer = await call(SUPABASE_URL, "health", { method: "GET" });
  const text = JSON.stringify(answer.body);
  for (const secret of [SERVICE_ROLE_KEY, ANON_KEY, SUPABASE_DB_URL, "postgres:postgres", "sb_secret_"]) {
    assert.ok(!text.includes(secret), `the answer leaks ${secret.slice(0, 12)}…`);
  }
});

Deno.test("health: supabase-js functions.invoke with only the anon key gets the status", async () => {
  const supabase = createClient(SUPABASE_URL, ANON_KEY, { auth: { persistSession: false } });
  const { data, error } = await supabase.functions.invoke("health", { method: "GET" });
  assert.equal(error, null);
  assert.equal(data.status, "ok");
});
