/**
 * OpenAI-compatible providers (OpenAI, xAI, Groq, OpenRouter, Ollama's /v1, any `openai-compatible`
 * server): `POST {baseURL}/chat/completions` over llm_http.ts, JSON or SSE.
 *
 * A thin client instead of the `openai` SDK (whose npm folder alone would outgrow the hosted 20 MB
 * bundle). It keeps what the SDK did for us: the per-attempt timeout, retries on 408/409/429/5xx,
 * timeouts and connection errors with backoff (0.5 s doubling up to 8 s, 25 % jitter) or the
 * upstream's `retry-after-ms` / `Retry-After` (up to 60 s), `x-should-retry`, and the provider's own
 * reason (`{"error": {"message"}}`) as the error message. Nothing is read from the environment (no
 * `OPENAI_BASE_URL`, `OPENAI_ORG_ID`, ...): the base URL and the key come from the configuration, and
 * without a key no Authorization header is sent. The whole call, retries included, ends by
 * `LLM_TOTAL_TIMEOUT_MS`.
 *
 * Streams ask for `stream_options: {include_usage: true}`, so the last chunk before `[DONE]` carries
 * `usage`; a body that ends without `data: [DONE]` is `stream_interrupted`, an error frame
 * (`data: {"error": ...}`) throws the provider's message.
 */

import {
  type ChatCompletionChunk,
  type ChatRequest,
  type FinishReason,
  type LlmConfig,
  LlmError,
  type LlmProvider,
  type LlmResult,
  type LlmUsage,
  readBodyLines,
} from "./llm_config.ts";
import { type Attempt, callDeadline, type HttpTarget, postJson, postStream } from "./llm_http.ts";

export type OpenAiTarget = Pick<
  LlmConfig,
  "provider" | "baseURL" | "apiKey" | "timeoutMs" | "maxRetries" | "totalTimeoutMs"
>;

/** A request whose model has already been checked against the allow-list. */
export type ResolvedChat = ChatRequest & { model: string };

/** The request body of `/chat/completions` (the fields this project sends). */
export interface ChatCompletionRequest {
  model: string;
  messages: { role: ChatRequest["messages"][number]["role"]; content: string }[];
  temperature?: number;
  top_p?: number;
  /** Every provider but OpenAI. */
  max_tokens?: number;
  /** OpenAI (which deprecated `max_tokens`; its reasoning models reject it). */
  max_completion_tokens?: number;
  stop?: string[];
  seed?: number;
  stream?: true;
  stream_options?: { include_usage: true };
}

/** An OpenAI `chat.completion` answer (the fields this project reads). */
export interface ChatCompletion {
  id?: string;
  object?: "chat.completion";
  created?: number;
  model?: string;
  choices?: { index?: number; message?: { content?: string | null }; finish_reason?: FinishReason | null }[];
  usage?: Partial<LlmUsage> | null;
}

const PATH = "/chat/completions";

/** Messages name the server by its provider ("openai", "groq", "openai-compatible", ...). */
function http(target: OpenAiTarget): HttpTarget {
  return { ...target, label: target.provider };
}

/** The JSON body for a request: only the known fields, `max_completion_tokens` for OpenAI itself. */
export function requestBody(
  target: Pick<OpenAiTarget, "provider">,
  req: ResolvedChat,
): ChatCompletionRequest {
  const body: ChatCompletionRequest = {
    model: req.model,
    messages: req.messages.map((m) => ({ role: m.role, content: m.content })),
  };
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.top_p !== undefined) body.top_p = req.top_p;
  if (req.max_tokens !== undefined) {
    if (target.provider === "openai") body.max_completion_tokens = req.max_tokens;
    else body.max_tokens = req.max_tokens;
  }
  if (req.stop !== undefined) body.stop = req.stop;
  if (req.seed !== undefined) body.seed = req.seed;
  return body;
}

/** `POST {baseURL}/chat/completions` without streaming. */
export async function openaiChat(target: OpenAiTarget, req: ResolvedChat): Promise<LlmResult> {
  const started = performance.now();
  const completion = await postJson<ChatCompletion>(http(target), PATH, requestBody(target, req), {
    signal: req.signal,
    deadline: callDeadline(target),
  });
  const choice = completion?.choices?.[0];
  const usage = completion?.usage;
  return {
    text: choice?.message?.content ?? "",
    model: completion?.model ?? req.model,
    provider: target.provider,
    finish_reason: choice?.finish_reason ?? "stop",
    usage: {
      prompt_tokens: usage?.prompt_tokens ?? 0,
      completion_tokens: usage?.completion_tokens ?? 0,
      total_tokens: usage?.total_tokens ?? (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0),
    },
    latency_ms: Math.round(performance.now() - started),
    id: completion?.id,
    created: completion?.created,
    raw: completion,
  };
}

/**
 * `POST {baseURL}/chat/completions` with `stream: true` and `stream_options.include_usage`. Resolves once
 * the provider accepted the request (errors before that, retries included, reject here); the chunks
 * then arrive as they are sent.
 */
export async function openaiChatStream(
  target: OpenAiTarget,
  req: ResolvedChat,
): Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>> {
  const deadline = callDeadline(target);
  const body: ChatCompletionRequest = {
    ...requestBody(target, req),
    stream: true,
    stream_options: { include_usage: true },
  };
  const attempt = await postStream(http(target), PATH, body, { signal: req.signal, deadline });
  return sseToChunks(target, attempt, deadline, req.signal);
}

/**
 * Parses the SSE body: `data:` lines (joined when an event has several), `:` comments and `event:`
 * fields skipped, `data: [DONE]` ends the stream; an error frame (`data: {"error": ...}`) throws;
 * a body ending before `[DONE]` throws `stream_interrupted`.
 */
async function* sseToChunks(
  target: OpenAiTarget,
  attempt: Attempt,
  deadline: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<ChatCompletionChunk, void, undefined> {
  let done = false;
  try {
    const body = attempt.response.body;
    if (!body) throw interrupted(target.provider, "the provider sent no stream body");
    const lines = readBodyLines(body, {
      provider: target.provider,
      idleTimeoutMs: target.timeoutMs,
      deadline: { at: deadline, totalTimeoutMs: target.totalTimeoutMs },
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
    if (!done) attempt.abort();
  }
}

function interrupted(provider: LlmProvider, message: string): LlmError {
  return new LlmError(message, { kind: "stream_interrupted", provider, retryable: true });
}

/** An error frame's `LlmError`: its message (or the frame as JSON), its `code` when it is an HTTP status. */
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
