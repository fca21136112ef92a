// supabase/functions/_shared/db.ts against the test stack's database: transactions as the caller send BEGIN,
// the claims and the statements in one write (postgres.js sends a query only when it is executed or awaited, so
// the order is the helpers' to keep) — and still every statement runs inside the transaction, as the caller, with
// RLS; the connection goes back to the pool with no transaction open and its own role; a failing statement rolls
// everything back.
import assert from "node:assert/strict";
import { asCaller, asCallerOnce, db as functionsDb } from "../supabase/functions/_shared/db.ts";
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
    const [bobs] = await sql`insert into public.code_analysis (owner, error_code, code_snippet, suggested_fix)
                             values (${bob.id}, 'TS2322', 'b', 'fix b') returning id`;

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

    await t.step("asCallerOnce: the statement runs as the caller inside the transaction", async () => {
      const [who] = await asCallerOnce(
        callerOf(alice.id),
        (tx) =>
          tx<Who[]>`select current_user as user, auth.uid()::text as uid, pg_current_xact_id()::text as xid`,
      );
      assert.equal(who.user, "authenticated");
      assert.equal(who.uid, alice.id);
      const hidden = await asCallerOnce(
        callerOf(alice.id),
        (tx) => tx`select id from public.code_analysis where id = ${bobs.id}`,
      );
      assert.equal(hidden.length, 0, "RLS hides bob's row");
    });

    await t.step("asCallerOnce: afterCommit runs after the COMMIT, as the pool's own role", async () => {
      let after: Promise<{ user: string }[]> | undefined;
      const [inside] = await asCallerOnce(
        callerOf(alice.id),
        (tx) => tx<{ xid: string }[]>`select pg_current_xact_id()::text as xid`,
        (tx) => {
          const q = tx<{ user: string; xid: string }[]>`select current_user as user,
                                                       pg_current_xact_id()::text as xid`;
          after = q;
          return q;
        },
      );
      const [afterRow] = await after!;
      assert.equal(afterRow.user, "postgres", "no caller's claims after the commit");
      assert.notEqual((afterRow as { user: string; xid?: string }).xid, inside.xid, "another transaction");
    });

    await t.step("asCallerOnce: a failing statement rolls back and throws; nothing stays open", async () => {
      await assert.rejects(
        asCallerOnce(callerOf(alice.id), (tx) => tx`select 1 / 0`),
        /division by zero/,
      );
      // The pool's connections are clean: no transaction left open, no role left set.
      for (let i = 0; i < 4; i++) {
        const [state] = await functionsDb()<{ user: string; open: boolean }[]>`
          select current_user as user, pg_current_xact_id_if_assigned() is not null as open`;
        assert.deepEqual({ ...state }, { user: "postgres", open: false });
      }
    });

    await t.step(
      "asCallerOnce refuses a statement that awaits (it could send more after the COMMIT)",
      async () => {
        await assert.rejects(
          asCallerOnce(
            callerOf(alice.id),
            // deno-lint-ignore no-explicit-any
            (async (tx: any) => await tx`select 1`) as any,
          ),
          /must return the query/,
        );
      },
    );

    await functionsDb().end();
  },
});
