// The fix answer cache through the functions (fix-code-error and the MCP fix_code_error tool, a fake LLM behind
// them): an identical request of the same owner is answered from Postgres (`cached: true`, the same answer, no
// model call, nothing stored again); another user, the service role, and any other request never get it; feedback
// (code-fix-feedback, MCP submit_fix_feedback) and new knowledge of the owner's invalidate it; only verified
// answers are cached; FIX_CACHE_TTL_SECONDS=0 turns it off. The SQL side per role: supabase/tests/database/
// 19_fix_answer_cache.test.sql.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { type FakeInferenceRequest, startFakeLlmServer } from "./fakes/llm_server.ts";
import {
  call,
  createUser,
  knowledgeBaseEmbedded,
  openAiCompatibleEnv,
  snippetOf,
  startTestGateway,
  type TestUser,
} from "./_functions.ts";
import { db, SERVICE_ROLE_KEY } from "./_stack.ts";
import { convertId, LABEL_ERROR, LABEL_FILE } from "./_label_file.ts";

const sql = db();

const CODE = LABEL_FILE;
const REQUEST = {
  error: LABEL_ERROR,
  code: CODE,
  file_path: "src/label.ts",
};
const correct = (req: FakeInferenceRequest) =>
  "```ts\n" + convertId(snippetOf(req.messages)) + "\n```\nConverted it.";
const asAny = (req: FakeInferenceRequest) =>
  "```ts\n" + snippetOf(req.messages).replace("= user.id;", "= user.id as any;") + "\n```\nCast it.";

interface Outcome {
  fix: string | null;
  verified: boolean;
  source: string;
  confidence: number;
  stored: { id: string } | null;
  similar: { id: string }[];
  cached: boolean;
}

async function fix(url: string, token: string, body: Record<string, unknown> = REQUEST): Promise<Outcome> {
  const answer = await call<Outcome>(url, "fix-code-error", { token, body });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

async function rowsOf(user: TestUser): Promise<number> {
  const [{ rows }] =
    await sql`select count(*)::int as rows from public.code_analysis where owner = ${user.id}`;
  return rows;
}

async function mcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: "fix-cache-test", version: "1.0.0" });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/functions/v1/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

function structured<T>(result: CallToolResult): T {
  assert.ok(!result.isError, JSON.stringify(result.content));
  return result.structuredContent as T;
}

Deno.test({
  name: "fix answer cache",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fake = await startFakeLlmServer({ reply: correct });
    const gateway = startTestGateway(openAiCompatibleEnv(fake.openaiBaseURL, { RATE_LIMIT_PER_MINUTE: "0" }));
    try {
      // The knowledge base's vectors being written back is new knowledge for everyone: let it settle first.
      await knowledgeBaseEmbedded(sql);
      const alice = await createUser(sql);
      let first: Outcome;

      await t.step("a fresh answer says cached: false and is stored", async () => {
        fake.reset().setReply(correct);
        first = await fix(gateway.url, alice.token);
        assert.equal(first.cached, false);
        assert.equal(first.source, "llm");
        assert.equal(first.verified, true);
        assert.ok(first.stored?.id);
        assert.equal(fake.inferenceRequests().length, 1);
        assert.equal(await rowsOf(alice), 1);
      });

      await t.step(
        "the identical request is answered from the cache: the same answer, no model call, nothing stored",
        async () => {
          const again = await fix(gateway.url, alice.token);
          assert.equal(again.cached, true);
          assert.deepEqual({ ...again, cached: false }, first);
          assert.equal(fake.inferenceRequests().length, 1, "the model was not asked again");
          assert.equal(await rowsOf(alice), 1, "nothing stored again");
        },
      );

      await t.step("another user never gets alice's answer, and gets their own cached apart", async () => {
        const bob = await createUser(sql);
        const theirs = await fix(gateway.url, bob.token);
        assert.equal(theirs.cached, false);
        assert.notEqual(theirs.stored!.id, first.stored!.id);
        assert.equal(fake.inferenceRequests().length, 2);
        const again = await fix(gateway.url, bob.token);
        assert.equal(again.cached, true);
        assert.equal(again.stored!.id, theirs.stored!.id, "bob's own answer, not alice's");
        assert.equal(
          (await fix(gateway.url, alice.token)).cached,
          true,
          "bob's new fix is not alice's knowledge",
        );
      });

      await t.step("the service role has a scope of its own: it never gets a user's answer", async () => {
        const service = await fix(gateway.url, SERVICE_ROLE_KEY);
        assert.equal(service.cached, false);
        assert.notEqual(service.stored!.id, first.stored!.id);
        assert.equal((await fix(gateway.url, SERVICE_ROLE_KEY)).cached, true);
      });

      await t.step(
        "any other request is computed: another file path, model, error code or code",
        async () => {
          for (
            const body of [
              { ...REQUEST, file_path: "src/other.ts" },
              { ...REQUEST, model: "fake-model-large" },
              { ...REQUEST, error_code: "TS2322" },
              { ...REQUEST, code: CODE + "\nexport const LIMIT = 1;\n" },
            ]
          ) {
            assert.equal((await fix(gateway.url, alice.token, body)).cached, false, JSON.stringify(body));
          }
        },
      );

      await t.step("feedback through code-fix-feedback invalidates the owner's cached answers", async () => {
        const user = await createUser(sql);
        const answer = await fix(gateway.url, user.token);
        assert.equal((await fix(gateway.url, user.token)).cached, true);
        const feedback = await call(gateway.url, "code-fix-feedback", {
          token: user.token,
          body: { analysis_id: answer.stored!.id, feedback: "accepted" },
        });
        assert.equal(feedback.status, 200, JSON.stringify(feedback.body));
        const after = await fix(gateway.url, user.token);
        assert.equal(after.cached, false);
        assert.ok(
          after.similar.some((s) => s.id === answer.stored!.id),
          "the accepted fix is in the new answer",
        );
      });

      await t.step(
        "feedback through MCP submit_fix_feedback invalidates too, and MCP answers say cached",
        async () => {
          const user = await createUser(sql);
          const client = await mcpClient(gateway.url, user.token);
          try {
            const fresh = structured<{ analysis_id: string; cached: boolean; verified: boolean }>(
              await client.callTool({ name: "fix_code_error", arguments: REQUEST }),
            );
            assert.equal(fresh.cached, false);
            assert.equal(fresh.verified, true);
            const hit = structured<{ analysis_id: string; cached: boolean }>(
              await client.callTool({ name: "fix_code_error", arguments: REQUEST }),
            );
            assert.equal(hit.cached, true, "fix-code-error and the MCP tool share the cache");
            assert.equal(hit.analysis_id, fresh.analysis_id);
            structured(
              await client.callTool({
                name: "submit_fix_feedback",
                arguments: { analysis_id: fresh.analysis_id, feedback: "rejected" },
              }),
            );
            const after = structured<{ cached: boolean; analysis_id: string }>(
              await client.callTool({ name: "fix_code_error", arguments: REQUEST }),
            );
            assert.equal(after.cached, false);
            assert.notEqual(after.analysis_id, fresh.analysis_id);
          } finally {
            await client.close();
          }
        },
      );

      await t.step(
        "new knowledge of the owner's (a new verified fix of the same error code) invalidates",
        async () => {
          const user = await createUser(sql);
          await fix(gateway.url, user.token);
          assert.equal((await fix(gateway.url, user.token)).cached, true);
          const other = await fix(gateway.url, user.token, {
            ...REQUEST,
            code: CODE.replace("name", "title"),
          });
          assert.equal(other.verified, true);
          const after = await fix(gateway.url, user.token);
          assert.equal(after.cached, false);
          assert.ok(after.similar.some((s) => s.id === other.stored!.id), "the new fix is in the new answer");
          assert.equal((await fix(gateway.url, user.token)).cached, true, "and that answer is cached again");
        },
      );

      await t.step(
        "a deleted fix invalidates: a cached answer never points at a fix that is gone",
        async () => {
          const user = await createUser(sql);
          const answer = await fix(gateway.url, user.token);
          await sql`delete from public.code_analysis where id = ${answer.stored!.id}`;
          const after = await fix(gateway.url, user.token);
          assert.equal(after.cached, false);
          assert.notEqual(after.stored!.id, answer.stored!.id);
        },
      );

      await t.step("an answer that failed a rule is not cached: the model is asked again", async () => {
        const user = await createUser(sql);
        fake.reset().setReply(asAny);
        const answer = await fix(gateway.url, user.token);
        assert.equal(answer.verified, false);
        const again = await fix(gateway.url, user.token);
        assert.equal(again.cached, false);
        assert.equal(fake.inferenceRequests().length, 4, "two attempts each time");
        fake.reset().setReply(correct);
      });
    } finally {
      await gateway.stop();
    }

    await t.step("FIX_CACHE_TTL_SECONDS=0 turns the cache off", async () => {
      const off = startTestGateway(
        openAiCompatibleEnv(fake.openaiBaseURL, { RATE_LIMIT_PER_MINUTE: "0", FIX_CACHE_TTL_SECONDS: "0" }),
      );
      try {
        const user = await createUser(sql);
        assert.equal((await fix(off.url, user.token)).cached, false);
        assert.equal((await fix(off.url, user.token)).cached, false);
        const [{ entries }] =
          await sql`select count(*)::int as entries from public.fix_cache where owner = ${user.id}`;
        assert.equal(entries, 0);
      } finally {
        await off.stop();
        await fake.close();
      }
    });
  },
});
