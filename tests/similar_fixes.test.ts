// supabase/functions/_shared/similar_fixes.ts against the test stack's database: the query text is computed in
// the function without a round trip and must stay exactly public.error_embedding_text (what stored errors are
// embedded as); and retrieval, which now asks for fixes of any code only when those of the same code do not fill
// the list, returns exactly what both searches together return.
import assert from "node:assert/strict";
import { errorEmbeddingText, findSimilarFixes } from "../supabase/functions/_shared/similar_fixes.ts";
import { db as functionsDb } from "../supabase/functions/_shared/db.ts";
import { knowledgeBaseEmbedded } from "./_functions.ts";
import { db } from "./_stack.ts";

const sql = db();

Deno.test("errorEmbeddingText is public.error_embedding_text", async () => {
  const values = [null, "", " ", "TS2322", "Type 'string' is not\nassignable.", "ü ∀ 🚀", "  padded  "];
  for (const code of values) {
    for (const message of values) {
      for (const snippet of [null, "", "const x: number = '1';\n", "\n\n"]) {
        const [{ text }] =
          await sql`select public.error_embedding_text(${code}, ${message}, ${snippet}) as text`;
        assert.equal(
          errorEmbeddingText(code, message, snippet),
          text,
          JSON.stringify({ code, message, snippet }),
        );
      }
    }
  }
});

Deno.test({
  name: "findSimilarFixes: same code first, then any code, exactly as both searches together",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await knowledgeBaseEmbedded(sql);
    const rows = await sql<{ error_code: string; vector: string }[]>`
      select error_code, code_embedding::text as vector from public.code_analysis
      where shared and code_embedding is not null order by id limit 12`;
    assert.ok(rows.length >= 6);
    const service = { role: "service_role" as const, claims: { role: "service_role" } };
    let filledFromAnyCode = 0;
    for (const row of rows) {
      const vector = JSON.parse(row.vector) as number[];
      for (const code of [row.error_code, "TS9999", null]) {
        for (const count of [1, 3, 8]) {
          const both = await sql<{ id: string; pass: number }[]>`
            select s.id, 0 as pass, s.ordinality
            from public.find_similar_errors(${row.vector}::extensions.vector, ${count}, 0, ${code}) with ordinality s
            where ${code}::text is not null
            union all
            select s.id, 1, s.ordinality
            from public.find_similar_errors(${row.vector}::extensions.vector, ${count}, 0) with ordinality s
            order by pass, ordinality`;
          const expected = [...new Set(both.map((r) => r.id))].slice(0, count);
          const found = await findSimilarFixes(service, vector, code, { count });
          assert.deepEqual(found.map((f) => f.id), expected, JSON.stringify({ code, count }));
          if (found.some((f) => f.error_code !== code)) filledFromAnyCode++;
        }
      }
    }
    assert.ok(filledFromAnyCode > 0, "some lists were filled with fixes of other codes");
    await functionsDb().end();
  },
});
