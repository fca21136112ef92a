// The LLM layer (supabase/functions/_shared/llm*.ts) against the local fake LLM server: wire formats,
// streaming, retries and backoff, timeouts, connection errors, cut streams, the model allow-list and the
// configuration rules. No real provider is reached.

import assert from "node:assert/strict";
import {
  type ChatCompletionChunk,
  createLlm,
  describeLlmConfig,
  drainLlmStream,
  type LlmConfig,
  LlmConfigError,
  LlmError,
  loadLlmConfig,
  ModelNotAllowedError,
  readBodyLines,
  resolveModel,
  sseFromLlmStream,
  toChatCompletion,
} from "../supabase/functions/_shared/llm.ts";
import { backoffDelay } from "../supabase/functions/_shared/llm_http.ts";
import { type FakeLlmServer, type FakeLlmServerOptions, startFakeLlmServer } from "./fakes/llm_server.ts";

const KEY = "sk-test-123";
const USER = [{ role: "user" as const, content: "Why is my query slow?" }];

function env(vars: Record<string, string>) {
  return new Map(Object.entries(vars));
}

/** Config for an OpenAI-compatible provider at the fake server (short timeout, 2 retries by default). */
function openaiConfig(server: FakeLlmServer, extra: Record<string, string> = {}): LlmConfig {
  return loadLlmConfig(env({
    LLM_PROVIDER: "openai-compatible",
    LLM_BASE_URL: server.openaiBaseURL,
    LLM_API_KEY: KEY,
    LLM_MODEL: "fake-model",
    LLM_TIMEOUT_MS: "3000",
    ...extra,
  }))!;
}

/** Config for native Ollama at the fake server. */
function ollamaConfig(server: FakeLlmServer, extra: Record<string, string> = {}): LlmConfig {
  return loadLlmConfig(env({
    LLM_PROVIDER: "ollama",
    OLLAMA_URL: server.ollamaURL,
    LLM_TIMEOUT_MS: "3000",
    ...extra,
  }))!;
}

type Setup = { name: string; config: (s: FakeLlmServer, extra?: Record<string, string>) => LlmConfig };
const BOTH: Setup[] = [
  { name: "openai-compatible", config: openaiConfig },
  { name: "ollama", config: ollamaConfig },
];

/** Runs `fn` with a fresh fake server, closed afterwards. */
async function withServer(options: FakeLlmServerOptions, fn: (server: FakeLlmServer) => Promise<void>) {
  const server = await startFakeLlmServer(options);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

async function rejectsWith(promise: Promise<unknown>, check: (error: LlmError) => void): Promise<LlmError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof LlmError, `expected LlmError, got ${error}`);
    check(error);
    return error;
  }
  assert.fail("expected the call to fail");
}

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

const textOf = (chunks: ChatCompletionChunk[]) =>
  chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");

// ---------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------

Deno.test("config: no LLM_PROVIDER means no LLM (retrieval-only)", () => {
  assert.equal(loadLlmConfig(env({})), null);
  assert.equal(loadLlmConfig(env({ LLM_PROVIDER: "  ", LLM_API_KEY: "x" })), null);
});

Deno.test("config: presets fill base URL, default model and the provider's key variable", () => {
  const openai = loadLlmConfig(env({ LLM_PROVIDER: "openai", OPENAI_API_KEY: "sk-o" }))!;
  assert.equal(openai.kind, "openai");
  assert.equal(openai.baseURL, "https://api.openai.com/v1");
  assert.equal(openai.defaultModel, "gpt-4o-mini");
  assert.deepEqual(openai.allowedModels, ["gpt-4o-mini"]);
  assert.equal(openai.apiKey, "sk-o");
  assert.equal(openai.apiKeyEnv, "OPENAI_API_KEY");
  assert.equal(openai.timeoutMs, 60_000);
  assert.equal(openai.maxRetries, 2);
  assert.equal(openai.totalTimeoutMs, 140_000, "under the hosted 150 s request limit");

  const groq = loadLlmConfig(env({ LLM_PROVIDER: "groq", GROQ_API_KEY: "g", LLM_API_KEY: "generic" }))!;
  assert.equal(groq.baseURL, "https://api.groq.com/openai/v1");
  assert.equal(groq.defaultModel, "llama-3.1-8b-instant");
  assert.equal(groq.apiKey, "generic", "LLM_API_KEY wins over the provider's variable");

  const xai = loadLlmConfig(env({ LLM_PROVIDER: "XAI", XAI_API_KEY: "x" }))!;
  assert.equal(xai.baseURL, "https://api.x.ai/v1");
  const router = loadLlmConfig(env({ LLM_PROVIDER: "openrouter", OPENROUTER_API_KEY: "r" }))!;
  assert.equal(router.baseURL, "https://openrouter.ai/api/v1");
});

Deno.test("config: Ollama needs no key, defaults to codellama, native API at OLLAMA_URL", () => {
  const plain = loadLlmConfig(env({ LLM_PROVIDER: "ollama" }))!;
  assert.equal(plain.kind, "ollama");
  assert.equal(plain.baseURL, "http://localhost:11434");
  assert.equal(plain.defaultModel, "codellama");
  assert.equal(plain.apiKey, null);

  const custom = loadLlmConfig(env({ LLM_PROVIDER: "ollama", OLLAMA_URL: "http://ollama:11434/" }))!;
  assert.equal(custom.baseURL, "http://ollama:11434");

  const viaV1 = loadLlmConfig(env({ LLM_PROVIDER: "ollama", LLM_BASE_URL: "http://ollama:11434/v1" }))!;
  assert.equal(viaV1.kind, "openai", "a /v1 base URL means Ollama's OpenAI-compatible API");
  assert.equal(viaV1.baseURL, "http://ollama:11434/v1");

  const openaiMode = loadLlmConfig(env({ LLM_PROVIDER: "ollama", OLLAMA_API: "openai" }))!;
  assert.equal(openaiMode.kind, "openai");
  assert.equal(openaiMode.baseURL, "http://localhost:11434/v1");

  const forcedNative = loadLlmConfig(
    env({ LLM_PROVIDER: "ollama", OLLAMA_API: "native", LLM_BASE_URL: "http://o:1/v1" }),
  )!;
  assert.equal(forcedNative.kind, "ollama");
  assert.equal(forcedNative.baseURL, "http://o:1");
});

Deno.test("config: validation errors name the variable and the allowed values", () => {
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "anthropic" })),
    (e: unknown) =>
      e instanceof LlmConfigError && e.variable === "LLM_PROVIDER" &&
      e.message.includes("ollama, openai, xai, groq, openrouter, openai-compatible"),
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "openai-compatible", LLM_MODEL: "m" })),
    (e: unknown) => e instanceof LlmConfigError && /LLM_BASE_URL is required/.test(e.message),
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "openai-compatible", LLM_BASE_URL: "http://vllm:8000/v1" })),
    (e: unknown) => e instanceof LlmConfigError && /LLM_MODEL is required/.test(e.message),
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "openai" })),
    (e: unknown) => e instanceof LlmConfigError && e.message.includes("LLM_API_KEY or OPENAI_API_KEY"),
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "groq" })),
    (e: unknown) => e instanceof LlmConfigError && e.message.includes("GROQ_API_KEY"),
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "openai-compatible", LLM_BASE_URL: "file:///etc/passwd" })),
    (e: unknown) => e instanceof LlmConfigError && e.variable === "LLM_BASE_URL",
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "ollama", LLM_TIMEOUT_MS: "soon" })),
    (e: unknown) => e instanceof LlmConfigError && e.variable === "LLM_TIMEOUT_MS",
  );
  for (const total of ["150001", "0", "2.5", "soon"]) {
    assert.throws(
      () => loadLlmConfig(env({ LLM_PROVIDER: "ollama", LLM_TOTAL_TIMEOUT_MS: total })),
      (e: unknown) =>
        e instanceof LlmConfigError && e.variable === "LLM_TOTAL_TIMEOUT_MS" && e.message.includes("150000"),
      `LLM_TOTAL_TIMEOUT_MS=${total}`,
    );
  }
  assert.equal(
    loadLlmConfig(env({ LLM_PROVIDER: "ollama", LLM_TOTAL_TIMEOUT_MS: "150000" }))!.totalTimeoutMs,
    150_000,
  );
  assert.throws(
    () => loadLlmConfig(env({ LLM_PROVIDER: "ollama", OLLAMA_API: "grpc" })),
    (e: unknown) => e instanceof LlmConfigError && e.variable === "OLLAMA_API",
  );
  // openai-compatible servers without auth are fine
  const local = loadLlmConfig(
    env({ LLM_PROVIDER: "openai-compatible", LLM_BASE_URL: "http://vllm:8000/v1/", LLM_MODEL: "m" }),
  )!;
  assert.equal(local.apiKey, null);
  assert.equal(local.baseURL, "http://vllm:8000/v1");
});

Deno.test("config: allow-list and resolveModel", () => {
  const config = loadLlmConfig(env({
    LLM_PROVIDER: "ollama",
    LLM_MODEL: "codellama",
    LLM_ALLOWED_MODELS: " qwen2.5-coder:7b, llama3.2 ,,codellama",
  }))!;
  assert.deepEqual(config.allowedModels, ["codellama", "qwen2.5-coder:7b", "llama3.2"]);
  assert.equal(resolveModel(config), "codellama");
  assert.equal(resolveModel(config, ""), "codellama");
  assert.equal(resolveModel(config, "llama3.2"), "llama3.2");
  assert.throws(
    () => resolveModel(config, "gpt-4o"),
    (e: unknown) =>
      e instanceof ModelNotAllowedError && e.status === 400 && e.requested === "gpt-4o" &&
      e.message.includes("codellama, qwen2.5-coder:7b, llama3.2"),
  );
  const single = loadLlmConfig(env({ LLM_PROVIDER: "ollama", LLM_MODEL: "llama3.2" }))!;
  assert.deepEqual(single.allowedModels, ["llama3.2"], "without LLM_ALLOWED_MODELS only LLM_MODEL");
});

Deno.test("config: describeLlmConfig never contains the key", () => {
  const config = loadLlmConfig(env({ LLM_PROVIDER: "openai", OPENAI_API_KEY: "sk-secret" }))!;
  const described = describeLlmConfig(config);
  assert.equal(described.hasApiKey, true);
  assert.ok(!JSON.stringify(described).includes("sk-secret"));
});

// ---------------------------------------------------------------------------------------------------
// OpenAI-compatible
// ---------------------------------------------------------------------------------------------------

Deno.test("openai: non-streaming chat, key sent as bearer, options passed", async () => {
  await withServer({ reply: "Add an index on user_id.", apiKey: KEY }, async (server) => {
    const llm = createLlm(openaiConfig(server));
    const result = await llm.chat({ messages: USER, temperature: 0.2, top_p: 0.9, max_tokens: 50, seed: 7 });
    assert.equal(result.text, "Add an index on user_id.");
    assert.equal(result.model, "fake-model");
    assert.equal(result.provider, "openai-compatible");
    assert.equal(result.finish_reason, "stop");
    assert.deepEqual(result.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
    assert.ok(result.latency_ms >= 0);

    const [request] = server.inferenceRequests();
    assert.equal(request.path, "/v1/chat/completions");
    assert.equal(request.headers.authorization, `Bearer ${KEY}`);
    const body = request.body as Record<string, unknown>;
    assert.equal(body.model, "fake-model");
    assert.equal(body.temperature, 0.2);
    assert.equal(body.top_p, 0.9);
    assert.equal(body.max_tokens, 50);
    assert.equal(body.seed, 7);
    assert.equal(body.stream, undefined);
    assert.deepEqual(body.messages, USER);

    const completion = toChatCompletion(result);
    assert.equal(completion.object, "chat.completion");
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(typeof completion.created, "number");
    assert.deepEqual(completion.choices, [{
      index: 0,
      message: { role: "assistant", content: "Add an index on user_id.", refusal: null },
      logprobs: null,
      finish_reason: "stop",
    }]);
    assert.deepEqual(completion.usage, result.usage);
  });
});

Deno.test("openai: the openai preset sends max_completion_tokens; truncation reports length", async () => {
  await withServer({ reply: "one two three four five" }, async (server) => {
    const config = loadLlmConfig(
      env({ LLM_PROVIDER: "openai", OPENAI_API_KEY: KEY, LLM_BASE_URL: server.openaiBaseURL }),
    )!;
    const result = await createLlm(config).chat({ messages: USER, max_tokens: 2 });
    assert.equal(result.text, "one two ");
    assert.equal(result.finish_reason, "length");
    const body = server.inferenceRequests()[0].body as Record<string, unknown>;
    assert.equal(body.max_completion_tokens, 2);
    assert.equal(body.max_tokens, undefined);
    assert.equal(body.model, "gpt-4o-mini");
  });
});

Deno.test("openai: streaming yields chunks as they arrive, usage in the last one", async () => {
  await withServer({ reply: "Use EXPLAIN ANALYZE first", apiKey: KEY, chunkDelayMs: 60 }, async (server) => {
    const llm = createLlm(openaiConfig(server));
    const stream = await llm.stream({ messages: USER, temperature: 0 });
    const arrivals: number[] = [];
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      arrivals.push(performance.now());
      chunks.push(chunk);
    }
    assert.equal(textOf(chunks), "Use EXPLAIN ANALYZE first");
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk"));
    assert.ok(arrivals.at(-1)! - arrivals[0] >= 200, "chunks must arrive over time, not all at once");
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    assert.equal(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason, "stop");

    const result = await stream.result();
    assert.equal(result.text, "Use EXPLAIN ANALYZE first");
    assert.deepEqual(result.usage, { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });
    assert.equal(result.finish_reason, "stop");
    assert.ok(result.ttft_ms !== undefined && result.ttft_ms <= result.latency_ms);
    assert.ok(result.latency_ms >= 200);

    const body = server.inferenceRequests()[0].body as Record<string, unknown>;
    assert.equal(body.stream, true);
    assert.deepEqual(body.stream_options, { include_usage: true });
    assert.equal(server.inferenceRequests()[0].headers.authorization, `Bearer ${KEY}`);
  });
});

Deno.test("openai: result() asked for before iterating; drainLlmStream() consumes a stream", async () => {
  await withServer({ reply: "drained text" }, async (server) => {
    const llm = createLlm(openaiConfig(server));
    const early = await llm.stream({ messages: USER });
    const pending = early.result();
    assert.equal(textOf(await collect(early)), "drained text");
    assert.equal((await pending).text, "drained text");

    const stream = await llm.stream({ messages: USER });
    const result = await drainLlmStream(stream);
    assert.equal(result.text, "drained text");
    assert.equal(result.usage.completion_tokens, 2);
  });
});

Deno.test("openai: generate() is a [system, user] chat for OpenAI-kind providers", async () => {
  await withServer({ reply: (r) => `${r.messages.length} messages` }, async (server) => {
    const llm = createLlm(openaiConfig(server));
    const result = await llm.generate({ prompt: "count rows", system: "SQL only" });
    assert.equal(result.text, "2 messages");
    assert.deepEqual((server.inferenceRequests()[0].body as { messages: unknown }).messages, [
      { role: "system", content: "SQL only" },
      { role: "user", content: "count rows" },
    ]);
    const streamed = await drainLlmStream(await llm.generateStream({ prompt: "count rows" }));
    assert.equal(streamed.text, "1 messages");
  });
});

Deno.test("openai: no key configured means no Authorization header", async () => {
  await withServer({}, async (server) => {
    const config = loadLlmConfig(env({
      LLM_PROVIDER: "openai-compatible",
      LLM_BASE_URL: server.openaiBaseURL,
      LLM_MODEL: "local",
    }))!;
    await createLlm(config).chat({ messages: USER });
    assert.equal(server.inferenceRequests()[0].headers.authorization, undefined);
  });
});

// ---------------------------------------------------------------------------------------------------
// Ollama native
// ---------------------------------------------------------------------------------------------------

Deno.test("ollama: /api/chat non-streaming, options mapped, usage from eval counts", async () => {
  await withServer({ reply: "Rewrite the subquery as a join." }, async (server) => {
    const llm = createLlm(ollamaConfig(server));
    assert.equal(llm.kind, "ollama");
    const result = await llm.chat({
      messages: [{ role: "system", content: "Be brief." }, ...USER],
      temperature: 0.1,
      top_p: 0.5,
      max_tokens: 100,
      stop: ["```"],
      ollamaOptions: { num_ctx: 4096 },
    });
    assert.equal(result.text, "Rewrite the subquery as a join.");
    assert.equal(result.model, "codellama");
    assert.equal(result.provider, "ollama");
    assert.deepEqual(result.usage, { prompt_tokens: 7, completion_tokens: 6, total_tokens: 13 });
    assert.equal((result.raw as { done: boolean }).done, true);

    const [request] = server.inferenceRequests();
    assert.equal(request.path, "/api/chat");
    assert.equal(request.headers.authorization, undefined);
    const body = request.body as Record<string, unknown>;
    assert.equal(body.stream, false);
    assert.equal(body.model, "codellama");
    assert.deepEqual(body.options, {
      num_ctx: 4096,
      temperature: 0.1,
      top_p: 0.5,
      num_predict: 100,
      stop: ["```"],
    });
  });
});

Deno.test("ollama: /api/generate non-streaming and streaming", async () => {
  await withServer({ reply: (r) => `echo: ${r.prompt}` }, async (server) => {
    const llm = createLlm(ollamaConfig(server));
    const result = await llm.generate({ prompt: "count rows", system: "SQL only", temperature: 0.3 });
    assert.equal(result.text, "echo: count rows");
    assert.deepEqual(result.usage, { prompt_tokens: 4, completion_tokens: 3, total_tokens: 7 });

    const stream = await llm.generateStream({ prompt: "count rows" });
    const chunks = await collect(stream);
    assert.equal(textOf(chunks), "echo: count rows");
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });

    const [first, second] = server.inferenceRequests();
    assert.equal(first.path, "/api/generate");
    assert.deepEqual(first.body, {
      model: "codellama",
      prompt: "count rows",
      system: "SQL only",
      stream: false,
      options: { temperature: 0.3 },
    });
    assert.equal((second.body as { stream: boolean }).stream, true);
  });
});

Deno.test("ollama: NDJSON stream mapped to OpenAI chunks with usage at the end", async () => {
  await withServer({ reply: "Vacuum the table now", chunkDelayMs: 50 }, async (server) => {
    const llm = createLlm(ollamaConfig(server, { LLM_ALLOWED_MODELS: "llama3.2" }));
    const stream = await llm.stream({ messages: USER, model: "llama3.2", temperature: 0.7, top_p: 0.8 });
    const arrivals: number[] = [];
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      arrivals.push(performance.now());
      chunks.push(chunk);
    }
    assert.ok(arrivals.at(-1)! - arrivals[0] >= 120, "chunks must arrive over time");
    assert.equal(textOf(chunks), "Vacuum the table now");
    assert.equal(chunks[0].choices[0].delta.role, "assistant");
    assert.ok(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "llama3.2"));
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, "one id for the whole stream");
    assert.equal(chunks.at(-2)!.choices[0].finish_reason, "stop");
    assert.deepEqual(chunks.at(-1)!.choices, []);
    assert.deepEqual(chunks.at(-1)!.usage, { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 });

    const result = await stream.result();
    assert.equal(result.text, "Vacuum the table now");
    assert.equal(result.model, "llama3.2");
    assert.equal(result.usage.total_tokens, 9);

    const body = server.inferenceRequests()[0].body as Record<string, unknown>;
    assert.equal(body.stream, true);
    assert.deepEqual(body.options, { temperature: 0.7, top_p: 0.8 });
  });
});

Deno.test("ollama: a configured key is sent as bearer (Ollama behind a proxy)", async () => {
  await withServer({ apiKey: KEY }, async (server) => {
    const result = await createLlm(ollamaConfig(server, { LLM_API_KEY: KEY })).chat({ messages: USER });
    assert.ok(result.text.length > 0);
    assert.equal(server.inferenceRequests()[0].headers.authorization, `Bearer ${KEY}`);
  });
});

// ---------------------------------------------------------------------------------------------------
// Retries, errors, timeouts
// ---------------------------------------------------------------------------------------------------

for (const setup of BOTH) {
  Deno.test(`${setup.name}: 429 with Retry-After: 0 is retried, then succeeds`, async () => {
    await withServer({ reply: "ok then" }, async (server) => {
      server.failNext({ status: 429, retryAfter: 0 });
      const result = await createLlm(setup.config(server)).chat({ messages: USER });
      assert.equal(result.text, "ok then");
      assert.equal(server.inferenceRequests().length, 2);
      // How soon the retry comes is a figure, not a test: bench/llm_retries.ts prints it.
    });
  });

  Deno.test(`${setup.name}: Retry-After is honoured`, async () => {
    await withServer({}, async (server) => {
      server.failNext({ status: 429, retryAfter: 1 });
      const started = performance.now();
      await createLlm(setup.config(server)).chat({ messages: USER });
      const elapsed = performance.now() - started;
      assert.equal(server.inferenceRequests().length, 2);
      assert.ok(elapsed >= 950, `waited ${elapsed} ms, expected about 1000`);
    });
  });

  Deno.test(`${setup.name}: 500s back off exponentially, then LlmError with the provider's reason`, async () => {
    await withServer({}, async (server) => {
      server.failNext({ status: 500, times: 3, message: "CUDA out of memory" });
      const error = await rejectsWith(createLlm(setup.config(server)).chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "upstream");
        assert.equal(e.status, 500);
        assert.equal(e.retryable, true);
        assert.equal(e.message, "CUDA out of memory");
        assert.equal(e.httpStatus, 502);
      });
      const times = server.inferenceRequests().map((r) => r.at);
      assert.equal(times.length, 3, "1 attempt + 2 retries");
      // backoff 0.5 s then 1 s, each with up to 25 % jitter off
      assert.ok(times[1] - times[0] >= 350, `first wait ${times[1] - times[0]} ms`);
      assert.ok(times[2] - times[1] >= 700, `second wait ${times[2] - times[1]} ms`);
      assert.equal(error.toJSON().error.message, "CUDA out of memory");
      const bodies = server.inferenceRequests().map((r) => r.rawBody);
      assert.ok(bodies.every((b) => b === bodies[0]), "every retry sends the same request");
    });
  });

  Deno.test(`${setup.name}: 401 is not retried`, async () => {
    await withServer({ apiKey: "the-right-key" }, async (server) => {
      const config = setup.config(server, { LLM_API_KEY: "a-wrong-key" });
      await rejectsWith(createLlm(config).chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "upstream");
        assert.equal(e.status, 401);
        assert.equal(e.retryable, false);
        assert.match(e.message, /Incorrect API key|unauthorized/);
        assert.ok(!e.message.includes("a-wrong-key"));
      });
      assert.equal(server.inferenceRequests().length, 1);
    });
  });

  Deno.test(`${setup.name}: unknown model upstream is a 404 with the provider's message`, async () => {
    await withServer({ models: ["other"] }, async (server) => {
      await rejectsWith(createLlm(setup.config(server)).chat({ messages: USER }), (e) => {
        assert.equal(e.status, 404);
        assert.equal(e.retryable, false);
        assert.match(e.message, /not found|does not exist/);
      });
    });
  });

  Deno.test(`${setup.name}: a stalled provider times out (kind timeout)`, async () => {
    await withServer({}, async (server) => {
      server.stallNext({ ms: 1500 });
      const llm = createLlm(setup.config(server, { LLM_TIMEOUT_MS: "200", LLM_MAX_RETRIES: "0" }));
      const started = performance.now();
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "timeout");
        assert.equal(e.status, null);
        assert.equal(e.retryable, true);
        assert.equal(e.httpStatus, 504);
      });
      // Not before the timeout (kind "timeout" says it did not wait for the stalled answer).
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 190, `timed out after ${elapsed} ms`);
    });
  });

  Deno.test(`${setup.name}: a timeout is retried`, async () => {
    await withServer({ reply: "second try" }, async (server) => {
      server.stallNext({ ms: 1500 });
      const llm = createLlm(setup.config(server, { LLM_TIMEOUT_MS: "200", LLM_MAX_RETRIES: "1" }));
      const result = await llm.chat({ messages: USER });
      assert.equal(result.text, "second try");
      assert.equal(server.inferenceRequests().length, 2);
    });
  });

  Deno.test(`${setup.name}: connection refused (kind connection, retried)`, async () => {
    const gone = await startFakeLlmServer();
    await gone.close();
    const llm = createLlm(setup.config(gone, { LLM_MAX_RETRIES: "1" }));
    const started = performance.now();
    await rejectsWith(llm.chat({ messages: USER }), (e) => {
      assert.equal(e.kind, "connection");
      assert.equal(e.status, null);
      assert.equal(e.retryable, true);
      assert.equal(e.httpStatus, 502);
    });
    assert.ok(performance.now() - started >= 350, "one backoff wait before giving up");
  });

  for (const mode of ["close", "reset"] as const) {
    Deno.test(`${setup.name}: a stream cut off upstream (${mode}) throws stream_interrupted`, async () => {
      await withServer({ reply: "one two three four five six" }, async (server) => {
        server.cutNextStream({ afterChunks: 3, mode });
        const stream = await createLlm(setup.config(server)).stream({ messages: USER });
        const received: ChatCompletionChunk[] = [];
        await rejectsWith(
          (async () => {
            for await (const chunk of stream) received.push(chunk);
          })(),
          (e) => {
            assert.equal(e.kind, "stream_interrupted");
            assert.equal(e.httpStatus, 502);
          },
        );
        assert.ok(received.length >= 2, "the chunks before the cut were delivered");
        assert.ok(!received.some((c) => c.usage), "no usage: it never finished");
        await rejectsWith(stream.result(), (e) => assert.equal(e.kind, "stream_interrupted"));
      });
    });
  }

  Deno.test(`${setup.name}: an error frame inside a stream throws the provider's message`, async () => {
    await withServer({}, async (server) => {
      server.cutNextStream({ afterChunks: 2, mode: "error", message: "model runner crashed" });
      const stream = await createLlm(setup.config(server)).stream({ messages: USER });
      await rejectsWith(drainLlmStream(stream), (e) => {
        assert.equal(e.kind, "upstream");
        assert.equal(e.message, "model runner crashed");
      });
    });
  });

  Deno.test(`${setup.name}: a stream that goes silent hits the idle timeout`, async () => {
    await withServer({}, async (server) => {
      server.stallNext({ ms: 1500, afterChunks: 2 });
      const llm = createLlm(setup.config(server, { LLM_TIMEOUT_MS: "250" }));
      const stream = await llm.stream({ messages: USER });
      await rejectsWith(collect(stream), (e) => assert.equal(e.kind, "timeout"));
    });
  });

  Deno.test(`${setup.name}: 503 while opening a stream is retried`, async () => {
    await withServer({ reply: "streamed after retry" }, async (server) => {
      server.failNext({ status: 503, retryAfter: 0 });
      const stream = await createLlm(setup.config(server)).stream({ messages: USER });
      assert.equal((await drainLlmStream(stream)).text, "streamed after retry");
      assert.equal(server.inferenceRequests().length, 2);
    });
  });

  Deno.test(`${setup.name}: the caller's signal aborts (kind aborted), cancel() stops a stream`, async () => {
    await withServer({ chunkDelayMs: 100, reply: "a b c d e f g h" }, async (server) => {
      const llm = createLlm(setup.config(server));
      server.stallNext({ ms: 1000 });
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      await rejectsWith(llm.chat({ messages: USER, signal: controller.signal }), (e) => {
        assert.equal(e.kind, "aborted");
        assert.equal(e.retryable, false);
      });

      const stream = await llm.stream({ messages: USER });
      const chunks: ChatCompletionChunk[] = [];
      await rejectsWith(
        (async () => {
          for await (const chunk of stream) {
            chunks.push(chunk);
            if (chunks.length === 2) void stream.cancel();
          }
        })(),
        (e) => assert.equal(e.kind, "aborted"),
      );
      assert.ok(chunks.length < 6);
    });
  });

  Deno.test(`${setup.name}: breaking out of a stream closes it`, async () => {
    await withServer({ chunkDelayMs: 20, reply: "a b c d e f g h" }, async (server) => {
      const stream = await createLlm(setup.config(server)).stream({ messages: USER });
      for await (const _ of stream) break;
      await rejectsWith(stream.result(), (e) => assert.equal(e.kind, "aborted"));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// HTTP details: headers, Retry-After variants, x-should-retry, error bodies
// ---------------------------------------------------------------------------------------------------

for (const setup of BOTH) {
  const label = setup.name === "ollama" ? "Ollama" : "openai-compatible";

  Deno.test(`${setup.name}: without a key no Authorization header, and the SDK's variables are ignored`, async () => {
    const decoyHits: string[] = [];
    const decoy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
      decoyHits.push(req.url);
      return new Response("decoy", { status: 500 });
    });
    const planted = {
      OPENAI_API_KEY: "sk-from-the-environment",
      OPENAI_BASE_URL: `http://127.0.0.1:${decoy.addr.port}/v1`,
      OPENAI_ORG_ID: "org-planted",
      OPENAI_PROJECT_ID: "proj-planted",
    };
    const before = Object.fromEntries(Object.keys(planted).map((k) => [k, Deno.env.get(k)]));
    try {
      for (const [k, v] of Object.entries(planted)) Deno.env.set(k, v);
      await withServer({}, async (server) => {
        const llm = createLlm(setup.config(server, { LLM_API_KEY: "" }));
        await llm.chat({ messages: USER });
        await drainLlmStream(await llm.stream({ messages: USER }));
        const requests = server.inferenceRequests();
        assert.equal(requests.length, 2);
        for (const request of requests) {
          assert.equal(request.headers.authorization, undefined);
          const names = Object.keys(request.headers);
          assert.deepEqual(names.filter((n) => /^(openai-|x-stainless)/.test(n)), [], names.join(", "));
          assert.ok(!JSON.stringify(request.headers).includes("planted"));
          assert.ok(!JSON.stringify(request.headers).includes("sk-from-the-environment"));
        }
      });
      assert.deepEqual(decoyHits, [], "OPENAI_BASE_URL must not redirect anything");
    } finally {
      for (const [k, v] of Object.entries(before)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      await decoy.shutdown();
    }
  });

  Deno.test(`${setup.name}: a configured key is sent as Bearer on every attempt, JSON and stream`, async () => {
    await withServer({ apiKey: KEY, reply: "keyed" }, async (server) => {
      const llm = createLlm(setup.config(server, { LLM_API_KEY: KEY }));
      server.failNext({ status: 503, retryAfter: 0 });
      assert.equal((await llm.chat({ messages: USER })).text, "keyed");
      server.failNext({ status: 503, retryAfter: 0 });
      assert.equal((await drainLlmStream(await llm.stream({ messages: USER }))).text, "keyed");
      const auth = server.inferenceRequests().map((r) => r.headers.authorization);
      assert.deepEqual(auth, Array(4).fill(`Bearer ${KEY}`));
    });
  });

  Deno.test(`${setup.name}: retry-after-ms is obeyed, and before Retry-After`, async () => {
    await withServer({}, async (server) => {
      server.failNext({ status: 429, headers: { "retry-after-ms": "600" } });
      await createLlm(setup.config(server)).chat({ messages: USER });
      const [first, second] = server.inferenceRequests().map((r) => r.at);
      assert.ok(second - first >= 550, `waited ${second - first} ms, expected about 600`);

      // Retry-After: 30 would not fit the 5 s deadline, so only retry-after-ms lets this succeed.
      server.reset().failNext({ status: 429, retryAfter: 30, headers: { "retry-after-ms": "10" } });
      await createLlm(setup.config(server, { LLM_TOTAL_TIMEOUT_MS: "5000" })).chat({ messages: USER });
      assert.equal(server.inferenceRequests().length, 2);
    });
  });

  Deno.test(`${setup.name}: a Retry-After over 60 s falls back to the backoff`, async () => {
    await withServer({ reply: "after backoff" }, async (server) => {
      server.failNext({ status: 429, retryAfter: 120 });
      // Obeying 120 s would not fit the 5 s deadline: the call would fail with the 429.
      const llm = createLlm(setup.config(server, { LLM_TOTAL_TIMEOUT_MS: "5000" }));
      assert.equal((await llm.chat({ messages: USER })).text, "after backoff");
      assert.equal(server.inferenceRequests().length, 2);
    });
  });

  Deno.test(`${setup.name}: x-should-retry overrides the status rule both ways`, async () => {
    await withServer({ reply: "retried" }, async (server) => {
      const llm = createLlm(setup.config(server));
      server.failNext({ status: 400, retryAfter: 0, headers: { "x-should-retry": "true" } });
      assert.equal((await llm.chat({ messages: USER })).text, "retried");
      assert.equal(server.inferenceRequests().length, 2);

      server.reset().failNext({
        status: 503,
        message: "not this time",
        headers: { "x-should-retry": "false" },
      });
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.status, 503);
        assert.equal(e.retryable, false);
        assert.equal(e.message, "not this time");
      });
      assert.equal(server.inferenceRequests().length, 1);
    });
  });

  Deno.test(`${setup.name}: a non-JSON error body is the reason; an empty one names the status`, async () => {
    await withServer({}, async (server) => {
      server.failNext({
        status: 502,
        rawBody: "<html><body>502 Bad Gateway (proxy)</body></html>",
        times: 3,
      });
      await rejectsWith(createLlm(setup.config(server)).chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "upstream");
        assert.equal(e.status, 502);
        assert.equal(e.retryable, true);
        assert.match(e.message, /502 Bad Gateway \(proxy\)/);
      });
      assert.equal(server.inferenceRequests().length, 3);

      server.reset().failNext({ status: 500, rawBody: "" });
      const llm = createLlm(setup.config(server, { LLM_MAX_RETRIES: "0" }));
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.status, 500);
        assert.equal(e.message, `${label} answered HTTP 500`);
      });
    });
  });
}

/**
 * A server answering every POST with `body` as-is (status 200, the given content type); `ports()` are
 * the client ports the requests came from (one per connection).
 */
async function withRawServer(
  body: string,
  contentType: string,
  fn: (baseURL: string, hits: () => number, ports: () => number[]) => Promise<void>,
) {
  const ports: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req, info) => {
    await req.body?.cancel();
    ports.push(info.remoteAddr.port);
    // The body, then its end a moment later (as a provider's end follows its last event).
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        setTimeout(() => {
          try {
            controller.close();
          } catch { /* the client cancelled the body first (it had what it needed) */ }
        }, 0);
      },
    });
    return new Response(stream, { headers: { "content-type": contentType } });
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}/v1`, () => ports.length, () => [...ports]);
  } finally {
    await server.shutdown();
  }
}

function rawConfig(baseURL: string): LlmConfig {
  return loadLlmConfig(env({
    LLM_PROVIDER: "openai-compatible",
    LLM_BASE_URL: baseURL,
    LLM_MODEL: "m",
    LLM_TIMEOUT_MS: "3000",
  }))!;
}

const sseChunk = (content: string) =>
  JSON.stringify({
    id: "chatcmpl-raw",
    object: "chat.completion.chunk",
    created: 1,
    model: "m",
    choices: [{ index: 0, delta: { content }, finish_reason: null }],
  });

Deno.test("openai SSE: keep-alive comments, CRLF, data: without a space, multi-line data, [DONE] at EOF", async () => {
  const [head, tail] = [sseChunk("Hello"), sseChunk(" world")];
  const split = tail.indexOf(",");
  const body = ": OPENROUTER PROCESSING\r\n\r\n" +
    `event: message\r\ndata:${head}\r\n\r\n` +
    `data: ${tail.slice(0, split + 1)}\ndata: ${tail.slice(split + 1)}\n\n` +
    ": keep-alive\n\n" +
    "data: [DONE]"; // no blank line after the last event
  await withRawServer(body, "text/event-stream", async (baseURL) => {
    const result = await drainLlmStream(await createLlm(rawConfig(baseURL)).stream({ messages: USER }));
    assert.equal(result.text, "Hello world");
  });
});

Deno.test("openai SSE: a mid-stream error frame with a numeric code (OpenRouter's shape) keeps that status", async () => {
  const body = `data: ${sseChunk("partial")}\n\n` +
    `data: ${JSON.stringify({ error: { code: 429, message: "Provider returned error" } })}\n\n` +
    "data: [DONE]\n\n";
  await withRawServer(body, "text/event-stream", async (baseURL) => {
    const stream = await createLlm(rawConfig(baseURL)).stream({ messages: USER });
    const received: ChatCompletionChunk[] = [];
    await rejectsWith(
      (async () => {
        for await (const chunk of stream) received.push(chunk);
      })(),
      (e) => {
        assert.equal(e.kind, "upstream");
        assert.equal(e.status, 429);
        assert.equal(e.message, "Provider returned error");
      },
    );
    assert.equal(textOf(received), "partial");
  });
});

Deno.test("a stream read to its terminator leaves the connection to the next call (SSE and NDJSON)", async () => {
  const sse = `data: ${sseChunk("one")}\n\ndata: [DONE]\n\n`;
  await withRawServer(sse, "text/event-stream", async (baseURL, _, ports) => {
    const llm = createLlm(rawConfig(baseURL));
    for (let i = 0; i < 5; i++) {
      assert.equal((await drainLlmStream(await llm.stream({ messages: USER }))).text, "one");
    }
    assert.ok(new Set(ports()).size < 5, `5 streams, 5 connections: ports ${ports()}`);
  });
  const ndjson = JSON.stringify({ model: "m", message: { role: "assistant", content: "two" }, done: false }) +
    "\n" + JSON.stringify({ model: "m", message: { role: "assistant", content: "" }, done: true }) + "\n";
  await withRawServer(ndjson, "application/x-ndjson", async (baseURL, _, ports) => {
    const llm = createLlm(
      loadLlmConfig(
        env({ LLM_PROVIDER: "ollama", OLLAMA_URL: baseURL.replace(/\/v1$/, ""), LLM_MODEL: "m" }),
      )!,
    );
    for (let i = 0; i < 5; i++) {
      assert.equal((await drainLlmStream(await llm.stream({ messages: USER }))).text, "two");
    }
    assert.ok(new Set(ports()).size < 5, `5 streams, 5 connections: ports ${ports()}`);
  });
});

Deno.test("openai JSON: a 200 answer that is not JSON is an upstream error, not retried", async () => {
  await withRawServer("<html>captive portal</html>", "text/html", async (baseURL, hits) => {
    await rejectsWith(createLlm(rawConfig(baseURL)).chat({ messages: USER }), (e) => {
      assert.equal(e.kind, "upstream");
      assert.equal(e.retryable, false);
      assert.match(e.message, /^unreadable answer from openai-compatible/);
    });
    assert.equal(hits(), 1);
  });
});

// ---------------------------------------------------------------------------------------------------
// The deadline of a whole call (LLM_TOTAL_TIMEOUT_MS)
// ---------------------------------------------------------------------------------------------------

for (const setup of BOTH) {
  Deno.test(`${setup.name}: a provider that stalls every attempt: no retry starts that the deadline cannot fit`, async () => {
    await withServer({}, async (server) => {
      server.stallNext({ ms: 10_000, times: 20 });
      const llm = createLlm(
        setup.config(server, { LLM_TIMEOUT_MS: "200", LLM_MAX_RETRIES: "10", LLM_TOTAL_TIMEOUT_MS: "1500" }),
      );
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "timeout");
        assert.equal(e.httpStatus, 504);
        assert.match(e.message, /did not answer within 200 ms \(attempt 2 of 11\)/);
      });
      // attempt 1 (200 ms), a wait of 375-500 ms, attempt 2 (200 ms): from then on the next wait
      // (750-1000 ms) would pass the 1500 ms deadline, so 9 of the 11 allowed attempts never start.
      assert.equal(server.inferenceRequests().length, 2);
    });
  });

  Deno.test(`${setup.name}: an attempt gets no more than the time left of LLM_TOTAL_TIMEOUT_MS`, async () => {
    await withServer({ reply: "too late" }, async (server) => {
      server.stallNext({ ms: 4_000 }); // answers after 4 s: within LLM_TIMEOUT_MS, past the deadline
      const llm = createLlm(setup.config(server, { LLM_TIMEOUT_MS: "60000", LLM_TOTAL_TIMEOUT_MS: "500" }));
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.kind, "timeout");
        assert.equal(e.retryable, true);
        assert.match(e.message, /LLM_TOTAL_TIMEOUT_MS/);
      });
      assert.equal(server.inferenceRequests().length, 1, "no retry: nothing was left of the deadline");

      server.reset().stallNext({ ms: 4_000 });
      await rejectsWith(llm.stream({ messages: USER }), (e) => assert.equal(e.kind, "timeout"));
      assert.equal(server.inferenceRequests().length, 1);
    });
  });

  Deno.test(`${setup.name}: a Retry-After longer than the time left ends the call with the 429`, async () => {
    await withServer({}, async (server) => {
      server.failNext({ status: 429, retryAfter: 5, message: "slow down" });
      const llm = createLlm(setup.config(server, { LLM_TOTAL_TIMEOUT_MS: "1000" }));
      await rejectsWith(llm.chat({ messages: USER }), (e) => {
        assert.equal(e.status, 429);
        assert.equal(e.httpStatus, 429);
        assert.equal(e.retryAfterMs, 5000, "passed on so the function can answer Retry-After");
        assert.equal(e.message, "slow down");
      });
      assert.equal(server.inferenceRequests().length, 1);
    });
  });

  Deno.test(`${setup.name}: a stream still flowing at the deadline ends with a timeout`, async () => {
    await withServer({ reply: Array(40).fill("word").join(" "), chunkDelayMs: 100 }, async (server) => {
      const llm = createLlm(setup.config(server, { LLM_TIMEOUT_MS: "3000", LLM_TOTAL_TIMEOUT_MS: "800" }));
      const stream = await llm.stream({ messages: USER });
      const received: ChatCompletionChunk[] = [];
      await rejectsWith(
        (async () => {
          for await (const chunk of stream) received.push(chunk);
        })(),
        (e) => {
          assert.equal(e.kind, "timeout");
          assert.equal(e.httpStatus, 504);
          assert.match(e.message, /deadline of 800 ms \(LLM_TOTAL_TIMEOUT_MS\) while streaming/);
        },
      );
      assert.ok(received.length >= 1, "the chunks before the deadline were delivered");
      assert.ok(!received.some((c) => c.usage), "no usage: it never finished");
      await rejectsWith(stream.result(), (e) => assert.equal(e.kind, "timeout"));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// Inputs a caller controls
// ---------------------------------------------------------------------------------------------------

Deno.test("allow-list: a disallowed model fails before any request, an allowed one is used", async () => {
  await withServer({}, async (server) => {
    const llm = createLlm(openaiConfig(server, { LLM_ALLOWED_MODELS: "fake-large" }));
    await assert.rejects(
      llm.chat({ messages: USER, model: "gpt-4o" }),
      (e: unknown) => e instanceof ModelNotAllowedError && e.message.includes("fake-model, fake-large"),
    );
    await assert.rejects(llm.stream({ messages: USER, model: "gpt-4o" }), ModelNotAllowedError);
    assert.equal(server.requests.length, 0);

    const result = await llm.chat({ messages: USER, model: "fake-large" });
    assert.equal(result.model, "fake-large");
    assert.equal((server.inferenceRequests()[0].body as { model: string }).model, "fake-large");
  });
});

for (const setup of BOTH) {
  Deno.test(`${setup.name}: key and URL come only from the config, never from request input`, async () => {
    await withServer({ apiKey: KEY }, async (server) => {
      const llm = createLlm(setup.config(server, { LLM_API_KEY: KEY }));
      const hostile = {
        messages: [{ role: "user", content: "hi", apiKey: "sk-evil", name: "x" }],
        apiKey: "sk-evil",
        api_key: "sk-evil",
        baseURL: "http://169.254.169.254/latest",
        headers: { Authorization: "Bearer sk-evil" },
        url: "http://169.254.169.254/",
      } as unknown as Parameters<typeof llm.chat>[0];
      await llm.chat(hostile);
      const [request] = server.inferenceRequests();
      assert.equal(request.headers.authorization, `Bearer ${KEY}`);
      assert.ok(!request.rawBody.includes("evil") && !request.rawBody.includes("169.254"));
      assert.deepEqual((request.body as { messages: unknown }).messages, [{ role: "user", content: "hi" }]);
    });
  });
}

Deno.test("messages and sampling options are validated before any request", async () => {
  await withServer({}, async (server) => {
    const llm = createLlm(ollamaConfig(server));
    await assert.rejects(llm.chat({ messages: [] }), TypeError);
    await assert.rejects(
      llm.chat({ messages: USER, temperature: "hot" } as unknown as Parameters<typeof llm.chat>[0]),
      /temperature must be a number/,
    );
    await assert.rejects(
      llm.stream({ messages: USER, stop: "x" } as unknown as Parameters<typeof llm.chat>[0]),
      /stop must be an array/,
    );
    await assert.rejects(
      llm.chat({ messages: [{ role: "tool", content: "x" }] } as unknown as Parameters<typeof llm.chat>[0]),
      TypeError,
    );
    assert.equal(server.requests.length, 0);
  });
});

// ---------------------------------------------------------------------------------------------------
// Helpers for edge functions and the fake server itself
// ---------------------------------------------------------------------------------------------------

Deno.test("sseFromLlmStream: OpenAI SSE with [DONE]; an error frame and no [DONE] on failure", async () => {
  await withServer({ reply: "hello sse" }, async (server) => {
    const llm = createLlm(ollamaConfig(server));
    const ok = await new Response(sseFromLlmStream(await llm.stream({ messages: USER }))).text();
    const events = ok.split("\n\n").filter(Boolean);
    assert.equal(events.at(-1), "data: [DONE]");
    const chunks = events.slice(0, -1).map((e) =>
      JSON.parse(e.slice("data: ".length)) as ChatCompletionChunk
    );
    assert.equal(textOf(chunks), "hello sse");
    assert.ok(chunks.at(-1)!.usage);

    server.cutNextStream({ afterChunks: 1 });
    const cut = await new Response(sseFromLlmStream(await llm.stream({ messages: USER }))).text();
    assert.ok(!cut.includes("[DONE]"));
    const last = JSON.parse(cut.trim().split("\n\n").at(-1)!.slice("data: ".length));
    assert.equal(last.error.type, "llm_stream_interrupted");
  });
});

Deno.test("sseFromLlmStream: a client that goes away cancels the upstream stream", async () => {
  for (const setup of BOTH) {
    await withServer({ reply: "a b c d e f g h i j", chunkDelayMs: 50 }, async (server) => {
      const stream = await createLlm(setup.config(server)).stream({ messages: USER });
      const reader = sseFromLlmStream(stream).getReader();
      assert.equal((await reader.read()).done, false);
      await reader.cancel();
      await rejectsWith(stream.result(), (e) => assert.equal(e.kind, "aborted"));
    });
  }
});

Deno.test("readBodyLines: characters and line ends split across network chunks", async () => {
  const bytes = new TextEncoder().encode("café ☕\r\nnaïve\n\nlast 🙂");
  // cut inside "é", between "\r" and "\n", inside "ï" and inside the emoji
  const cuts = [4, 10, 11, 15, bytes.length - 2];
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let from = 0;
      for (const to of [...cuts, bytes.length]) {
        controller.enqueue(bytes.slice(from, to));
        from = to;
      }
      controller.close();
    },
  });
  const lines: string[] = [];
  for await (const line of readBodyLines(body, { provider: "ollama", idleTimeoutMs: 1000 })) lines.push(line);
  assert.deepEqual(lines, ["café ☕", "naïve", "", "last 🙂"]);
});

Deno.test("backoffDelay: exponential from 0.5 s, capped at 8 s, up to 25 % jitter off", () => {
  for (let i = 0; i < 50; i++) {
    const first = backoffDelay(0);
    assert.ok(first > 375 - 1e-9 && first <= 500);
    const second = backoffDelay(1);
    assert.ok(second > 750 - 1e-9 && second <= 1000);
    assert.ok(backoffDelay(10) <= 8000);
  }
});

Deno.test("fake server: listings, auth and error shapes of both APIs", async () => {
  await withServer({ models: ["codellama", "fake-model"], apiKey: KEY }, async (server) => {
    const auth = { authorization: `Bearer ${KEY}` };
    const models = await (await fetch(`${server.openaiBaseURL}/models`, { headers: auth })).json();
    assert.deepEqual(models.data.map((m: { id: string }) => m.id), ["codellama", "fake-model"]);
    const tags = await (await fetch(`${server.url}/api/tags`, { headers: auth })).json();
    assert.equal(tags.models[0].name, "codellama:latest");

    const denied = await fetch(`${server.openaiBaseURL}/chat/completions`, { method: "POST", body: "{}" });
    assert.equal(denied.status, 401);
    const deniedBody = await denied.json();
    assert.equal(deniedBody.error.code, "invalid_api_key");
    assert.equal(typeof deniedBody.error.message, "string");

    server.failNext({ status: 503 });
    const busy = await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "codellama", messages: USER }),
    });
    assert.equal(busy.status, 503);
    assert.equal(typeof (await busy.json()).error, "string");

    const ndjson = await (await fetch(`${server.url}/api/chat`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ model: "codellama", messages: USER }),
    })).text();
    const lines = ndjson.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.at(-1).done, true);
    assert.equal(typeof lines.at(-1).eval_count, "number");
    assert.equal(typeof lines.at(-1).total_duration, "number");
    assert.equal(server.requests.length, 5);
    server.reset();
    assert.equal(server.requests.length, 0);
  });
});
