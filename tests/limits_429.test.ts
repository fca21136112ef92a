// Every function that can refuse a user with 429 says when to come back: `Retry-After` on the rate limit
// (RATE_LIMIT_PER_MINUTE) and on the token budget (LLM_DAILY_TOKEN_BUDGET), and the same words in MCP's tool
// errors, which travel inside a JSON-RPC result and have no headers. One gateway with an LLM configured (a fake
// server that is never reached: the budget is spent before any call), a limit of 1 request a minute and a
// budget of 100 tokens; each user's budget is spent by a call recorded 23 hours ago, so it frees up in 1 hour.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import {
  type Answer,
  assertError,
  call,
  createUser,
  openAiCompatibleEnv,
  startTestGateway,
  type TestUser,
} from "./_functions.ts";
import { db } from "./_stack.ts";
import { startFakeLlmServer } from "./fakes/llm_server.ts";

const sql = db();
const BROKEN = {
  error: "Type 'string' is not assignable to type 'number'.",
  code: 'const n: number = "1";\n',
};

/** Waits until the minute's fixed rate-limit window has at least 15 s left (by the database's clock). */
async function awayFromWindowEnd(): Promise<void> {
  const [{ s }] = await sql`select extract(second from clock_timestamp())::float8 as s`;
  if (60 - s < 15) await new Promise((r) => setTimeout(r, (60 - s + 0.5) * 1000));
}

/** A user whose 100-token budget was spent 23 hours ago: it frees up an hour from now. */
async function spentUser(): Promise<TestUser & { resetAt: number }> {
  const user = await createUser(sql);
  const [{ at }] = await sql`
    insert into public.llm_responses (owner, function_name, provider, model, prompt, response, prompt_tokens,
                                      completion_tokens, latency_ms, status, created_at)
    values (${user.id}, 'custom-llm', 'p', 'm', '[]', 'r', 80, 20, 1, 'success', now() - interval '23 hours')
    returning created_at + interval '1 day' as at`;
  return { ...user, resetAt: at.getTime() };
}

/** Retry-After in whole seconds, checked against when the limit really ends (±5 s for the round trip). */
function assertRetryAfter(answer: Answer, endsAt: number | null) {
  const header = answer.headers.get("retry-after");
  assert.ok(header !== null, "a 429 without Retry-After");
  const seconds = Number(header);
  assert.ok(Number.isInteger(seconds) && seconds >= 1, `Retry-After ${header}`);
  if (endsAt === null) assert.ok(seconds <= 60, `a rate-limit window is a minute, Retry-After ${seconds}`);
  else assert.ok(Math.abs(Date.now() + seconds * 1000 - endsAt) < 5_000, `Retry-After ${seconds}`);
}

Deno.test({
  name: "429s carry Retry-After: rate limit and token budget, on every function that answers them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fake = await startFakeLlmServer({ reply: "never used" });
    const gateway = startTestGateway(
      openAiCompatibleEnv(fake.openaiBaseURL, { RATE_LIMIT_PER_MINUTE: "1", LLM_DAILY_TOKEN_BUDGET: "100" }),
    );
    try {
      // The budget is checked after the rate limit: the first call is counted and refused for the budget,
      // the second is refused for the rate.
      for (
        const [name, body] of [
          ["custom-llm", { prompt: "hi" }],
          ["fix-code-error", BROKEN],
        ] as const
      ) {
        await t.step(`${name}: token budget, then rate limit, each with Retry-After`, async () => {
          await awayFromWindowEnd();
          const user = await spentUser();
          const first = await call(gateway.url, name, { token: user.token, body });
          assertError(first, 429, "token_budget_exceeded");
          assertRetryAfter(first, user.resetAt);
          const second = await call(gateway.url, name, { token: user.token, body });
          assertError(second, 429, "rate_limited");
          assertRetryAfter(second, null);
        });
      }

      for (
        const [name, body] of [
          ["generate-embedding", { input: "hello" }],
          ["code-fix-feedback", { analysis_id: crypto.randomUUID(), feedback: "accepted" }],
        ] as const
      ) {
        await t.step(`${name}: rate limit with Retry-After`, async () => {
          await awayFromWindowEnd();
          const user = await createUser(sql);
          const first = await call(gateway.url, name, { token: user.token, body });
          assert.notEqual(first.status, 429, JSON.stringify(first.body));
          const second = await call(gateway.url, name, { token: user.token, body });
          assertError(second, 429, "rate_limited");
          assertRetryAfter(second, null);
        });
      }

      await t.step("mcp: the tool errors say when to retry, for the budget and the rate limit", async () => {
        await awayFromWindowEnd();
        const user = await spentUser();
        const client = new Client({ name: "limits-test", version: "1.0.0" });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${gateway.url}/functions/v1/mcp`), {
            requestInit: { headers: { authorization: `Bearer ${user.token}` } },
          }),
        );
        try {
          const text = (r: CallToolResult) =>
            (r.content as { text?: string }[]).map((c) => c.text).join("\n");
          const first = await client.callTool({
            name: "fix_code_error",
            arguments: BROKEN,
          }) as CallToolResult;
          assert.equal(first.isError, true);
          const budget = text(first).match(/token budget .*Retry in (\d+) s/i);
          assert.ok(budget, text(first));
          assert.ok(Math.abs(Date.now() + Number(budget[1]) * 1000 - user.resetAt) < 5_000, text(first));
          const second = await client.callTool({
            name: "fix_code_error",
            arguments: BROKEN,
          }) as CallToolResult;
          assert.equal(second.isError, true);
          const rate = text(second).match(/Rate limit .*Retry in (\d+) s/i);
          assert.ok(rate && Number(rate[1]) >= 1 && Number(rate[1]) <= 60, text(second));
        } finally {
          await client.close();
        }
      });
      assert.equal(fake.inferenceRequests().length, 0, "no refused request reached the model");
    } finally {
      await gateway.stop();
      await fake.close();
      await sql.end();
    }
  },
});
