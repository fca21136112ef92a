// custom-llm (bring your own model) through gateways configured with a fake LLM server: the chat-completion
// answer, SSE streaming, retries, timeouts, cut streams, the model allow-list, the strict body (no SSRF),
// Ollama's native API, the record of every call in llm_responses, rate limits and token budgets.
import assert from "node:assert/strict";
import { createClient } from "@supabase/supabase-js";
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
import { ANON_KEY, db, SUPABASE_URL } from "./_stack.ts";

/** A parsed JSON answer, inspected field by field by the assertions. */
// deno-lint-ignore no-explicit-any
type Json = any;

const sql = db();
const NAME = "custom-llm";
const REPLY = "The answer is forty two, as always.";

interface Frame {
  data: string;
  at: number;
}

/** Reads an SSE body, noting when each `data:` frame arrived. */
async function readFrames(response: Response): Promise<Frame[]> {
  const frames: Frame[] = [];
  let buffer = "";
  for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (data) frames.push({ data, at: Date.now() });
    }
  }
  assert.equal(buffer.trim(), "", "the body ended in the middle of an event");
  return frames;
}

function contentOf(frames: Frame[]): string {
  return frames.filter((f) => f.data !== "[DONE]").map((f) => JSON.parse(f.data))
    .map((c) => c.choices?.[0]?.delta?.content ?? "").join("");
}

async function streamCall(baseUrl: string, token: string, body: unknown): Promise<Response> {
  return await fetch(`${baseUrl}/functions/v1/${NAME}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

async function rowsOf(owner: string) {
  return await sql`select * from public.llm_responses where owner = ${owner} order by created_at`;
}

/** Waits until the minute's fixed rate-limit window has at least `seconds` left (by the database's clock). */
async function awayFromWindowEnd(seconds = 15): Promise<void> {
  const [{ s }] = await sql`select extract(second from clock_timestamp())::float8 as s`;
  if (60 - s < seconds) await new Promise((r) => setTimeout(r, (60 - s + 0.5) * 1000));
}

Deno.test({
  name: "custom-llm",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fake = await startFakeLlmServer({ reply: REPLY, apiKey: "sk-fake-test" });
    const ollama = await startFakeLlmServer({ reply: REPLY });
    const limited = await startFakeLlmServer({
      reply: (req) =>
        req.messages.some((m) => m.content.includes("long")) ? Array(60).fill("word").join(" ") : "ok",
      apiKey: "sk-fake-test",
    });
    // Where an SSRF attempt would land if a body could choose the URL.
    const decoyHits: string[] = [];
    const decoy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      decoyHits.push(req.url);
      return Response.json({ choices: [{ message: { content: "decoy" } }] });
    });
    const decoyUrl = `http://127.0.0.1:${decoy.addr.port}`;
    const gateways: TestGateway[] = [];
    const gateway = (env: Record<string, string>) => {
      const g = startTestGateway(env);
      gateways.push(g);
      return g;
    };
    const llm = gateway(
      openAiCompatibleEnv(fake.openaiBaseURL, { LLM_TIMEOUT_MS: "1500", RATE_LIMIT_PER_MINUTE: "0" }),
    );
    const native = gateway({
      LLM_PROVIDER: "ollama",
      OLLAMA_URL: ollama.ollamaURL,
      LLM_MODEL: "codellama",
      LLM_MAX_RETRIES: "0",
      RATE_LIMIT_PER_MINUTE: "0",
    });
    const limits = gateway(
      openAiCompatibleEnv(limited.openaiBaseURL, {
        RATE_LIMIT_PER_MINUTE: "3",
        LLM_DAILY_TOKEN_BUDGET: "100",
        LLM_MAX_OUTPUT_TOKENS: "30",
      }),
    );

    try {
      await t.step(
        "a prompt gets a chat.completion with usage, and the call is stored for the user",
        async () => {
          const user = await createUser(sql);
          fake.reset();
          const answer = await call(llm.url, NAME, {
            token: user.token,
            body: { prompt: "What is six times seven?" },
          });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          const body = answer.body as Json;
          assert.equal(body.object, "chat.completion");
          assert.equal(body.model, "fake-model");
          assert.equal(body.choices.length, 1);
          assert.equal(body.choices[0].message.role, "assistant");
          assert.equal(body.choices[0].message.content, REPLY);
          assert.equal(body.choices[0].finish_reason, "stop");
          assert.deepEqual(body.usage, { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
          assert.equal(answer.headers.get("x-llm-response-id"), body.llm_response_id);

          const upstream = fake.inferenceRequests();
          assert.equal(upstream.length, 1);
          assert.equal(upstream[0].headers.authorization, "Bearer sk-fake-test");
          assert.deepEqual((upstream[0].body as Json).messages, [{
            role: "user",
            content: "What is six times seven?",
          }]);

          const [row] = await sql`select * from public.llm_responses where id = ${body.llm_response_id}`;
          assert.equal(row.owner, user.id);
          assert.equal(row.function_name, NAME);
          assert.equal(row.provider, "openai-compatible");
          assert.equal(row.model, "fake-model");
          assert.equal(row.status, "success");
          assert.equal(row.error, null);
          assert.equal(row.stream, false);
          assert.equal(row.response, REPLY);
          assert.deepEqual(row.prompt, [{ role: "user", content: "What is six times seven?" }]);
          assert.deepEqual([row.prompt_tokens, row.completion_tokens, row.total_tokens], [5, 7, 12]);
          assert.ok(row.latency_ms >= 0);
        },
      );

      await t.step(
        "messages, an allowed model and sampling options reach the provider as given",
        async () => {
          const user = await createUser(sql);
          fake.reset();
          const messages = [{ role: "system", content: "Be brief." }, {
            role: "user",
            content: "Hello there",
          }];
          const answer = await call(llm.url, NAME, {
            token: user.token,
            body: { messages, model: "fake-model-large", temperature: 0.3, top_p: 0.9, max_tokens: 2 },
          });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          const body = answer.body as Json;
          assert.equal(body.model, "fake-model-large");
          assert.equal(body.choices[0].message.content, "The answer ");
          assert.equal(body.choices[0].finish_reason, "length");
          const sent = fake.inferenceRequests()[0].body as Record<string, unknown>;
          assert.deepEqual(sent.messages, messages);
          assert.equal(sent.model, "fake-model-large");
          assert.equal(sent.temperature, 0.3);
          assert.equal(sent.top_p, 0.9);
          assert.equal(sent.max_tokens, 2);
          const [row] = await rowsOf(user.id);
          assert.equal(row.model, "fake-model-large");
          assert.equal(row.completion_tokens, 2);
        },
      );

      await t.step("supabase-js functions.invoke with a user's session gets the completion", async () => {
        const user = await createUser(sql);
        const supabase = createClient(llm.url, ANON_KEY, { auth: { persistSession: false } });
        supabase.functions.setAuth(user.token);
        const { data, error } = await supabase.functions.invoke(NAME, { body: { prompt: "hi" } });
        assert.equal(error, null);
        assert.equal(data.choices[0].message.content, REPLY);
        assert.equal((await rowsOf(user.id)).length, 1);
      });

      await t.step(
        "a stream arrives as SSE chunks while they are produced, ends with [DONE], usage recorded",
        async () => {
          const user = await createUser(sql);
          fake.reset().setChunkDelay(150);
          const response = await streamCall(llm.url, user.token, { prompt: "Tell me a story", stream: true });
          assert.equal(response.status, 200);
          assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
          const frames = await readFrames(response);
          assert.equal(frames.at(-1)!.data, "[DONE]");
          const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
          assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
          assert.equal(contentOf(frames), REPLY);
          const usage = chunks.find((c) => c.usage)?.usage;
          assert.deepEqual(usage, { prompt_tokens: 4, completion_tokens: 7, total_tokens: 11 });
          // 7 content chunks 150 ms apart: if the gateway or the function buffered the body, every frame would
          // arrive at once; streamed, the first content arrives about 900 ms before the last.
          const firstContent = frames.find((f) => f.data !== "[DONE]" && contentOf([f]) !== "")!;
          assert.ok(
            frames.at(-1)!.at - firstContent.at >= 500,
            "the first chunk did not arrive before the last",
          );

          const upstream = fake.inferenceRequests()[0].body as Json;
          assert.equal(upstream.stream, true);
          assert.deepEqual(upstream.stream_options, { include_usage: true });

          const row = await eventually(async () => (await rowsOf(user.id))[0], "the streamed call's row");
          assert.equal(row.stream, true);
          assert.equal(row.status, "success");
          assert.equal(row.response, REPLY);
          assert.deepEqual([row.prompt_tokens, row.completion_tokens, row.total_tokens], [4, 7, 11]);
          fake.setChunkDelay(0);
        },
      );

      await t.step(
        "an upstream 500 that outlasts the retries gets 502 with an error id, not the provider's text; stored",
        async () => {
          const user = await createUser(sql);
          fake.reset().failNext({
            status: 500,
            times: 2,
            message: "model server exploded at http://10.1.2.3",
          });
          const answer = await call(llm.url, NAME, { token: user.token, body: { prompt: "hi" } });
          const error = assertError(answer, 502, "llm_upstream");
          const id = (answer.body as Json).error.details.error_id;
          assert.equal(error.message, `The LLM provider answered with an error (HTTP 500) (error id ${id}).`);
          assert.doesNotMatch(JSON.stringify(answer.body), /exploded|10\.1\.2\.3/);
          assert.equal((answer.body as Json).error.details.upstream_status, 500);
          assert.equal(fake.inferenceRequests().length, 2, "one try and LLM_MAX_RETRIES=1 retry");
          const [row] = await rowsOf(user.id);
          assert.equal(row.status, "error");
          assert.equal(row.error, error.message, "the stored reason is the one the caller got, same id");
          assert.ok(llm.logs.some((l) => l.includes(id) || l.includes("exploded")), "the details are logged");
          assert.equal(row.http_status, 500);
          assert.equal(row.response, null);
        },
      );

      await t.step("a 429 followed by a success is retried and succeeds", async () => {
        const user = await createUser(sql);
        fake.reset().failNext({ status: 429, retryAfter: 0 });
        const answer = await call(llm.url, NAME, { token: user.token, body: { prompt: "hi" } });
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(fake.inferenceRequests().length, 2);
        const rows = await rowsOf(user.id);
        assert.equal(rows.length, 1);
        assert.equal(rows[0].status, "success");
      });

      await t.step("a 429 that persists gets 429 with the provider's Retry-After", async () => {
        const user = await createUser(sql);
        fake.reset().failNext({ status: 429, times: 2, retryAfter: 1 });
        const answer = await call(llm.url, NAME, { token: user.token, body: { prompt: "hi" } });
        assertError(answer, 429, "llm_upstream");
        assert.equal(answer.headers.get("retry-after"), "1");
        assert.equal((await rowsOf(user.id))[0].http_status, 429);
      });

      await t.step("an upstream that stalls past LLM_TIMEOUT_MS gets 504, stored as an error", async () => {
        const user = await createUser(sql);
        fake.reset().stallNext({ ms: 4_000, times: 2 });
        const answer = await call(llm.url, NAME, { token: user.token, body: { prompt: "hi" } });
        const error = assertError(answer, 504, "llm_timeout");
        assert.match(error.message, /^The LLM provider did not answer in time \(error id [0-9a-f-]{36}\)\.$/);
        const [row] = await rowsOf(user.id);
        assert.equal(row.status, "error");
        assert.match(row.error, /did not answer/);
      });

      await t.step(
        "a stream cut upstream ends with an error frame and no [DONE]; the partial text is stored",
        async () => {
          const user = await createUser(sql);
          fake.reset().cutNextStream({ afterChunks: 3 });
          const response = await streamCall(llm.url, user.token, { prompt: "hi", stream: true });
          assert.equal(response.status, 200);
          const frames = await readFrames(response);
          assert.ok(!frames.some((f) => f.data === "[DONE]"), "a cut stream must not look finished");
          const last = JSON.parse(frames.at(-1)!.data);
          assert.equal(last.error.type, "llm_stream_interrupted");
          assert.match(
            last.error.message,
            /^The LLM provider's answer broke off \(error id [0-9a-f-]{36}\)\.$/,
          );
          assert.equal(last.error.error_id, last.error.message.match(/error id ([0-9a-f-]{36})/)[1]);
          assert.equal(contentOf(frames.slice(0, -1)), "The answer ");
          const row = await eventually(async () => (await rowsOf(user.id))[0], "the cut stream's row");
          assert.equal(row.status, "error");
          assert.equal(row.stream, true);
          assert.equal(row.response, "The answer ");
          assert.match(row.error, /broke off \(error id/);
        },
      );

      await t.step(
        "a stream that goes silent past LLM_TIMEOUT_MS ends with a timeout error frame, stored",
        async () => {
          const user = await createUser(sql);
          fake.reset().stallNext({ ms: 4_000, afterChunks: 2 });
          const response = await streamCall(llm.url, user.token, { prompt: "hi", stream: true });
          assert.equal(response.status, 200);
          const frames = await readFrames(response);
          assert.ok(!frames.some((f) => f.data === "[DONE]"));
          assert.equal(JSON.parse(frames.at(-1)!.data).error.type, "llm_timeout");
          assert.equal(contentOf(frames.slice(0, -1)), "The ");
          const row = await eventually(async () => (await rowsOf(user.id))[0], "the stalled stream's row");
          assert.equal(row.status, "error");
          assert.equal(row.response, "The ");
          assert.match(row.error, /did not answer in time \(error id/);
        },
      );

      await t.step(
        "a model that is not allowed gets 400 model_not_allowed and no upstream request",
        async () => {
          const user = await createUser(sql);
          fake.reset();
          const answer = await call(llm.url, NAME, {
            token: user.token,
            body: { prompt: "hi", model: "gpt-5-pro" },
          });
          const error = assertError(answer, 400, "model_not_allowed");
          assert.match(error.message, /fake-model/);
          assert.deepEqual((answer.body as Json).error.details.allowed, ["fake-model", "fake-model-large"]);
          assert.equal(fake.inferenceRequests().length, 0);
          assert.equal((await rowsOf(user.id)).length, 0);
        },
      );

      await t.step(
        "a body naming a URL, a key or any unknown field is refused: no request leaves",
        async () => {
          const user = await createUser(sql);
          fake.reset();
          const attempts: Record<string, unknown>[] = [
            { prompt: "hi", base_url: decoyUrl },
            { prompt: "hi", baseURL: `${decoyUrl}/v1` },
            { prompt: "hi", api_key: "sk-stolen" },
            { prompt: "hi", provider: "openai" },
            { prompt: "hi", url: decoyUrl },
            { prompt: "hi", headers: { host: "169.254.169.254" } },
            { messages: [{ role: "user", content: "hi", base_url: decoyUrl }] },
            { messages: [{ role: "tool", content: "hi" }] },
          ];
          for (const body of attempts) {
            assertError(await call(llm.url, NAME, { token: user.token, body }), 400, "invalid_request");
          }
          for (
            const model of ["http://169.254.169.254/latest/meta-data/", `${decoyUrl}/v1`, "../../etc/passwd"]
          ) {
            const answer = await call(llm.url, NAME, { token: user.token, body: { prompt: "hi", model } });
            assertError(answer, 400, "model_not_allowed");
          }
          assert.equal(fake.requests.length, 0, "the configured provider got nothing");
          assert.deepEqual(decoyHits, [], "no request reached another URL");
          assert.equal((await rowsOf(user.id)).length, 0);
          // The one request that is allowed goes to the configured provider only.
          assert.equal(
            (await call(llm.url, NAME, { token: user.token, body: { prompt: "hi" } })).status,
            200,
          );
          assert.deepEqual(fake.requests.map((r) => r.path), ["/v1/chat/completions"]);
          assert.deepEqual(decoyHits, []);
        },
      );

      await t.step("a body that is not valid gets 400", async () => {
        const user = await createUser(sql);
        for (
          const body of [
            {},
            { prompt: "" },
            { prompt: "a", messages: [{ role: "user", content: "b" }] },
            { messages: [] },
            { prompt: "a", temperature: 3 },
            { prompt: "a", stream: "yes" },
            { prompt: 42 },
          ]
        ) {
          assertError(await call(llm.url, NAME, { token: user.token, body }), 400, "invalid_request");
        }
        assertError(await call(llm.url, NAME, { token: user.token, raw: "{" }), 400, "invalid_json");
      });

      await t.step("no token gets 401, the anon key 403, GET 405", async () => {
        assertError(await call(llm.url, NAME, { body: { prompt: "hi" } }), 401, "missing_authorization");
        assertError(
          await call(llm.url, NAME, { token: ANON_KEY, body: { prompt: "hi" } }),
          403,
          "sign_in_required",
        );
        assertError(await call(llm.url, NAME, { method: "GET", token: ANON_KEY }), 405, "method_not_allowed");
      });

      await t.step("Ollama's native API: a prompt goes to /api/generate, messages to /api/chat", async () => {
        const user = await createUser(sql);
        ollama.reset();
        const generated = await call(native.url, NAME, {
          token: user.token,
          body: { prompt: "Write a haiku", system: "You are a poet.", temperature: 0.5 },
        });
        assert.equal(generated.status, 200, JSON.stringify(generated.body));
        const g = generated.body as Json;
        assert.equal(g.object, "chat.completion");
        assert.equal(g.model, "codellama");
        assert.equal(g.choices[0].message.content, REPLY);
        assert.deepEqual(g.usage, { prompt_tokens: 7, completion_tokens: 7, total_tokens: 14 });

        const chatted = await call(native.url, NAME, {
          token: user.token,
          body: { messages: [{ role: "user", content: "Hello" }], max_tokens: 3 },
        });
        assert.equal(chatted.status, 200, JSON.stringify(chatted.body));
        assert.equal((chatted.body as Json).choices[0].message.content, "The answer is ");

        const [generate, chat] = ollama.inferenceRequests();
        assert.equal(generate.path, "/api/generate");
        assert.equal((generate.body as Json).prompt, "Write a haiku");
        assert.equal((generate.body as Json).system, "You are a poet.");
        assert.equal((generate.body as Json).stream, false);
        assert.equal((generate.body as Json).options.temperature, 0.5);
        assert.equal(chat.path, "/api/chat");
        assert.equal((chat.body as Json).options.num_predict, 3);

        const rows = await rowsOf(user.id);
        assert.deepEqual(rows.map((r) => [r.provider, r.model, r.status]), [
          ["ollama", "codellama", "success"],
          ["ollama", "codellama", "success"],
        ]);
        assert.equal(rows[0].completion_tokens, 7);
      });

      await t.step("Ollama's NDJSON stream is answered as OpenAI SSE chunks with usage", async () => {
        const user = await createUser(sql);
        ollama.reset();
        const response = await streamCall(native.url, user.token, { prompt: "Stream it", stream: true });
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
        const frames = await readFrames(response);
        assert.equal(frames.at(-1)!.data, "[DONE]");
        const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
        assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
        assert.equal(contentOf(frames), REPLY);
        assert.equal(chunks.find((c) => c.usage)?.usage.completion_tokens, 7);
        const [sent] = ollama.inferenceRequests();
        assert.equal(sent.path, "/api/generate");
        assert.equal((sent.body as Json).stream, true);
        const row = await eventually(async () => (await rowsOf(user.id))[0], "the Ollama stream's row");
        assert.deepEqual([row.provider, row.stream, row.status, row.completion_tokens], [
          "ollama",
          true,
          "success",
          7,
        ]);
      });

      await t.step(
        "with no LLM configured (the stack's gateway) the answer is 503 llm_not_configured",
        async () => {
          const user = await createUser(sql);
          const answer = await call(SUPABASE_URL, NAME, { token: user.token, body: { prompt: "hi" } });
          const error = assertError(answer, 503, "llm_not_configured");
          assert.match(error.message, /LLM_PROVIDER/);
        },
      );

      await t.step(
        "past RATE_LIMIT_PER_MINUTE a user gets 429 with Retry-After; another user does not",
        async () => {
          await awayFromWindowEnd();
          const [a, b] = [await createUser(sql), await createUser(sql)];
          for (let i = 0; i < 3; i++) {
            const answer = await call(limits.url, NAME, { token: a.token, body: { prompt: "hi" } });
            assert.equal(answer.status, 200, `request ${i + 1}: ${JSON.stringify(answer.body)}`);
          }
          const fourth = await call(limits.url, NAME, { token: a.token, body: { prompt: "hi" } });
          assertError(fourth, 429, "rate_limited");
          const retryAfter = Number(fourth.headers.get("retry-after"));
          assert.ok(
            Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
            `Retry-After ${retryAfter}`,
          );
          assert.equal(
            (await call(limits.url, NAME, { token: b.token, body: { prompt: "hi" } })).status,
            200,
          );
          assert.equal((await rowsOf(a.id)).length, 3, "the refused request never reached the model");
        },
      );

      await t.step("past LLM_DAILY_TOKEN_BUDGET a user gets 429 token_budget_exceeded", async () => {
        await awayFromWindowEnd();
        const user = await createUser(sql);
        limited.reset();
        // Each call: 2 prompt tokens + 30 completion tokens (max_tokens capped at LLM_MAX_OUTPUT_TOKENS=30), and
        // reserves up to 8 (the prompt's estimate) + 30 first: the third would need 64 + 38 > 100.
        for (let i = 0; i < 2; i++) {
          const answer = await call(limits.url, NAME, { token: user.token, body: { prompt: "long please" } });
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
        }
        const third = await call(limits.url, NAME, { token: user.token, body: { prompt: "long please" } });
        assertError(third, 429, "token_budget_exceeded");
        const details = (third.body as Json).error.details;
        assert.deepEqual([details.budget, details.used, details.needed], [100, 64, 38]);
        // Both calls just now: the budget frees up when the first leaves the 24 h window.
        const retryAfter = Number(third.headers.get("retry-after"));
        // (Usage is counted per hour, so the window ends up to an hour past 24 h.)
        assert.ok(retryAfter > 80_000 && retryAfter <= 90_000, `Retry-After ${retryAfter}`);
        assert.ok(new Date(details.retry_at).getTime() > Date.now());
        assert.equal(limited.inferenceRequests().length, 2);
        const other = await createUser(sql);
        assert.equal(
          (await call(limits.url, NAME, { token: other.token, body: { prompt: "hi" } })).status,
          200,
        );
      });
    } finally {
      for (const g of gateways) await g.stop();
      await Promise.all([fake.close(), ollama.close(), limited.close(), decoy.shutdown()]);
      await sql.end();
    }
  },
});
