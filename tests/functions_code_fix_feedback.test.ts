// code-fix-feedback: a user accepts or rejects their own stored fixes; accepted ones rank first in retrieval
// (find_similar_errors, and so fix-code-error's retrieval answers), rejected ones are never retrieved; nobody
// judges another user's fix or the shared knowledge base.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
import { assertError, call, createUser, eventually, type Sql, type TestUser } from "./_functions.ts";
import { ANON_KEY, db, SERVICE_ROLE_KEY, SUPABASE_URL } from "./_stack.ts";

const sql = db();
const NAME = "code-fix-feedback";

const CODE = `type Shape = { kind: "circle"; radius: number } | { kind: "square"; side: number };

function area(shape: Shape): number {
  return shape.radius * shape.radius * Math.PI;
}
`;
const ERROR_CODE = "TS2339";
const MESSAGE = "Property 'radius' does not exist on type 'Shape'.";

/** A fix stored for `owner`, created `ageSeconds` ago; its error embedding comes from the automatic pipeline. */
async function storedFix(owner: string, fix: string, ageSeconds: number): Promise<string> {
  const [row] = await sql`
    insert into public.code_analysis (owner, error_code, error_message, code_snippet, suggested_fix, verified,
                                      confidence, provider, created_at)
    values (${owner}, ${ERROR_CODE}, ${MESSAGE}, ${CODE}, ${fix}, true, 0.9, 'test',
            now() - make_interval(secs => ${ageSeconds}))
    returning id`;
  return row.id;
}

async function embedded(id: string): Promise<void> {
  await eventually(
    async () => {
      const [row] =
        await sql`select code_embedding is not null as done from public.code_analysis where id = ${id}`;
      return row.done;
    },
    `the error embedding of ${id}`,
    30_000,
  );
}

/** find_similar_errors as `user` (RLS applies), queried with the stored row's own error embedding. */
async function similarAs(user: TestUser, like: string, filter: string | null = null): Promise<string[]> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('role', 'authenticated', true),
                    set_config('request.jwt.claims', ${
      JSON.stringify({ sub: user.id, role: "authenticated" })
    }, true)`;
    const rows = await tx`
      select s.id from public.find_similar_errors(
        (select code_embedding from public.code_analysis where id = ${like}), 50, 0, ${filter}) s`;
    return rows.map((r) => r.id as string);
  }) as string[];
}

function feedback(token: string | null, body: unknown) {
  return call(SUPABASE_URL, NAME, { token, body });
}

async function statusOf(db: Sql, id: string) {
  const [row] = await db`select status, feedback_at, metadata from public.code_analysis where id = ${id}`;
  return row;
}

Deno.test({
  name: "code-fix-feedback",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    try {
      const user = await createUser(sql);
      const other = await createUser(sql);
      const older = await storedFix(user.id, CODE.replace("shape.radius * shape.radius", "1"), 120);
      const newer = await storedFix(user.id, CODE.replace("return shape", "return 0 * shape"), 60);
      await embedded(older);
      await embedded(newer);
      const [kb] = await sql`select id from public.code_analysis where shared limit 1`;

      await t.step("before any feedback, equal fixes rank newest first", async () => {
        const ids = await similarAs(user, older);
        assert.deepEqual(ids.slice(0, 2), [newer, older]);
      });

      await t.step("accepting your own fix: status accepted, feedback_at set, the note kept", async () => {
        const answer = await feedback(user.token, {
          analysis_id: older,
          feedback: "accepted",
          note: "works",
        });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        const body = answer.body as { id: string; status: string; feedback_at: string };
        assert.equal(body.id, older);
        assert.equal(body.status, "accepted");
        assert.ok(!Number.isNaN(Date.parse(body.feedback_at)));
        const row = await statusOf(sql, older);
        assert.equal(row.status, "accepted");
        assert.ok(row.feedback_at instanceof Date);
        assert.equal(row.metadata.feedback_note, "works");
      });

      await t.step("find_similar_errors ranks the accepted fix first", async () => {
        assert.deepEqual((await similarAs(user, older)).slice(0, 2), [older, newer]);
        assert.deepEqual((await similarAs(user, older, ERROR_CODE)).slice(0, 2), [older, newer]);
      });

      await t.step("fix-code-error's retrieval answer is the accepted fix", async () => {
        const answer = await call<{ source: string; reference: { id: string; status: string }; fix: string }>(
          SUPABASE_URL,
          "fix-code-error",
          { token: user.token, body: { error: `error ${ERROR_CODE}: ${MESSAGE}`, code: CODE } },
        );
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.source, "retrieval");
        assert.equal(answer.body.reference.id, older);
        assert.equal(answer.body.reference.status, "accepted");
      });

      await t.step("a rejected fix is never returned by find_similar_errors", async () => {
        const answer = await feedback(user.token, { analysis_id: newer, feedback: "rejected" });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal((answer.body as { status: string }).status, "rejected");
        for (const filter of [null, ERROR_CODE]) {
          const ids = await similarAs(user, newer, filter);
          assert.ok(ids.includes(older));
          assert.ok(!ids.includes(newer), "a rejected fix came back");
        }
      });

      await t.step(
        "a verdict can be changed: rejecting the accepted fix removes it from retrieval",
        async () => {
          const answer = await feedback(user.token, { analysis_id: older, feedback: "rejected" });
          assert.equal(answer.status, 200);
          assert.ok(!(await similarAs(user, older)).includes(older));
          assert.equal(
            (await feedback(user.token, { analysis_id: older, feedback: "accepted" })).status,
            200,
          );
          assert.ok((await similarAs(user, older)).includes(older));
        },
      );

      await t.step("another user's fix gets 404 and stays as it was", async () => {
        const before = await statusOf(sql, older);
        assertError(
          await feedback(other.token, { analysis_id: older, feedback: "rejected" }),
          404,
          "analysis_not_found",
        );
        assert.deepEqual(await statusOf(sql, older), before);
        assert.ok(!(await similarAs(other, older)).includes(older), "and the other user cannot retrieve it");
      });

      await t.step("a shared knowledge-base row gets 404, for users and the service role", async () => {
        for (const token of [user.token, SERVICE_ROLE_KEY]) {
          assertError(
            await feedback(token, { analysis_id: kb.id, feedback: "rejected" }),
            404,
            "analysis_not_found",
          );
        }
        assert.equal((await statusOf(sql, kb.id)).status, "accepted");
      });

      await t.step("an id that does not exist gets 404", async () => {
        assertError(
          await feedback(user.token, { analysis_id: crypto.randomUUID(), feedback: "accepted" }),
          404,
          "analysis_not_found",
        );
      });

      await t.step("a body that is not valid gets 400", async () => {
        for (
          const body of [
            { analysis_id: "not-a-uuid", feedback: "accepted" },
            { analysis_id: "1; drop table public.code_analysis", feedback: "accepted" },
            { analysis_id: older, feedback: "maybe" },
            { analysis_id: older },
            { feedback: "accepted" },
            { analysis_id: older, feedback: "accepted", status: "accepted" },
            { analysis_id: older, feedback: "accepted", note: "x".repeat(2_001) },
          ]
        ) {
          assertError(await feedback(user.token, body), 400, "invalid_request");
        }
      });

      await t.step("no token gets 401, the anon key 403", async () => {
        assertError(await feedback(null, { analysis_id: older, feedback: "rejected" }), 401);
        assertError(
          await feedback(ANON_KEY, { analysis_id: older, feedback: "rejected" }),
          403,
          "sign_in_required",
        );
        assert.equal((await statusOf(sql, older)).status, "accepted");
      });

      await t.step("supabase-js functions.invoke records the verdict", async () => {
        const supabase = createClient(SUPABASE_URL, ANON_KEY, { auth: { persistSession: false } });
        supabase.functions.setAuth(user.token);
        const { data, error } = await supabase.functions.invoke(NAME, {
          body: { analysis_id: newer, feedback: "accepted" },
        });
        assert.equal(error, null);
        assert.equal(data.status, "accepted");
      });
    } finally {
      await sql.end();
    }
  },
});
