// Text Postgres cannot store — a NUL character (text and jsonb refuse U+0000) or a lone UTF-16 surrogate —
// is a 400 `invalid_text` naming the field, in every function that takes text, and an MCP tool error naming
// the field; never a 500 from the database, and never silently stored altered. Sent as raw JSON (\u0000,
// \ud800 escapes), the way a client that does not check its strings would send them.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { assertError, call, createUser } from "./_functions.ts";
import { db, SUPABASE_URL } from "./_stack.ts";

const sql = db();

const CASES: { name: string; raw: string; field: string }[] = [
  {
    name: "fix-code-error",
    raw: '{"error": "TS2322 \\u0000", "code": "const n: number = \\"1\\";"}',
    field: "error",
  },
  { name: "fix-code-error", raw: '{"error": "TS2322", "code": "const n = 1; // \\ud800"}', field: "code" },
  {
    name: "fix-code-error",
    raw: '{"error": "TS2322", "code": "x", "file_path": "a\\u0000.ts"}',
    field: "file_path",
  },
  { name: "custom-llm", raw: '{"prompt": "hi \\u0000"}', field: "prompt" },
  {
    name: "custom-llm",
    raw: '{"messages": [{"role": "user", "content": "a \\udc00 b"}]}',
    field: "messages.0.content",
  },
  { name: "generate-embedding", raw: '{"input": ["fine", "not \\u0000 fine"]}', field: "input.1" },
  {
    name: "code-fix-feedback",
    raw: '{"analysis_id": "00000000-0000-4000-8000-000000000000", "feedback": "accepted", "note": "\\ud83d"}',
    field: "note",
  },
];

Deno.test({
  name: "text Postgres cannot store is a 400 naming the field",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const user = await createUser(sql);
    try {
      for (const c of CASES) {
        await t.step(`${c.name}: ${c.field}`, async () => {
          const answer = await call(SUPABASE_URL, c.name, {
            token: user.token,
            raw: c.raw,
            headers: { "content-type": "application/json" },
          });
          const error = assertError(answer, 400, "invalid_text");
          assert.ok(error.message.startsWith(`${c.field}: contains a `), error.message);
        });
      }

      await t.step("an MCP tool gets an error naming the field, and nothing is stored", async () => {
        const client = new Client({ name: "unstorable-text-test", version: "1.0.0" });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${SUPABASE_URL}/functions/v1/mcp`), {
            requestInit: { headers: { authorization: `Bearer ${user.token}` } },
          }),
        );
        try {
          const result = await client.callTool({
            name: "queue_typescript_errors",
            arguments: {
              errors: [{
                file_path: "src/a.ts",
                error_code: "TS2322",
                error_message: "m",
                code_snippet: "const a = 1;\u0000",
              }],
            },
          }) as CallToolResult;
          assert.equal(result.isError, true);
          const text = (result.content as { text: string }[])[0].text;
          assert.match(
            text,
            /^queue_typescript_errors failed: errors\.0\.code_snippet: contains a NUL character/,
          );
          const [row] =
            await sql`select count(*)::int as n from public.typescript_errors where owner = ${user.id}`;
          assert.equal(row.n, 0);
        } finally {
          await client.close();
        }
      });
    } finally {
      await sql.end();
    }
  },
});
