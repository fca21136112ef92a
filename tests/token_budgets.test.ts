// Token budgets hold when callers try to get around them: concurrent calls reserve before they run (the
// prompt's estimate plus the capped max_tokens) and cannot pass the budget together; max_tokens is capped by
// the server; a stream the client drops, and a call that fails upstream, count what they used; a caller who
// goes away aborts the upstream call; a project-wide daily cap binds everyone, the service role included; the
// batch worker spends an owner's budget per error and puts errors back (attempt not counted) when it is used
// up; and MCP shares the functions' rate-limit scopes.
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { startFakeLlmServer } from "./fakes/llm_server.ts";
import {
  assertError,
  call,
  createUser,
  eventually,
  openAiCompatibleEnv,
  startTestGateway,
  type TestGateway,
} from "./_functions.ts";
import { db, SERVICE_ROLE_KEY } from "./_stack.ts";

const sql = db();
// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

async function rowsOf(owner: string) {
  return await sql`select * from public.llm_responses where owner = ${owner} order by created_at`;
}

/**
 * An upstream that takes the request and never answers, noting when the caller's connection closed. Raw TCP:
 * the connection's end is what an upstream sees when a call is aborted (Deno.serve in the same process as the
 * gateway does not always report it promptly).
 */
function stallingUpstream() {
  const seen: { arrived: number; closed: number | null }[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const entry = { arrived: Date.now(), closed: null as number | null };
        seen.push(entry);
        const buffer = new Uint8Array(65_536);
        while (await conn.read(buffer).catch(() => null) !== null) { /* the request, then nothing */ }
        entry.closed = Date.now();
        conn.close();
      })();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  return { baseURL: `http://127.0.0.1:${port}/v1`, seen, close: () => listener.close() };
}

Deno.test({
  name: "token budgets cannot be got around",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fake = await startFakeLlmServer({ reply: "one two three four five six seven eight nine ten" });
    const stalling = stallingUpstream();
    const gateways: TestGateway[] = [];
    const gateway = (env: Record<string, string>) => {
      const g = startTestGateway(env);
      gateways.push(g);
      return g;
    };
    // Budget 2000 a user a day; every call may generate at most 500 tokens.
    const budgeted = gateway(openAiCompatibleEnv(fake.openaiBaseURL, {
      RATE_LIMIT_PER_MINUTE: "0",
      LLM_DAILY_TOKEN_BUDGET: "2000",
      LLM_MAX_OUTPUT_TOKENS: "500",
      LLM_MAX_RETRIES: "0",
    }));
    try {
      await t.step("10 concurrent calls cannot pass a budget that allows 3 of them", async () => {
        const user = await createUser(sql);
        fake.reset().setResponseDelay(1_000);
        const answers = await Promise.all(
          Array.from(
            { length: 10 },
            () => call(budgeted.url, "custom-llm", { token: user.token, body: { prompt: "hi" } }),
          ),
        );
        const ok = answers.filter((a) => a.status === 200).length;
        for (const a of answers.filter((a) => a.status !== 200)) assertError(a, 429, "token_budget_exceeded");
        // Each reserves 5 (the prompt) + 500 (max_tokens) until it is recorded: 3 × 505 fit in 2000, 4 do not.
        assert.equal(ok, 3, answers.map((a) => a.status).join(","));
        assert.equal(fake.inferenceRequests().length, 3, "refused calls never reach the model");
        fake.setResponseDelay(0);
      });

      await t.step("max_tokens is the server's: capped, and sent when the caller gives none", async () => {
        const user = await createUser(sql);
        fake.reset();
        for (const body of [{ prompt: "hi", max_tokens: 65_536 }, { prompt: "hi" }]) {
          const answer = await call(budgeted.url, "custom-llm", { token: user.token, body });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
        }
        assert.deepEqual(fake.inferenceRequests().map((r) => (r.body as Json).max_tokens), [500, 500]);
      });

      await t.step("a stream the client drops after the last chunk is counted", async () => {
        const user = await createUser(sql);
        fake.reset().setChunkDelay(50);
        const response = await fetch(`${budgeted.url}/functions/v1/custom-llm`, {
          method: "POST",
          headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
          body: JSON.stringify({ prompt: "count to ten please", stream: true }),
        });
        assert.equal(response.status, 200);
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        while (!text.includes("ten")) text += (await reader.read()).value ?? "";
        await reader.cancel(); // gone, before [DONE] and the usage chunk
        const row = await eventually(async () => (await rowsOf(user.id))[0], "the dropped stream's row");
        assert.equal(row.status, "error");
        assert.ok(row.total_tokens >= 8, `counted ${row.total_tokens} tokens`);
        const [{ used }] = await sql`select used from ai.token_budget(${user.id}, 2000)`;
        assert.ok(Number(used) >= 8, "the budget sees them");
        fake.setChunkDelay(0);
      });

      await t.step(
        "a call that fails upstream counts its prompt (a 5xx), a refused one (4xx) nothing",
        async () => {
          const user = await createUser(sql);
          fake.reset().failNext({ status: 500, message: "overloaded" });
          assertError(
            await call(budgeted.url, "custom-llm", {
              token: user.token,
              body: { prompt: "a b c d e f g h i" },
            }),
            502,
          );
          fake.failNext({ status: 400, message: "bad request" });
          assertError(
            await call(budgeted.url, "custom-llm", { token: user.token, body: { prompt: "x" } }),
            502,
          );
          const rows = await rowsOf(user.id);
          assert.deepEqual(rows.map((r) => r.http_status), [500, 400]);
          assert.ok(rows[0].prompt_tokens > 0, "the failed call's prompt is counted");
          assert.equal(rows[1].total_tokens, 0);
        },
      );

      await t.step("a caller who goes away aborts the upstream call", async () => {
        const upstreamGateway = gateway(openAiCompatibleEnv(stalling.baseURL, {
          RATE_LIMIT_PER_MINUTE: "0",
          LLM_MAX_RETRIES: "0",
          LLM_TIMEOUT_MS: "60000",
        }));
        const user = await createUser(sql);
        for (const name of ["custom-llm", "fix-code-error"]) {
          const before = stalling.seen.length;
          const controller = new AbortController();
          const pending = fetch(`${upstreamGateway.url}/functions/v1/${name}`, {
            method: "POST",
            signal: controller.signal,
            headers: { authorization: `Bearer ${user.token}`, "content-type": "application/json" },
            body: JSON.stringify(
              // (A code neither the compiler's code fixes nor an adapted past fix can fix: the model is asked.)
              name === "custom-llm" ? { prompt: "hi" } : {
                error: "TS2322: Type 'number' is not assignable to type 'string'.",
                code: "const abortedLabel: string = 7;\nconsole.log(abortedLabel);\n",
              },
            ),
          }).catch(() => null);
          const entry = await eventually(
            () => Promise.resolve(stalling.seen[before]),
            `${name}'s upstream request`,
            30_000,
          );
          controller.abort();
          await pending;
          const closed = await eventually(
            () => Promise.resolve(entry.closed),
            `${name}'s upstream call aborted`,
            10_000,
          );
          assert.ok(
            closed - entry.arrived < 20_000,
            `${name}: the upstream call ran on for ${closed - entry.arrived} ms`,
          );
        }
      });

      await t.step(
        "the batch worker spends an owner's budget per error; used up, the error waits",
        async () => {
          const user = await createUser(sql);
          // The user's day is already spent (recorded calls count; a reservation could not fit).
          await sql`insert into public.llm_responses (owner, function_name, provider, model, prompt, prompt_tokens,
                    completion_tokens, latency_ms, status)
                  values (${user.id}, 'custom-llm', 'openai-compatible', 'fake-model', '[]', 1990, 0, 1, 'success')`;
          const [queued] = await sql`
          insert into public.typescript_errors (owner, file_path, error_code, error_message, code_snippet)
          values (${user.id}, 'src/b.ts', 'TS2322', 'Type ''number'' is not assignable to type ''string''.',
                  ${"const budgetLabel: string = 7;\nconsole.log(budgetLabel);\n"})
          returning id`;
          const [claim] = await sql`select claim_token::text from ai.claim_typescript_errors(50)
                                  where id = ${queued.id}`;
          fake.reset();
          const report = await call<Json>(budgeted.url, "ts-error-worker", {
            token: SERVICE_ROLE_KEY,
            body: { claim_token: claim.claim_token, wait: true },
          });
          assert.equal(report.status, 200, JSON.stringify(report.body));
          assert.equal(report.body.deferred, 1, JSON.stringify(report.body));
          // (Other queued errors the drain goes on to claim may reach the model; this one must not.)
          const forThisError = fake.inferenceRequests().filter((r) => r.rawBody.includes("budgetLabel"));
          assert.equal(forThisError.length, 0, "no model call past the budget");
          const [row] = await sql`select status, attempts, run_after, last_error from public.typescript_errors
                                where id = ${queued.id}`;
          assert.deepEqual([row.status, row.attempts], ["pending", 0]);
          assert.ok(row.run_after > new Date(Date.now() + 60_000), "it waits until the budget allows");
          assert.match(row.last_error, /token budget/i);
        },
      );

      await t.step("MCP counts against the functions' rate limits, not an allowance of its own", async () => {
        const limited = gateway(openAiCompatibleEnv(fake.openaiBaseURL, { RATE_LIMIT_PER_MINUTE: "2" }));
        const user = await createUser(sql);
        fake.reset();
        const [{ s }] = await sql`select extract(second from clock_timestamp())::float8 as s`;
        if (s > 45) await new Promise((r) => setTimeout(r, (61 - s) * 1000)); // one rate-limit window
        const body = {
          error: "TS2322: Type 'string' is not assignable to type 'number'.",
          code: 'const n: number = "1";',
        };
        for (let i = 0; i < 2; i++) {
          assert.equal((await call(limited.url, "fix-code-error", { token: user.token, body })).status, 200);
        }
        const client = new Client({ name: "budget-test", version: "1.0.0" });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${limited.url}/functions/v1/mcp`), {
            requestInit: { headers: { authorization: `Bearer ${user.token}` } },
          }),
        );
        try {
          const result = await client.callTool({ name: "fix_code_error", arguments: body }) as CallToolResult;
          assert.equal(result.isError, true);
          assert.match(
            (result.content as { text: string }[])[0].text,
            /Rate limit reached: 2 requests per minute to fix-code-error/,
          );
        } finally {
          await client.close();
        }
      });

      await t.step("a project-wide daily cap binds every user and the service role", async () => {
        const capped = gateway(openAiCompatibleEnv(fake.openaiBaseURL, {
          RATE_LIMIT_PER_MINUTE: "0",
          LLM_PROJECT_DAILY_TOKEN_BUDGET: "1000000",
          LLM_MAX_OUTPUT_TOKENS: "500",
        }));
        const [{ used }] = await sql`select coalesce(sum(tokens), 0)::bigint as used from ai.token_usage
                                     where scope = 'project' and hour >= date_trunc('hour', now() - interval '24 hours')`;
        // Another tenant spent all but 300 tokens of the project's day.
        const spender = await createUser(sql);
        await sql`insert into public.llm_responses (owner, function_name, provider, model, prompt, prompt_tokens,
                    completion_tokens, latency_ms, status)
                  values (${spender.id}, 'custom-llm', 'openai-compatible', 'fake-model', '[]',
                          ${1_000_000 - 300 - Number(used)}, 0, 1, 'success')`;
        fake.reset();
        const fresh = await createUser(sql);
        for (const token of [fresh.token, SERVICE_ROLE_KEY]) {
          const answer = await call(capped.url, "custom-llm", { token, body: { prompt: "hi" } });
          assertError(answer, 429, "project_token_budget_exceeded");
        }
        assert.equal(fake.inferenceRequests().length, 0);
        // (this stack's other tests must not inherit a spent project: take the spender's hour back out)
        await sql`update ai.token_usage set tokens = tokens - ${1_000_000 - 300 - Number(used)}
                  where scope = 'project' and hour = date_trunc('hour', now())`;
      });
    } finally {
      await Promise.all(gateways.map((g) => g.stop()));
      await fake.close();
      stalling.close();
      await sql.end();
    }
  },
});
