// The compile quarantine is checked once per fix request: fix-code-error's caller (fixForCaller) sends the check
// with its rate limit and cache lookup and tells fixCodeError so (`quarantineChecked`); every other caller of
// fixCodeError gets the check from fixCodeError itself. (That callers of the function are refused from the
// quarantine at all is tests/time_limits.test.ts's.)
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { useStackRuntime } from "../stack/attach.ts";
import { fixCodeError } from "../supabase/functions/_shared/code_fix.ts";
import { db as functionsDb } from "../supabase/functions/_shared/db.ts";
import { HttpError } from "../supabase/functions/_shared/http.ts";
import { createUser } from "./_functions.ts";
import { db } from "./_stack.ts";

Deno.test({
  name: "fixCodeError checks the quarantine itself, unless its caller already did (quarantineChecked)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    useStackRuntime();
    const sql = db();
    try {
      const user = await createUser(sql);
      const code = `// ${crypto.randomUUID()}\nconst total: number = "12";\n`;
      // Quarantined as compile_guard.ts names it: the file name and the code, hashed.
      const hash = createHash("sha256").update(`snippet.ts\n${code}`).digest("hex");
      await sql`insert into ai.compile_quarantine (hash, chars, ms) values (${hash}, ${code.length}, 1)`;
      const ctx = {
        owner: user.id,
        actor: { role: "authenticated" as const, claims: { sub: user.id, role: "authenticated" } },
        llm: null,
        functionName: "test",
      };
      const input = { error: "TS2322: Type 'string' is not assignable to type 'number'.", code };

      await assert.rejects(
        fixCodeError(ctx, input),
        (e: unknown) => e instanceof HttpError && e.status === 422 && e.code === "code_too_complex",
        "without quarantineChecked, fixCodeError refuses quarantined code itself",
      );
      const outcome = await fixCodeError({ ...ctx, quarantineChecked: true }, input);
      assert.equal(outcome.error_code, "TS2322", "with it, the code is compiled: no second check");
      const [{ hits }] = await sql`select hits from ai.compile_quarantine where hash = ${hash}`;
      assert.equal(hits, 2, "the insert's hit and one check: the first call's");
    } finally {
      await functionsDb().end();
      await sql.end();
    }
  },
});
