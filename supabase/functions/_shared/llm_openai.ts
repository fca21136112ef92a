/**
 * OpenAI-compatible providers (OpenAI, xAI, Groq, OpenRouter, Ollama's /v1, any `openai-compatible`
 * server) through the `openai` SDK.
 *
 * The SDK does the request work: `baseURL`, the per-attempt `timeout`, and `maxRetries` with its
 * backoff (0.5 s doubling up to 8 s, 25 % jitter; `retry-after-ms` / `Retry-After` up to 60 s are
 * obeyed) on 408/409/429/5xx, timeouts and connection errors.
 *
 * Streams are requested through the SDK (so opening them is retried the same way) but their SSE body
 * is parsed here: the SDK's own `Stream` treats a body that ends without `data: [DONE]` as a normal
 * end, while we must report it as `stream_interrupted`.
 */

import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import {
  abortedError,
  type ChatCompletionChunk,
  type ChatRequest,
  errorText,
  type FinishReason,
  isRetryableStatus,
  type LlmConfig,
  LlmError,
  type LlmProvider,
  type LlmResult,
  parseRetryAfter,
  readBodyLines,
} from "./llm_config.ts";

export type OpenAiTarget = Pick<LlmConfig, "provider" | "baseURL" | "apiKey" | "timeoutMs" | "maxRetries">;

/** A request whose model has already been checked against the allow-list. */
export type ResolvedChat = ChatRequest & { model: string };

/**
 * An SDK client bound to the configured provider. Everything is passed explicitly so the SDK's own
 * environment variables (OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID) cannot redirect requests
 * or leak OpenAI headers to other providers. Without a key no Authorization header is sent.
 */
export function createOpenAiClient(target: OpenAiTarget): OpenAI {
  return new OpenAI({
    baseURL: target.baseURL,
    apiKey: target.apiKey ?? "no-key",
    organization: null,
    project: null,
    timeout: target.timeoutMs,
    maxRetries: target.maxRetries,
    defaultHeaders: target.apiKey ? undefined : { Authorization: null },
  });
}

function requestBody(target: OpenAiTarget, req: ResolvedChat): ChatCompletionCreateParamsNonStreaming {
  const body: ChatCompletionCreateParamsNonStreaming = {
    model: req.model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
  };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.max_tokens !== undefined) {
    // OpenAI deprecated max_tokens (its reasoning models reject it); the other providers expect it.
    if (target.provider === "openai") body.max_completion_tokens = req.max_tokens;
    else body.max_tokens = req.max_tokens;
  }
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  return body;
}

/** `POST {baseURL}/chat/completions` without streaming. */
export async function openaiChat(
  client: OpenAI,
  target: OpenAiTarget,
  req: ResolvedChat,
): Promise<LlmResult> {
  const started = performance.now();
  let completion: OpenAI.ChatCompletion;
  try {
    completion = await client.chat.completions.create(requestBody(target, req), { signal: req.signal });
  } catch (error) {
    throw toLlmError(error, target, req.signal);
  }
  const choice = completion.choices?.[0];
  const usage = completion.usage;
  return {
    text: choice?.message?.content ?? "",
    model: completion.model ?? req.model,
    provider: target.provider,
    finish_reason: (choice?.finish_reason ?? "stop") as FinishReason,
    usage: {
      prompt_tokens: usage?.prompt_tokens ?? 0,
      completion_tokens: usage?.completion_tokens ?? 0,
      total_tokens: usage?.total_tokens ?? (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0),
    },
    latency_ms: Math.round(performance.now() - started),
    id: completion.id,
    created: completion.created,
    raw: completion,
  };
}

/**
 * `POST {baseURL}/chat/completions` with `stream: true` and `stream_options.include_usage`, so the
 * last chunk before `[DONE]` carries `usage`. Resolves once the provider accepted the request (errors
 * before that, retries included, reject here); the chunks then arrive as they are sent.
 */
export async function openaiChatStream(
  client: OpenAI,
  target: OpenAiTarget,
  req: ResolvedChat,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const controller = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, controller.signal]) : controller.signal;
  let response: Response;
  try {
    response = await client.chat.completions
      .create(
        { ...requestBody(target, req), stream: true, stream_options: { include_usage: true } },
        { signal },
      )
      .asResponse();
  } catch (error) {
    throw toLlmError(error, target, req.signal);
  }
  return sseToChunks(target, response, controller, req.signal);
}

/**
 * Parses the SSE body: `data:` lines (joined when an event has several), `:` comments and `event:`
 * fields skipped, `data: [DONE]` ends the stream; an error frame (`data: {"error": ...}`) throws;
 * a body ending before `[DONE]` throws `stream_interrupted`.
 */
async function* sseToChunks(
  target: OpenAiTarget,
  response: Response,
  controller: AbortController,
  signal: AbortSignal | undefined,
): AsyncGenerator<ChatCompletionChunk, void, undefined> {
  let done = false;
  try {
    if (!response.body) throw interrupted(target.provider, "the provider sent no stream body");
    const lines = readBodyLines(response.body, {
      provider: target.provider,
      idleTimeoutMs: target.timeoutMs,
      signal,
    });
    let data: string[] = [];
    const dispatch = (): ChatCompletionChunk | "done" | null => {
      if (data.length === 0) return null;
      const payload = data.join("\n");
      data = [];
      if (payload.trim() === "[DONE]") return "done";
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload);
      } catch (cause) {
        throw new LlmError(`malformed stream event from the provider: ${payload.slice(0, 200)}`, {
          kind: "upstream",
          provider: target.provider,
          cause,
        });
      }
      const streamError = (parsed as { error?: unknown } | null)?.error;
      if (streamError !== undefined && streamError !== null) {
        throw streamErrorOf(target.provider, streamError);
      }
      return parsed as ChatCompletionChunk;
    };
    for await (const line of lines) {
      if (line === "") {
        const event = dispatch();
        if (event === "done") {
          done = true;
          return;
        }
        if (event) yield event;
      } else if (line.startsWith("data:")) {
        data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      }
      // ":" comments (OpenRouter's keep-alives), "event:", "id:", "retry:" carry nothing for us
    }
    const last = dispatch(); // a final event without its blank line
    if (last === "done") {
      done = true;
      return;
    }
    if (last) yield last;
    throw interrupted(target.provider, "the provider's stream ended before data: [DONE]");
  } finally {
    if (!done) controller.abort();
  }
}

function interrupted(provider: LlmProvider, message: string): LlmError {
  return new LlmError(message, { kind: "stream_interrupted", provider, retryable: true });
}

function streamErrorOf(provider: LlmProvider, error: unknown): LlmError {
  const body = error as { message?: unknown; code?: unknown };
  const message = typeof error === "string"
    ? error
    : typeof body.message === "string"
    ? body.message
    : JSON.stringify(error);
  const status = typeof body.code === "number" && body.code >= 400 && body.code < 600 ? body.code : null;
  return new LlmError(message, { kind: "upstream", provider, status, retryable: false });
}

/** Maps the SDK's errors to `LlmError`, keeping the provider's own reason as the message. */
export function toLlmError(error: unknown, target: OpenAiTarget, signal?: AbortSignal): LlmError {
  const provider = target.provider;
  if (error instanceof LlmError) return error;
  if (error instanceof OpenAI.APIUserAbortError || (signal?.aborted && !(error instanceof OpenAI.APIError))) {
    return abortedError(provider, signal);
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new LlmError(
      `${provider} did not answer within ${target.timeoutMs} ms (${target.maxRetries + 1} attempts)`,
      { kind: "timeout", provider, retryable: true, cause: error },
    );
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new LlmError(
      `cannot reach ${provider} at ${target.baseURL}: ${errorText(error.cause ?? error)}`,
      { kind: "connection", provider, retryable: true, cause: error },
    );
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const status = error.status;
    const body = error.error as { message?: unknown } | string | undefined;
    const reason = typeof body === "string"
      ? body
      : typeof body?.message === "string"
      ? body.message
      : error.message.replace(new RegExp(`^${status} `), "");
    return new LlmError(reason, {
      kind: "upstream",
      provider,
      status,
      retryable: isRetryableStatus(status),
      retryAfterMs: error.headers ? parseRetryAfter(error.headers) : null,
      cause: error,
    });
  }
  return new LlmError(`${provider} request failed: ${errorText(error)}`, {
    kind: "upstream",
    provider,
    cause: error,
  });
}
