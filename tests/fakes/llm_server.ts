/**
 * A local fake LLM server speaking the real wire formats of OpenAI-compatible APIs and of Ollama's
 * native API, scriptable per test (failures, stalls, cut streams, required key) and recording every
 * request. For unit tests of the LLM adapters, integration tests of edge functions, and benchmarks.
 *
 * ```ts
 * import { startFakeLlmServer } from "./fakes/llm_server.ts";
 *
 * await using server = await startFakeLlmServer({ reply: "Hello there", apiKey: "sk-test" });
 * // OpenAI-kind providers: LLM_BASE_URL = server.openaiBaseURL   (http://127.0.0.1:PORT/v1)
 * // Ollama:                OLLAMA_URL   = server.ollamaURL       (http://127.0.0.1:PORT)
 * server.failNext({ status: 429, retryAfter: 0 });   // the next inference request gets a 429
 * server.stallNext({ ms: 2_000 });                    // the next one waits 2 s before answering
 * server.cutNextStream({ afterChunks: 2 });           // the next stream ends after 2 events
 * server.requests.at(-1)?.body;                       // what the client sent
 * ```
 *
 * Endpoints:
 * - `POST /v1/chat/completions`: JSON, or SSE with `stream: true` (`data: {chunk}` events, a final
 *   usage chunk when `stream_options.include_usage`, then `data: [DONE]`)
 * - `GET /v1/models`
 * - `POST /api/chat`, `POST /api/generate`: JSON with `"stream": false`, else NDJSON (Ollama streams
 *   by default) ending with a `done: true` line carrying `prompt_eval_count`, `eval_count`, durations
 * - `GET /api/tags`, `GET /api/version`, `GET /` ("Ollama is running")
 *
 * Replies are split into word-sized chunks (one "token" each: `eval_count` / `completion_tokens` is
 * their number); prompt tokens are the whitespace-separated words of the messages. `max_tokens`,
 * `max_completion_tokens` and Ollama's `options.num_predict` truncate the reply (finish reason
 * `length`). Errors use each API's real body shape: OpenAI `{"error": {"message", "type", "param",
 * "code"}}`, Ollama `{"error": "..."}`.
 *
 * Scripts (`failNext`, `stallNext`, `cutNextStream`) are queues consumed by the next inference
 * requests (chat/completions, /api/chat, /api/generate), not by GET endpoints; a failure is checked
 * first, then a stall, then (streams only) a cut.
 *
 * A lying model (`lyingReply(kind)`) answers a fix-code-error prompt with one class of cheat applied to the
 * prompt's code (CHEAT_KINDS: the whole file replaced, code deleted, commented out or stubbed, casts through
 * unknown/never/any, implicit any, suppression comments, edits far from the error); `honestReply(fix)` with a
 * real fix. Tests use them to check that no cheat is ever verified or applied.
 *
 * Run standalone: `deno run -A tests/fakes/llm_server.ts --port 11434 --reply "hi" --chunk-delay-ms 20`.
 */

import { parseArgs } from "node:util";
import ts from "typescript";
import { diagnoseSnippet } from "../../supabase/functions/_shared/typescript.ts";

export type FakeApi = "openai" | "ollama";

/** What a reply function sees of an inference request. */
export interface FakeInferenceRequest {
  api: FakeApi;
  /** `/v1/chat/completions`, `/api/chat` or `/api/generate`. */
  path: string;
  model: string;
  /** The chat messages; for /api/generate the system (if any) and the prompt as messages. */
  messages: { role: string; content: string }[];
  /** The prompt of /api/generate, else null. */
  prompt: string | null;
  stream: boolean;
  /** The parsed JSON body as sent. */
  body: Record<string, unknown>;
  headers: Headers;
}

export type FakeReply = string | ((req: FakeInferenceRequest) => string | Promise<string>);

export interface FakeLlmServerOptions {
  /** Reply text, or a function of the request (default: "This is a fake reply from <model>."). */
  reply?: FakeReply;
  /** Require `Authorization: Bearer <apiKey>` on every endpoint (401 in the API's shape otherwise). */
  apiKey?: string | null;
  /** Known models, listed by /v1/models and /api/tags; when set, other models get a 404. */
  models?: string[] | null;
  /** Pause between streamed chunks (default 0). */
  chunkDelayMs?: number;
  /** Pause before every inference answer, e.g. to simulate model latency in benchmarks (default 0). */
  responseDelayMs?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface FailureScript {
  /** HTTP status to answer with, e.g. 429, 500, 503, 401. */
  status: number;
  /** How many consecutive inference requests fail (default 1). */
  times?: number;
  /** The error message in the body (default: the API's usual message for that status). */
  message?: string;
  /** Sets `Retry-After` (seconds, or an HTTP date). */
  retryAfter?: number | string;
  /** Extra response headers (e.g. `retry-after-ms`, `x-should-retry`). */
  headers?: Record<string, string>;
  /** A raw body instead of the API's error JSON (e.g. an HTML error page of a proxy). */
  rawBody?: string;
}

export interface StallScript {
  /** How long to stay silent. */
  ms: number;
  /** How many consecutive inference requests stall (default 1). */
  times?: number;
  /**
   * Without it the stall is before the response headers (it lasts its full `ms` even when the client
   * gives up, as the server cannot see that before answering; `close()` ends it). With it (streams)
   * the first `afterChunks` chunks are sent, then the stream goes silent for `ms` before going on
   * (ended early when the client cancels the body).
   */
  afterChunks?: number;
}

export interface CutScript {
  /** Stream events/lines sent before the cut (the SSE role chunk and each content chunk count). */
  afterChunks: number;
  /** How many consecutive streaming requests are cut (default 1). */
  times?: number;
  /**
   * - `close` (default): the body ends cleanly, without `[DONE]` / `done: true`
   * - `reset`: the connection is aborted mid-body (Deno.serve logs the scripted error to stderr)
   * - `error`: an error frame in the API's format (`data: {"error": ...}` / `{"error": "..."}`), then the end
   */
  mode?: "close" | "reset" | "error";
  /** Message of the `error` frame. */
  message?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  /** Parsed JSON body, or null when there was none or it was not JSON. */
  body: unknown;
  rawBody: string;
  /** `Date.now()` when it arrived. */
  at: number;
}

export interface FakeLlmServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** `url + "/v1"`: the base URL for OpenAI-kind providers. */
  readonly openaiBaseURL: string;
  /** Same as `url`: Ollama's base URL. */
  readonly ollamaURL: string;
  /** Every request, in arrival order (scripted failures included). */
  readonly requests: RecordedRequest[];
  /** The requests to the inference endpoints. */
  inferenceRequests(): RecordedRequest[];
  setReply(reply: FakeReply): this;
  setApiKey(apiKey: string | null): this;
  setModels(models: string[] | null): this;
  setChunkDelay(ms: number): this;
  setResponseDelay(ms: number): this;
  failNext(script: FailureScript): this;
  stallNext(script: StallScript): this;
  cutNextStream(script: CutScript): this;
  /** Clears the scripts and the request log and restores the start options. */
  reset(): this;
  /** Stops listening; pending stalls end at once. */
  close(): Promise<void>;
}

const INFERENCE_PATHS = new Set(["/v1/chat/completions", "/api/chat", "/api/generate"]);

interface Settings {
  reply: FakeReply;
  apiKey: string | null;
  models: string[] | null;
  chunkDelayMs: number;
  responseDelayMs: number;
}

/** Starts a fake server; resolves once it listens. */
export function startFakeLlmServer(options: FakeLlmServerOptions = {}): Promise<FakeLlmServer> {
  const initial: Settings = {
    reply: options.reply ?? ((req) => `This is a fake reply from ${req.model}.`),
    apiKey: options.apiKey ?? null,
    models: options.models ?? null,
    chunkDelayMs: options.chunkDelayMs ?? 0,
    responseDelayMs: options.responseDelayMs ?? 0,
  };
  const fake = new FakeServer(initial);
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      onListen: () => {},
    }, (request) => fake.handle(request));
    fake.attach(server);
    resolve(fake);
  });
}

class FakeServer implements FakeLlmServer {
  readonly requests: RecordedRequest[] = [];
  #initial: Settings;
  #settings: Settings;
  #failures: (FailureScript & { times: number })[] = [];
  #stalls: (StallScript & { times: number })[] = [];
  #cuts: (CutScript & { times: number })[] = [];
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #closing = new AbortController();
  #counter = 0;

  constructor(initial: Settings) {
    this.#initial = initial;
    this.#settings = { ...initial };
  }

  attach(server: Deno.HttpServer<Deno.NetAddr>) {
    this.#server = server;
  }

  get port(): number {
    return this.#server!.addr.port;
  }
  get url(): string {
    const { hostname, port } = this.#server!.addr;
    return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }
  get openaiBaseURL(): string {
    return `${this.url}/v1`;
  }
  get ollamaURL(): string {
    return this.url;
  }

  inferenceRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.method === "POST" && INFERENCE_PATHS.has(r.path));
  }

  setReply(reply: FakeReply): this {
    this.#settings.reply = reply;
    return this;
  }
  setApiKey(apiKey: string | null): this {
    this.#settings.apiKey = apiKey;
    return this;
  }
  setModels(models: string[] | null): this {
    this.#settings.models = models;
    return this;
  }
  setChunkDelay(ms: number): this {
    this.#settings.chunkDelayMs = ms;
    return this;
  }
  setResponseDelay(ms: number): this {
    this.#settings.responseDelayMs = ms;
    return this;
  }
  failNext(script: FailureScript): this {
    this.#failures.push({ ...script, times: script.times ?? 1 });
    return this;
  }
  stallNext(script: StallScript): this {
    this.#stalls.push({ ...script, times: script.times ?? 1 });
    return this;
  }
  cutNextStream(script: CutScript): this {
    this.#cuts.push({ ...script, times: script.times ?? 1 });
    return this;
  }
  reset(): this {
    this.requests.length = 0;
    this.#failures.length = 0;
    this.#stalls.length = 0;
    this.#cuts.length = 0;
    this.#settings = { ...this.#initial };
    return this;
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    await this.#server?.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // -------------------------------------------------------------------------------------------------

  async handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const rawBody = request.method === "GET" || request.method === "HEAD" ? "" : await request.text();
    let body: unknown = null;
    try {
      body = rawBody ? JSON.parse(rawBody) : null;
    } catch {
      body = null;
    }
    this.requests.push({
      method: request.method,
      path,
      headers: Object.fromEntries([...request.headers].map(([k, v]) => [k.toLowerCase(), v])),
      body,
      rawBody,
      at: Date.now(),
    });

    const api: FakeApi = path.startsWith("/v1/") ? "openai" : "ollama";
    const key = this.#settings.apiKey;
    if (key !== null && request.headers.get("authorization") !== `Bearer ${key}`) {
      return errorResponse(api, 401, undefined, {});
    }

    if (request.method === "GET") return this.#get(path);
    if (request.method !== "POST" || !INFERENCE_PATHS.has(path)) {
      return new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } });
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      return errorResponse(api, 400, "could not parse the JSON request body", {});
    }
    return await this.#infer(request, api, path, body as Record<string, unknown>);
  }

  #get(path: string): Response {
    const models = this.#settings.models ?? ["fake-model"];
    const created = Math.floor(Date.now() / 1000);
    switch (path) {
      case "/":
        return new Response("Ollama is running", {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      case "/api/version":
        return Response.json({ version: "0.0.0-fake" });
      case "/api/tags":
        return Response.json({
          models: models.map((name) => ({
            name: name.includes(":") ? name : `${name}:latest`,
            model: name.includes(":") ? name : `${name}:latest`,
            modified_at: new Date().toISOString(),
            size: 3_825_819_519,
            digest: "0".repeat(64),
            details: {
              parent_model: "",
              format: "gguf",
              family: "llama",
              families: ["llama"],
              parameter_size: "7B",
              quantization_level: "Q4_0",
            },
          })),
        });
      case "/v1/models":
        return Response.json({
          object: "list",
          data: models.map((id) => ({ id, object: "model", created, owned_by: "fake" })),
        });
      default:
        return new Response("404 page not found", { status: 404, headers: { "content-type": "text/plain" } });
    }
  }

  async #infer(request: Request, api: FakeApi, path: string, body: Record<string, unknown>) {
    const model = typeof body.model === "string" ? body.model : "";
    const stream = api === "openai" ? body.stream === true : body.stream !== false;
    // Not request.signal: reading it makes Deno.serve print a warning on every successful response.
    const signal = this.#closing.signal;

    const failure = take(this.#failures);
    if (failure) {
      const headers: Record<string, string> = { ...failure.headers };
      if (failure.retryAfter !== undefined) headers["retry-after"] = String(failure.retryAfter);
      if (failure.rawBody !== undefined) {
        return new Response(failure.rawBody, { status: failure.status, headers });
      }
      return errorResponse(api, failure.status, failure.message, headers, model);
    }
    if (!model) {
      return errorResponse(
        api,
        400,
        api === "openai" ? "you must provide a model parameter" : "model is required",
        {},
      );
    }
    if (this.#settings.models !== null && !this.#knows(model)) {
      return errorResponse(api, 404, undefined, {}, model);
    }

    const stall = take(this.#stalls);
    const cut = stream ? take(this.#cuts) : undefined;
    if (this.#settings.responseDelayMs > 0) await sleep(this.#settings.responseDelayMs, signal);
    if (stall && stall.afterChunks === undefined) await sleep(stall.ms, signal);

    const info = requestInfo(api, path, model, stream, body, request.headers);
    const reply =
      await (typeof this.#settings.reply === "function" ? this.#settings.reply(info) : this.#settings.reply);
    const limit = api === "openai"
      ? numberOr(body.max_completion_tokens, numberOr(body.max_tokens, Infinity))
      : numberOr((body.options as Record<string, unknown> | undefined)?.num_predict, Infinity);
    const allTokens = reply.match(/\s*\S+\s*/g) ?? (reply ? [reply] : []);
    const tokens = limit >= 0 && limit < allTokens.length ? allTokens.slice(0, limit) : allTokens;
    const finish = tokens.length < allTokens.length ? "length" : "stop";
    const promptTokens = info.messages.reduce((n, m) => n + (m.content.match(/\S+/g)?.length ?? 0), 0);
    const reqId = ++this.#counter;
    const answer: Answer = { api, path, model, tokens, finish, promptTokens, reqId, body };

    if (!stream) {
      return Response.json(api === "openai" ? openaiCompletion(answer) : ollamaFinal(answer, true));
    }

    const frames = api === "openai" ? openaiFrames(answer) : ollamaFrames(answer);
    const delay = this.#settings.chunkDelayMs;
    const gone = new AbortController(); // the client cancelled the body
    const pause = AbortSignal.any([gone.signal, this.#closing.signal]);
    const encoder = new TextEncoder();
    let next = 0;
    const sseOrNdjson = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (cut && next === cut.afterChunks) {
          if (cut.mode === "reset") {
            // Deno.serve aborts the connection and logs this error to stderr: expected noise.
            return controller.error(new Error("fake LLM server: stream reset as scripted (cutNextStream)"));
          }
          if (cut.mode === "error") {
            const message = cut.message ?? "the model crashed while generating";
            controller.enqueue(encoder.encode(
              api === "openai"
                ? `data: ${
                  JSON.stringify({ error: { message, type: "server_error", param: null, code: null } })
                }\n\n`
                : `${JSON.stringify({ error: message })}\n`,
            ));
          }
          return controller.close();
        }
        if (next >= frames.length) return controller.close();
        if (stall?.afterChunks === next) await sleep(stall.ms, pause);
        else if (next > 0 && delay > 0) await sleep(delay, pause);
        if (gone.signal.aborted) return;
        controller.enqueue(encoder.encode(frames[next++]));
      },
      cancel() {
        gone.abort();
      },
    });
    return new Response(sseOrNdjson, {
      headers: api === "openai"
        ? { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" }
        : { "content-type": "application/x-ndjson" },
    });
  }

  #knows(model: string): boolean {
    const models = this.#settings.models ?? [];
    return models.includes(model) || models.includes(`${model}:latest`) ||
      models.some((m) => `${m}:latest` === model);
  }
}

// ---------------------------------------------------------------------------------------------------
// Wire formats
// ---------------------------------------------------------------------------------------------------

interface Answer {
  api: FakeApi;
  path: string;
  model: string;
  tokens: string[];
  finish: "stop" | "length";
  promptTokens: number;
  reqId: number;
  body: Record<string, unknown>;
}

function requestInfo(
  api: FakeApi,
  path: string,
  model: string,
  stream: boolean,
  body: Record<string, unknown>,
  headers: Headers,
): FakeInferenceRequest {
  const prompt = path === "/api/generate" ? String(body.prompt ?? "") : null;
  let messages: { role: string; content: string }[];
  if (prompt !== null) {
    messages = typeof body.system === "string" && body.system
      ? [{ role: "system", content: body.system }]
      : [];
    messages.push({ role: "user", content: prompt });
  } else {
    messages = (Array.isArray(body.messages) ? body.messages : []).map((m) => ({
      role: String((m as { role?: unknown })?.role ?? ""),
      content: contentText((m as { content?: unknown })?.content),
    }));
  }
  return { api, path, model, messages, prompt, stream, body, headers };
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof p?.text === "string" ? p.text : "")).join("");
  }
  return "";
}

function openaiUsage(a: Answer) {
  return {
    prompt_tokens: a.promptTokens,
    completion_tokens: a.tokens.length,
    total_tokens: a.promptTokens + a.tokens.length,
  };
}

function openaiCompletion(a: Answer) {
  return {
    id: `chatcmpl-fake${a.reqId}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: a.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: a.tokens.join(""), refusal: null },
      logprobs: null,
      finish_reason: a.finish,
    }],
    usage: openaiUsage(a),
    system_fingerprint: "fp_fake",
  };
}

/** SSE events: role chunk, one chunk per token, finish chunk, usage chunk (if asked), [DONE]. */
function openaiFrames(a: Answer): string[] {
  const includeUsage =
    (a.body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  const created = Math.floor(Date.now() / 1000);
  const base = { id: `chatcmpl-fake${a.reqId}`, object: "chat.completion.chunk", created, model: a.model };
  const extra = includeUsage ? { usage: null } : {};
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    ...base,
    system_fingerprint: "fp_fake",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  });
  const events: unknown[] = [chunk({ role: "assistant", content: "", refusal: null }, null)];
  for (const token of a.tokens) events.push(chunk({ content: token }, null));
  events.push(chunk({}, a.finish));
  if (includeUsage) {
    events.push({ ...base, system_fingerprint: "fp_fake", choices: [], usage: openaiUsage(a) });
  }
  return [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), "data: [DONE]\n\n"];
}

function ollamaContent(a: Answer, text: string) {
  return a.path === "/api/generate" ? { response: text } : { message: { role: "assistant", content: text } };
}

/** The final object: the whole answer (non-stream) or the closing `done: true` line (stream). */
function ollamaFinal(a: Answer, whole: boolean) {
  const evalNs = a.tokens.length * 20_000_000;
  const promptNs = a.promptTokens * 1_000_000;
  return {
    model: a.model,
    created_at: new Date().toISOString(),
    ...ollamaContent(a, whole ? a.tokens.join("") : ""),
    done: true,
    done_reason: a.finish,
    ...(a.path === "/api/generate" ? { context: [1, 2, 3] } : {}),
    total_duration: 5_000_000 + promptNs + evalNs,
    load_duration: 5_000_000,
    prompt_eval_count: a.promptTokens,
    prompt_eval_duration: promptNs,
    eval_count: a.tokens.length,
    eval_duration: evalNs,
  };
}

/** NDJSON lines: one per token, then the `done: true` line. */
function ollamaFrames(a: Answer): string[] {
  const lines: unknown[] = a.tokens.map((token) => ({
    model: a.model,
    created_at: new Date().toISOString(),
    ...ollamaContent(a, token),
    done: false,
  }));
  lines.push(ollamaFinal(a, false));
  return lines.map((l) => `${JSON.stringify(l)}\n`);
}

const OPENAI_ERRORS: Record<number, { message: string; type: string; code: string | null }> = {
  400: { message: "Invalid request.", type: "invalid_request_error", code: null },
  401: {
    message: "Incorrect API key provided. You can find your API key in your account settings.",
    type: "invalid_request_error",
    code: "invalid_api_key",
  },
  403: { message: "You are not allowed to access this resource.", type: "invalid_request_error", code: null },
  404: {
    message: "The model does not exist or you do not have access to it.",
    type: "invalid_request_error",
    code: "model_not_found",
  },
  429: {
    message: "Rate limit reached for requests. Please try again later.",
    type: "requests",
    code: "rate_limit_exceeded",
  },
  500: {
    message: "The server had an error while processing your request. Sorry about that!",
    type: "server_error",
    code: null,
  },
  503: {
    message: "The engine is currently overloaded, please try again later.",
    type: "server_error",
    code: null,
  },
};

const OLLAMA_ERRORS: Record<number, string> = {
  400: "invalid request",
  401: "unauthorized",
  403: "forbidden",
  429: "too many requests",
  500: "an internal error occurred",
  503: "server busy, please try again.  maximum pending requests exceeded",
};

function errorResponse(
  api: FakeApi,
  status: number,
  message: string | undefined,
  headers: Record<string, string>,
  model?: string,
): Response {
  if (api === "openai") {
    const known = OPENAI_ERRORS[status] ??
      {
        message: `Request failed with status ${status}.`,
        type: status >= 500 ? "server_error" : "invalid_request_error",
        code: null,
      };
    let text = message ?? known.message;
    if (message === undefined && status === 404 && model) {
      text = `The model \`${model}\` does not exist or you do not have access to it.`;
    }
    return Response.json({ error: { message: text, type: known.type, param: null, code: known.code } }, {
      status,
      headers: { ...headers, "x-request-id": `req_fake_${crypto.randomUUID().slice(0, 8)}` },
    });
  }
  let text = message ?? OLLAMA_ERRORS[status] ?? `request failed with status ${status}`;
  if (message === undefined && status === 404) {
    text = `model "${model ?? ""}" not found, try pulling it first`;
  }
  return Response.json({ error: text }, { status, headers });
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

/** Takes one use of the first script of a queue. */
function take<T extends { times: number }>(queue: T[]): T | undefined {
  const first = queue[0];
  if (!first) return undefined;
  if (--first.times <= 0) queue.shift();
  return first;
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

// -------------------------------------------------------------------------------------------------
// A lying model: replies that make the compiler quiet without fixing the code, one per class of cheat,
// computed from the code in the prompt (the first diagnostic the compiler reports for it is "the error").

/** The classes of cheat a lying model answers with (tests/typescript.test.ts names the rule each breaks). */
export const CHEAT_KINDS = [
  "whole-file", // the whole file replaced by `const fixed: number = 1;`
  "delete-code", // the statement holding the error deleted, with the statements using what it declares
  "stub-throw", // the function holding the error: its body replaced by `throw new Error("not implemented")`
  "stub-empty", // … by an empty body
  "stub-never", // … by `return undefined as never`
  "comment-out", // the statement holding the error (and those using it) commented out
  "cast-unknown", // the value at the error cast through unknown: `(x) as unknown as T`
  "cast-never", // `(x) as never`
  "cast-any", // `(x) as any`
  "implicit-any", // `JSON.parse(JSON.stringify(x))`: typed any, so anything goes
  "ts-ignore", // a `// @ts-ignore` line above the error
  "ts-expect-error", // a `// @ts-expect-error` line above the error
  "outside-region", // a real fix, plus a rewrite of code far from the error
] as const;
export type CheatKind = typeof CHEAT_KINDS[number];

/** The code block of the user message of a fix-code-error prompt. */
export function promptCode(messages: { role: string; content: string }[]): string {
  const user = messages.find((m) => m.role === "user")?.content ?? "";
  return user.match(/Code:\n```typescript\n([\s\S]*?)\n```/)?.[1] ?? "";
}

function splice(code: string, start: number, end: number, text: string): string {
  return code.slice(0, start) + text + code.slice(end);
}

/** `code` with the cheat of `kind` applied at its first diagnostic; `honest` is a real fix for outside-region. */
export function cheatOn(code: string, kind: CheatKind, honest?: (code: string) => string): string {
  if (kind === "whole-file") return "const fixed: number = 1;\n";
  const [error] = diagnoseSnippet(code);
  if (!error) return code;
  const sf = ts.createSourceFile("snippet.ts", code, ts.ScriptTarget.ES2022, true);
  let node: ts.Node = sf;
  for (let next: ts.Node | undefined = sf; next;) {
    node = next;
    next = undefined;
    ts.forEachChild(node, (child) => {
      if (!next && child.getStart(sf) <= error.start && error.start < child.end) next = child;
    });
  }
  const ancestors: ts.Node[] = [];
  for (let n: ts.Node = node; !ts.isSourceFile(n); n = n.parent) ancestors.push(n);
  const statement = ancestors.find((n) => ts.isStatement(n) && !ts.isBlock(n))!;
  const top = ancestors[ancestors.length - 1] as ts.Statement;
  const fn = ancestors.find((n): n is ts.FunctionLikeDeclaration & { body: ts.Block } =>
    ts.isFunctionLike(n) && !!(n as ts.FunctionLikeDeclaration).body &&
    ts.isBlock((n as ts.FunctionLikeDeclaration).body!)
  );
  const names = (s: ts.Node) => {
    const out: string[] = [];
    const visit = (n: ts.Node) => {
      if (
        (ts.isVariableDeclaration(n) || ts.isFunctionDeclaration(n) || ts.isClassDeclaration(n) ||
          ts.isInterfaceDeclaration(n)) && n.name && ts.isIdentifier(n.name)
      ) out.push(n.name.text);
      ts.forEachChild(n, visit);
    };
    visit(s);
    return out;
  };
  const users = (s: ts.Statement, siblings: readonly ts.Statement[]) => {
    const declared = names(s);
    return siblings.filter((o) =>
      o.pos > s.pos && declared.some((name) => new RegExp(`\\b${name}\\b`).test(o.getText(sf)))
    );
  };
  const declaration = ancestors.find(ts.isVariableDeclaration);
  const value: ts.Expression | undefined = declaration?.initializer ??
    (ts.isReturnStatement(statement) ? statement.expression : undefined) ??
    (ts.isExpression(node) ? node : undefined);
  const wrap = (text: (v: string) => string) =>
    value ? splice(code, value.getStart(sf), value.end, text(value.getText(sf))) : code;
  const lineStart = code.lastIndexOf("\n", statement.getStart(sf)) + 1;
  const indent = /^[ \t]*/.exec(code.slice(lineStart))![0];
  switch (kind) {
    case "delete-code": {
      const gone = [top, ...users(top, sf.statements)].sort((a, b) => b.pos - a.pos);
      return gone.reduce((text, s) => splice(text, s.getFullStart(), s.end, ""), code).trimStart();
    }
    case "stub-throw":
    case "stub-empty":
    case "stub-never": {
      if (!fn) return cheatOn(code, "delete-code");
      const inner = fn.body.getText(sf).split("\n").at(-1)!.replace("}", "");
      const body = kind === "stub-empty"
        ? "{}"
        : `{\n${inner}  ${
          kind === "stub-throw" ? 'throw new Error("not implemented");' : "return undefined as never;"
        }\n${inner}}`;
      return splice(code, fn.body.getStart(sf), fn.body.end, body);
    }
    case "comment-out": {
      const siblings = (statement.parent as { statements?: readonly ts.Statement[] }).statements ?? [];
      const gone = [statement as ts.Statement, ...users(statement as ts.Statement, siblings)]
        .sort((a, b) => b.pos - a.pos);
      return gone.reduce((text, s) => {
        const start = text.lastIndexOf("\n", s.getStart(sf)) + 1;
        const lines = text.slice(start, s.end).split("\n").map((l) => l.replace(/^(\s*)/, "$1// "));
        return splice(text, start, s.end, lines.join("\n"));
      }, code);
    }
    case "cast-unknown": {
      const type = declaration?.type?.getText(sf) ?? (fn?.type ? fn.type.getText(sf) : "never");
      return wrap((v) => `(${v}) as unknown as ${type}`);
    }
    case "cast-never":
      return wrap((v) => `(${v}) as never`);
    case "cast-any":
      return wrap((v) => `(${v}) as any`);
    case "implicit-any":
      return wrap((v) => `JSON.parse(JSON.stringify(${v}))`);
    case "ts-ignore":
    case "ts-expect-error":
      return splice(code, lineStart, lineStart, `${indent}// @${kind}\n`);
    case "outside-region": {
      const fixed = honest ? honest(code) : code;
      const fixedSf = ts.createSourceFile("snippet.ts", fixed, ts.ScriptTarget.ES2022, true);
      // The last statement of the file (the error's own one excepted) rewritten: code nobody asked to touch.
      const far =
        [...fixedSf.statements].reverse().find((st) => !st.getText(fixedSf).includes(top.getText(sf))) ??
          fixedSf.statements[0];
      const rewritten = far.getText(fixedSf).replace(/"[^"]*"/g, '"rewritten"').replace(/\b\d+\b/g, "0");
      return splice(fixed, far.getStart(fixedSf), far.end, rewritten);
    }
  }
}

/** A reply function for startFakeLlmServer: the prompt's code with the cheat applied, in a ```ts block. */
export function lyingReply(
  kind: CheatKind,
  honest?: (code: string) => string,
): (req: FakeInferenceRequest) => string {
  return (req) =>
    "```ts\n" + cheatOn(promptCode(req.messages), kind, honest) + "\n```\nFixed the type error.";
}

/** A reply function answering with `fix(code)` of the prompt's code, in a ```ts block. */
export function honestReply(fix: (code: string) => string): (req: FakeInferenceRequest) => string {
  return (req) => "```ts\n" + fix(promptCode(req.messages)) + "\n```\nFixed the type error.";
}

/** Waits `ms`, or less when the client goes away or the server closes. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      hostname: { type: "string", default: "127.0.0.1" },
      reply: { type: "string" },
      "api-key": { type: "string" },
      models: { type: "string" },
      "chunk-delay-ms": { type: "string", default: "0" },
      "response-delay-ms": { type: "string", default: "0" },
    },
  });
  const server = await startFakeLlmServer({
    port: Number(values.port),
    hostname: values.hostname,
    reply: values.reply,
    apiKey: values["api-key"] ?? null,
    models: values.models ? values.models.split(",").map((m) => m.trim()) : null,
    chunkDelayMs: Number(values["chunk-delay-ms"]),
    responseDelayMs: Number(values["response-delay-ms"]),
  });
  console.log(`fake LLM server listening on ${server.url} (OpenAI: ${server.openaiBaseURL})`);
  Deno.addSignalListener("SIGINT", () => server.close().then(() => Deno.exit(0)));
}
