/**
 * Ollama's native API (`/api/chat`, `/api/generate`) over fetch.
 *
 * Non-streaming calls return the normalized `LlmResult`; streaming calls return OpenAI-shaped
 * `chat.completion.chunk` objects (the last one carrying `usage`), so callers never see Ollama's
 * NDJSON. Usage comes from `prompt_eval_count` / `eval_count`.
 *
 * Each attempt is bounded by `timeoutMs` (for streams: until the response headers, then as the idle
 * timeout between lines); 408/409/429/5xx answers, timeouts and connection errors are retried up to
 * `maxRetries` times with `withRetry`'s backoff. Ollama's `{"error": "..."}` bodies become the
 * `LlmError` message.
 */

import {
  abortedError,
  type ChatCompletionChunk,
  type ChatRequest,
  errorText,
  type FinishReason,
  type GenerateRequest,
  isRetryableStatus,
  type LlmConfig,
  LlmError,
  type LlmProvider,
  type LlmResult,
  type LlmUsage,
  parseRetryAfter,
  readBodyLines,
  type SamplingOptions,
} from "./llm_config.ts";

/** What the adapters need from the configuration. */
export type OllamaTarget = Pick<LlmConfig, "provider" | "baseURL" | "apiKey" | "timeoutMs" | "maxRetries">;

/** A request whose model has already been checked against the allow-list. */
export type Resolved<T> = T & { model: string };

// ---------------------------------------------------------------------------------------------------
// Retry with backoff
// ---------------------------------------------------------------------------------------------------

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Cancels the waiting between attempts. */
  signal?: AbortSignal;
  provider: LlmProvider;
  /** First backoff delay; doubles per retry (default 500 ms, like the openai SDK). */
  baseDelayMs?: number;
  /** Cap of the backoff delay (default 8 s). */
  maxDelayMs?: number;
  /** Called before each wait, e.g. for logging. */
  onRetry?: (info: { attempt: number; delayMs: number; error: LlmError }) => void;
}

/** Longest Retry-After we obey; a longer one falls back to our own backoff. */
const MAX_RETRY_AFTER_MS = 60_000;

/** The wait before retry number `retry` (0-based): exponential, capped, with up to 25 % jitter off. */
export function backoffDelay(retry: number, baseDelayMs = 500, maxDelayMs = 8_000): number {
  const delay = Math.min(baseDelayMs * 2 ** retry, maxDelayMs);
  return delay * (1 - Math.random() * 0.25);
}

/**
 * Runs `attempt` until it succeeds, throws a non-retryable error, or retries are used up. Only
 * `LlmError`s with `retryable` are retried; the wait honours the upstream's Retry-After (up to 60 s),
 * else `backoffDelay`.
 */
export async function withRetry<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let n = 0;; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!(error instanceof LlmError) || !error.retryable || n >= options.maxRetries) throw error;
      const delayMs = error.retryAfterMs !== null && error.retryAfterMs <= MAX_RETRY_AFTER_MS
        ? error.retryAfterMs
        : backoffDelay(n, options.baseDelayMs, options.maxDelayMs);
      options.onRetry?.({ attempt: n + 1, delayMs, error });
      await sleep(delayMs, options.signal, options.provider);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined, provider: LlmProvider): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortedError(provider, signal));
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(provider, signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------------

interface OllamaFinal {
  model?: string;
  created_at?: string;
  done?: boolean;
  done_reason?: string;
  prompt_eval_count?: number;
  eval_count?: number;
  total_duration?: number;
  error?: string;
}

interface OllamaChatLine extends OllamaFinal {
  message?: { role?: string; content?: string; thinking?: string };
}

interface OllamaGenerateLine extends OllamaFinal {
  response?: string;
}

/** One attempt's request; for streams the timeout ends when the headers arrive. */
interface Attempt {
  response: Response;
  /** Stops the attempt's timer (streams: once the headers are in). */
  settle(): void;
  /** Aborts the underlying fetch (stream consumers that stop early). */
  abort(): void;
  /** True when the attempt's own timer fired. */
  timedOut(): boolean;
}

async function startAttempt(
  target: OllamaTarget,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<Attempt> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, target.timeoutMs);
  const onCallerAbort = () => controller.abort();
  signal?.addEventListener("abort", onCallerAbort, { once: true });
  const settle = () => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onCallerAbort);
  };
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;

  let response: Response;
  try {
    if (signal?.aborted) throw abortedError(target.provider, signal);
    response = await fetch(`${target.baseURL}${path}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (cause) {
    settle();
    throw transportError(target, cause, timedOut, signal);
  }
  const attempt: Attempt = {
    response,
    settle,
    abort: () => controller.abort(),
    timedOut: () => timedOut,
  };
  if (!response.ok) {
    let error: LlmError;
    try {
      error = await statusError(target, response);
    } catch (cause) {
      error = transportError(target, cause, timedOut, signal);
    } finally {
      settle();
    }
    throw error;
  }
  return attempt;
}

function transportError(
  target: OllamaTarget,
  cause: unknown,
  timedOut: boolean,
  signal: AbortSignal | undefined,
): LlmError {
  if (cause instanceof LlmError) return cause;
  if (timedOut) {
    return new LlmError(`Ollama did not answer within ${target.timeoutMs} ms`, {
      kind: "timeout",
      provider: target.provider,
      retryable: true,
      cause,
    });
  }
  if (signal?.aborted) return abortedError(target.provider, signal);
  return new LlmError(`cannot reach Ollama at ${target.baseURL}: ${errorText(cause)}`, {
    kind: "connection",
    provider: target.provider,
    retryable: true,
    cause,
  });
}

async function statusError(target: OllamaTarget, response: Response): Promise<LlmError> {
  const text = await response.text();
  let reason = text.trim();
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed?.error === "string") reason = parsed.error;
    else if (typeof parsed?.error?.message === "string") reason = parsed.error.message;
  } catch {
    // not JSON: keep the text
  }
  return new LlmError(reason || `Ollama answered HTTP ${response.status}`, {
    kind: "upstream",
    provider: target.provider,
    status: response.status,
    retryable: isRetryableStatus(response.status),
    retryAfterMs: parseRetryAfter(response.headers),
  });
}

/** Sends a JSON request with timeout and retries and returns the parsed JSON body. */
async function postJson<T>(
  target: OllamaTarget,
  path: string,
  body: unknown,
  signal?: AbortSignal,
): Promise<T> {
  return await withRetry(async () => {
    const attempt = await startAttempt(target, path, body, signal);
    try {
      return await attempt.response.json() as T;
    } catch (cause) {
      if (attempt.timedOut() || signal?.aborted) {
        throw transportError(target, cause, attempt.timedOut(), signal);
      }
      throw new LlmError(`unreadable answer from Ollama: ${errorText(cause)}`, {
        kind: "upstream",
        provider: target.provider,
        status: attempt.response.status,
        retryable: false,
        cause,
      });
    } finally {
      attempt.settle();
    }
  }, { maxRetries: target.maxRetries, signal, provider: target.provider });
}

/** Sends a streaming request with retries until the headers arrive; the body is left to the caller. */
async function postStream(target: OllamaTarget, path: string, body: unknown, signal?: AbortSignal) {
  const attempt = await withRetry(
    () => startAttempt(target, path, body, signal),
    { maxRetries: target.maxRetries, signal, provider: target.provider },
  );
  attempt.settle();
  return attempt;
}

// ---------------------------------------------------------------------------------------------------
// Request and response mapping
// ---------------------------------------------------------------------------------------------------

/** Ollama `options` from the common sampling fields (`max_tokens` -> `num_predict`). */
export function ollamaOptions(req: SamplingOptions): Record<string, unknown> | undefined {
  const options: Record<string, unknown> = { ...req.ollamaOptions };
  if (req.temperature !== undefined) options.temperature = req.temperature;
  if (req.top_p !== undefined) options.top_p = req.top_p;
  if (req.max_tokens !== undefined) options.num_predict = req.max_tokens;
  if (req.stop !== undefined) options.stop = req.stop;
  if (req.seed !== undefined) options.seed = req.seed;
  return Object.keys(options).length > 0 ? options : undefined;
}

function chatBody(req: Resolved<ChatRequest>, stream: boolean) {
  return {
    model: req.model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
    stream,
    options: ollamaOptions(req),
  };
}

function generateBody(req: Resolved<GenerateRequest>, stream: boolean) {
  return {
    model: req.model,
    prompt: req.prompt,
    system: req.system,
    stream,
    options: ollamaOptions(req),
  };
}

function finishReason(line: OllamaFinal): FinishReason {
  return line.done_reason === "length" ? "length" : "stop";
}

function usageOf(line: OllamaFinal): LlmUsage {
  const prompt = line.prompt_eval_count ?? 0; // absent when the prompt was fully cached
  const completion = line.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

function createdOf(line: OllamaFinal): number {
  const parsed = line.created_at ? Date.parse(line.created_at) : NaN;
  return Math.floor((Number.isNaN(parsed) ? Date.now() : parsed) / 1000);
}

function resultOf(
  target: OllamaTarget,
  line: OllamaFinal,
  text: string,
  model: string,
  started: number,
): LlmResult {
  return {
    text,
    model: line.model ?? model,
    provider: target.provider,
    finish_reason: finishReason(line),
    usage: usageOf(line),
    latency_ms: Math.round(performance.now() - started),
    created: createdOf(line),
    raw: line,
  };
}

/** `POST /api/chat` without streaming. */
export async function ollamaChat(target: OllamaTarget, req: Resolved<ChatRequest>): Promise<LlmResult> {
  const started = performance.now();
  const line = await postJson<OllamaChatLine>(target, "/api/chat", chatBody(req, false), req.signal);
  return resultOf(target, line, line.message?.content ?? "", req.model, started);
}

/** `POST /api/generate` without streaming. */
export async function ollamaGenerate(
  target: OllamaTarget,
  req: Resolved<GenerateRequest>,
): Promise<LlmResult> {
  const started = performance.now();
  const line = await postJson<OllamaGenerateLine>(
    target,
    "/api/generate",
    generateBody(req, false),
    req.signal,
  );
  return resultOf(target, line, line.response ?? "", req.model, started);
}

/** `POST /api/chat` streaming, as OpenAI chunks. Resolves once Ollama accepted the request. */
export async function ollamaChatStream(
  target: OllamaTarget,
  req: Resolved<ChatRequest>,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const attempt = await postStream(target, "/api/chat", chatBody(req, true), req.signal);
  return ndjsonToChunks(target, attempt, req, (line: OllamaChatLine) => line.message?.content ?? "");
}

/** `POST /api/generate` streaming, as OpenAI chunks. */
export async function ollamaGenerateStream(
  target: OllamaTarget,
  req: Resolved<GenerateRequest>,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const attempt = await postStream(target, "/api/generate", generateBody(req, true), req.signal);
  return ndjsonToChunks(target, attempt, req, (line: OllamaGenerateLine) => line.response ?? "");
}

/**
 * Maps Ollama's NDJSON lines to OpenAI chunks: one per content line (the first with
 * `role: "assistant"`), one with `finish_reason` for the `done: true` line, then a `choices: []`
 * chunk with `usage`. A body that ends without `done: true` throws `stream_interrupted`.
 */
async function* ndjsonToChunks<L extends OllamaFinal>(
  target: OllamaTarget,
  attempt: Attempt,
  req: SamplingOptions & { model: string },
  contentOf: (line: L) => string,
): AsyncGenerator<ChatCompletionChunk, void, undefined> {
  const id = `chatcmpl-${crypto.randomUUID()}`;
  let created: number | undefined;
  let first = true;
  let done = false;
  const chunk = (line: L, delta: ChatCompletionChunk.Choice.Delta, finish: FinishReason | null) => {
    created ??= createdOf(line);
    return {
      id,
      object: "chat.completion.chunk",
      created,
      model: line.model ?? req.model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
      usage: null,
    } satisfies ChatCompletionChunk;
  };
  try {
    const body = attempt.response.body;
    if (!body) throw interrupted(target, "Ollama sent no body");
    const lines = readBodyLines(body, {
      provider: target.provider,
      idleTimeoutMs: target.timeoutMs,
      signal: req.signal,
    });
    for await (const text of lines) {
      if (text.trim() === "") continue;
      let line: L;
      try {
        line = JSON.parse(text) as L;
      } catch (cause) {
        throw new LlmError(`malformed NDJSON line from Ollama: ${text.slice(0, 200)}`, {
          kind: "upstream",
          provider: target.provider,
          cause,
        });
      }
      if (typeof line.error === "string") {
        throw new LlmError(line.error, { kind: "upstream", provider: target.provider });
      }
      const content = contentOf(line);
      if (content !== "" || first) {
        yield chunk(line, first ? { role: "assistant", content } : { content }, null);
        first = false;
      }
      if (line.done === true) {
        done = true;
        yield chunk(line, {}, finishReason(line));
        yield { ...chunk(line, {}, null), choices: [], usage: usageOf(line) };
        return;
      }
    }
    throw interrupted(target, "Ollama's stream ended before its final done:true line");
  } finally {
    if (!done) attempt.abort();
  }
}

function interrupted(target: OllamaTarget, message: string): LlmError {
  return new LlmError(message, { kind: "stream_interrupted", provider: target.provider, retryable: true });
}
