/**
 * Ollama's native API (`/api/chat`, `/api/generate`) over llm_http.ts.
 *
 * Non-streaming calls return the normalized `LlmResult`; streaming calls return OpenAI-shaped
 * `chat.completion.chunk` objects (the last one carrying `usage`), so callers never see Ollama's
 * NDJSON. Usage comes from `prompt_eval_count` / `eval_count`.
 *
 * Timeouts, the call's total deadline and retries are llm_http.ts's (`LLM_TIMEOUT_MS` per attempt and
 * as the idle timeout between lines, `LLM_TOTAL_TIMEOUT_MS` for the whole call, `LLM_MAX_RETRIES`).
 * Ollama's `{"error": "..."}` bodies and NDJSON error lines become the `LlmError` message.
 */

import {
  type ChatCompletionChunk,
  type ChatCompletionDelta,
  type ChatRequest,
  type FinishReason,
  type GenerateRequest,
  type LlmConfig,
  LlmError,
  type LlmResult,
  type LlmUsage,
  readBodyLines,
  type SamplingOptions,
} from "./llm_config.ts";
import { type Attempt, callDeadline, type HttpTarget, postJson, postStream } from "./llm_http.ts";

/** What the adapter needs from the configuration. */
export type OllamaTarget = Pick<
  LlmConfig,
  "provider" | "baseURL" | "apiKey" | "timeoutMs" | "maxRetries" | "totalTimeoutMs"
>;

/** Ollama's messages name it "Ollama" whatever the provider setting. */
function http(target: OllamaTarget): HttpTarget {
  return { ...target, label: "Ollama" };
}

/** A request whose model has already been checked against the allow-list. */
export type Resolved<T> = T & { model: string };

// ---------------------------------------------------------------------------------------------------
// Wire types
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
  const line = await postJson<OllamaChatLine>(http(target), "/api/chat", chatBody(req, false), {
    signal: req.signal,
    deadline: callDeadline(target),
  });
  return resultOf(target, line, line.message?.content ?? "", req.model, started);
}

/** `POST /api/generate` without streaming. */
export async function ollamaGenerate(
  target: OllamaTarget,
  req: Resolved<GenerateRequest>,
): Promise<LlmResult> {
  const started = performance.now();
  const line = await postJson<OllamaGenerateLine>(http(target), "/api/generate", generateBody(req, false), {
    signal: req.signal,
    deadline: callDeadline(target),
  });
  return resultOf(target, line, line.response ?? "", req.model, started);
}

/** `POST /api/chat` streaming, as OpenAI chunks. Resolves once Ollama accepted the request. */
export async function ollamaChatStream(
  target: OllamaTarget,
  req: Resolved<ChatRequest>,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const deadline = callDeadline(target);
  const body = chatBody(req, true);
  const attempt = await postStream(http(target), "/api/chat", body, { signal: req.signal, deadline });
  return ndjsonToChunks(
    target,
    attempt,
    req,
    deadline,
    (line: OllamaChatLine) => line.message?.content ?? "",
  );
}

/** `POST /api/generate` streaming, as OpenAI chunks. */
export async function ollamaGenerateStream(
  target: OllamaTarget,
  req: Resolved<GenerateRequest>,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const deadline = callDeadline(target);
  const body = generateBody(req, true);
  const attempt = await postStream(http(target), "/api/generate", body, { signal: req.signal, deadline });
  return ndjsonToChunks(target, attempt, req, deadline, (line: OllamaGenerateLine) => line.response ?? "");
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
  deadline: number,
  contentOf: (line: L) => string,
): AsyncGenerator<ChatCompletionChunk, void, undefined> {
  const id = `chatcmpl-${crypto.randomUUID()}`;
  let created: number | undefined;
  let first = true;
  let done = false;
  const chunk = (line: L, delta: ChatCompletionDelta, finish: FinishReason | null) => {
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
      deadline: { at: deadline, totalTimeoutMs: target.totalTimeoutMs },
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
