// supabase/functions/_shared/db.ts against the test stack's database: transactions as the caller send BEGIN,
// the claims and the statements in one write (postgres.js sends a query only when it is executed or awaited, so
// the order is the helpers' to keep) — and still every statement runs inside the transaction, as the caller, with
// RLS; the connection goes back to the pool with no transaction open and its own role; a failing statement rolls
// everything back. The search of fix-code-error runs as the caller in one statement (ai.find_similar_fixes_as)
// and leaves nothing of the caller on the connection either.
import assert from "node:assert/strict";
import { asCaller, db as functionsDb, toVector } from "../supabase/functions/_shared/db.ts";
import { findSimilarFixes } from "../supabase/functions/_shared/similar_fixes.ts";
import { createUser } from "./_functions.ts";
import { db } from "./_stack.ts";

const sql = db();

const callerOf = (id: string) => ({
  role: "authenticated" as const,
  claims: { sub: id, role: "authenticated" },
});

interface Who {
  user: string;
  uid: string | null;
  xid: string;
}

Deno.test({
  name: "db: transactions as the caller",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const alice = await createUser(sql);
    const bob = await createUser(sql);
    // Rows inserted with their vector: the embedding queue leaves a given vector alone (a row inserted without one
    // and given one later would still be queued, and the worker's write-back could replace it mid-test).
    const vector = Array.from({ length: 384 }, (_, i) => (i === 0 ? 1 : 0));
    const [bobs] = await sql`insert into public.code_analysis (owner, error_code, code_snippet, suggested_fix,
                                                              code_embedding)
                             values (${bob.id}, 'TS2322', 'b', 'fix b', ${
      toVector(vector)
    }::extensions.vector)
                             returning id`;

    await t.step(
      "asCaller: every statement of fn runs in one transaction, as the caller, RLS applied",
      async () => {
        const seen = await asCaller(callerOf(alice.id), async (tx) => {
          // No await before the first statement: it must still come after BEGIN and the claims.
          const first = await tx<Who[]>`select current_user as user, auth.uid()::text as uid,
                                             pg_current_xact_id()::text as xid`;
          const second = await tx<Who[]>`select current_user as user, auth.uid()::text as uid,
                                              pg_current_xact_id()::text as xid`;
          const bobsRow = await tx`select id from public.code_analysis where id = ${bobs.id}`;
          const updated =
            await tx`update public.code_analysis set suggested_fix = 'alice was here' where id = ${bobs.id} returning id`;
          return { first: first[0], second: second[0], bobsRow: bobsRow.length, updated: updated.length };
        });
        assert.deepEqual(seen.first, { user: "authenticated", uid: alice.id, xid: seen.first.xid });
        assert.equal(seen.second.xid, seen.first.xid, "one transaction");
        assert.equal(seen.bobsRow, 0, "RLS hides bob's row");
        assert.equal(seen.updated, 0, "and keeps it from alice's update");
        const [row] = await sql`select suggested_fix from public.code_analysis where id = ${bobs.id}`;
        assert.equal(row.suggested_fix, "fix b");
      },
    );

    await t.step("asCaller: a throw rolls back what fn wrote", async () => {
      await assert.rejects(
        asCaller(callerOf(alice.id), async (tx) => {
          await tx`insert into public.code_analysis (error_code, code_snippet) values ('TS2322', 'rolled back')`;
          throw new Error("boom");
        }),
        /boom/,
      );
      const rows =
        await sql`select 1 from public.code_analysis where owner = ${alice.id} and code_snippet = 'rolled back'`;
      assert.equal(rows.length, 0);
    });

    await t.step(
      "findSimilarFixes: one statement as the caller (RLS: alice never gets bob's fix); the pool's connection keeps no role or claims",
      async () => {
        const [alices] =
          await sql`insert into public.code_analysis (owner, error_code, code_snippet, suggested_fix,
                                     code_embedding)
                                   values (${alice.id}, 'TS2322', 'a', 'fix a', ${
            toVector(vector)
          }::extensions.vector)
                                   returning id`;
        const found = await findSimilarFixes(callerOf(alice.id), vector, "TS2322", {
          count: 50,
          minSimilarity: 0.99,
        });
        assert.deepEqual(found.map((f) => f.id), [alices.id]);
        const bobFinds = await findSimilarFixes(callerOf(bob.id), vector, "TS2322", {
          count: 50,
          minSimilarity: 0.99,
        });
        assert.deepEqual(bobFinds.map((f) => f.id), [bobs.id]);
        const service = await findSimilarFixes(
          { role: "service_role", claims: { role: "service_role" } },
          vector,
          "TS2322",
          { count: 50, minSimilarity: 0.99 },
        );
        assert.deepEqual(service, [], "the service role alone never gets a user's rows");
        // Every connection of the pool is back to its own role, with no claims and no transaction.
        for (let i = 0; i < 4; i++) {
          const [state] = await functionsDb()<{ user: string; claims: string | null; open: boolean }[]>`
            select current_user as user, nullif(current_setting('request.jwt.claims', true), '') as claims,
                   pg_current_xact_id_if_assigned() is not null as open`;
          assert.deepEqual({ ...state }, { user: "postgres", claims: null, open: false });
        }
      },
    );

    await functionsDb().end();
  },
});

Deno.test({
  name:
    "toVector: the model's float4 numbers reach pgvector exactly, in fewer characters than their float8 text",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const values = Array.from(
      new Float32Array(Array.from({ length: 384 }, (_, i) => Math.sin(i * 7.3) / (1 + (i % 13)) ** 3)),
    );
    values[5] = 0;
    values[6] = 1.1754943508222875e-38; // the smallest normal float4
    values[7] = -3.4028234663852886e38; // the largest
    const text = toVector(values);
    assert.ok(text.length < `[${values.join(",")}]`.length * 0.8, `${text.length} characters`);
    const [{ back }] = await sql<{ back: number[] }[]>`select ${text}::extensions.vector::real[] as back`;
    // (Postgres prints each float4 in its shortest form, which Math.fround turns back into that float4.)
    assert.deepEqual(back.map(Math.fround), values, "every number is the same float4 in Postgres");
  },
});

Deno.test("toVector: a frozen vector's text is made once; a vector that can change is never sent stale", () => {
  const frozen = Object.freeze([0.25, -0.5, 1]);
  assert.equal(toVector(frozen), "[0.250000000,-0.500000000,1.00000000]");
  assert.equal(toVector(frozen), toVector([0.25, -0.5, 1]));
  const open = [0.25, -0.5, 1];
  assert.equal(toVector(open), "[0.250000000,-0.500000000,1.00000000]");
  open[0] = 0.75;
  assert.equal(toVector(open), "[0.750000000,-0.500000000,1.00000000]", "the changed vector's own text");
});
