// Time limits on work a caller can make expensive: a statement run for a user stops at the user statement
// timeout (DB_USER_STATEMENT_TIMEOUT_MS), the service role's do not; the TypeScript compiler stops on input it
// cannot finish (TS_COMPILE_TIME_LIMIT_MS), and that input is quarantined — refused at once afterwards, by
// fix-code-error (422 naming the field) and by the batch queue (failed at once, no retries).
import assert from "node:assert/strict";
import { asCaller, db as functionsDb } from "../supabase/functions/_shared/db.ts";
import { CompileTimeoutError, diagnoseSnippet } from "../supabase/functions/_shared/typescript.ts";
import { assertError, call, createUser, startTestGateway } from "./_functions.ts";
import { db, SERVICE_ROLE_KEY } from "./_stack.ts";

const sql = db();

/** Valid TypeScript whose checking takes about 100 ms per function (a 300-step tail-recursive type each). */
function pathological(functions: number): string {
  const head =
    `type Build<N extends number, A extends unknown[]> = A["length"] extends N ? A : Build<N, [...A, A["length"]]>;\n`;
  return head + Array.from(
    { length: functions },
    (_, i) => `export function f${i}() { const x: Build<300, ["f${i}"]>["length"] = 300; return x; }\n`,
  ).join("");
}

Deno.test({
  name: "a user's statement stops at the user statement timeout; the service role's does not",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    Deno.env.set("DB_USER_STATEMENT_TIMEOUT_MS", "300");
    const user = await createUser(sql);
    const caller = { role: "authenticated" as const, claims: { sub: user.id, role: "authenticated" } };
    try {
      const [shown] = await asCaller(caller, (tx) => tx`show statement_timeout`);
      assert.equal(shown.statement_timeout, "300ms");
      await assert.rejects(
        () => asCaller(caller, (tx) => tx`select pg_sleep(2)`),
        (e: { code?: string }) => e.code === "57014",
      );
      const service = { role: "service_role" as const, claims: { role: "service_role" } };
      const [slow] = await asCaller(service, (tx) => tx`select true as done from pg_sleep(0.5)`);
      assert.equal(slow.done, true);
    } finally {
      Deno.env.delete("DB_USER_STATEMENT_TIMEOUT_MS");
      await functionsDb().end();
      await sql.end();
    }
  },
});

Deno.test("the compiler stops at its time limit on input it cannot finish", () => {
  assert.throws(() => diagnoseSnippet(pathological(400), { timeLimitMs: 500 }), CompileTimeoutError);
  assert.equal(
    diagnoseSnippet("const n: number = 1;", { timeLimitMs: 500 }).length,
    0,
    "ordinary code passes",
  );
});

Deno.test({
  name:
    "pathological code is quarantined: 422 naming the field, refused at once again, failed at once in the queue",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const limited = startTestGateway({ TS_COMPILE_TIME_LIMIT_MS: "1000", RATE_LIMIT_PER_MINUTE: "0" });
    const local = db();
    const code = `// ${crypto.randomUUID()}\n${pathological(400)}`; // (not quarantined by an earlier run)
    try {
      const user = await createUser(local);
      const body = { error: "TS2322: Type 'string' is not assignable to type 'number'.", code };
      await t.step("fix-code-error: 422 code_too_complex, naming code", async () => {
        const error = assertError(
          await call(limited.url, "fix-code-error", { token: user.token, body }),
          422,
          "code_too_complex",
        );
        assert.match(
          error.message,
          /^code: the TypeScript compiler could not check this code within 1000 ms; it is quarantined/,
        );
      });
      await t.step("the same code again is refused from the quarantine, without compiling", async () => {
        assertError(
          await call(limited.url, "fix-code-error", { token: user.token, body }),
          422,
          "code_too_complex",
        );
        const [row] = await local`select hits, chars from ai.compile_quarantine where chars = ${code.length}`;
        assert.ok(row && row.hits >= 2, JSON.stringify(row));
      });
      await t.step("a queued error with that code fails at once, without retries", async () => {
        const [queued] = await local`
          insert into public.typescript_errors (owner, file_path, error_code, error_message, code_snippet, max_attempts)
          values (${user.id}, 'src/slow.ts', 'TS2322', 'm', ${code}, 5) returning id`;
        const [claim] =
          await local`select claim_token::text from ai.claim_typescript_errors(50) where id = ${queued.id}`;
        const report = await call<Record<string, number>>(limited.url, "ts-error-worker", {
          token: SERVICE_ROLE_KEY,
          body: { claim_token: claim.claim_token, wait: true },
        });
        assert.equal(report.status, 200, JSON.stringify(report.body));
        const [row] =
          await local`select status, attempts, last_error from public.typescript_errors where id = ${queued.id}`;
        assert.deepEqual([row.status, row.attempts], ["failed", 1]);
        assert.match(row.last_error, /quarantined/);
      });
    } finally {
      await limited.stop();
      await local.end();
    }
  },
});
