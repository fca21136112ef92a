/**
 * LLM configuration and the shared contract of the LLM adapters.
 *
 * This is the dependency-free base module of the LLM layer:
 *
 *   llm_config.ts  provider presets, `loadLlmConfig`, `resolveModel`, and the types and errors that
 *                  every adapter shares (`LlmError`, `LlmResult`, ...), plus the body line reader that
 *                  gives streams their `timeout` / `stream_interrupted` semantics
 *   llm_http.ts    one JSON POST with timeout, retries and backoff, HTTP errors as `LlmError`
 *   llm_openai.ts  OpenAI-compatible providers (`/chat/completions`, JSON and SSE) over llm_http.ts
 *   llm_ollama.ts  Ollama's native API (`/api/chat`, `/api/generate`, JSON and NDJSON) over llm_http.ts
 *   llm.ts         `createLlm`: the one interface callers use (re-exports everything here)
 *
 * Configuration comes only from the environment of the edge functions:
 *
 * | variable               | meaning                                                                  |
 * | ---------------------- | ------------------------------------------------------------------------ |
 * | `LLM_PROVIDER`         | `ollama`, `openai`, `xai`, `groq`, `openrouter` or `openai-compatible`;  |
 * |                        | unset: no LLM configured (`loadLlmConfig` returns null)                  |
 * | `LLM_BASE_URL`         | base URL; required for `openai-compatible`, overrides a preset's         |
 * | `LLM_API_KEY`          | key, else the provider's usual variable (`OPENAI_API_KEY`, ...)          |
 * | `LLM_MODEL`            | default model (preset's default when unset)                              |
 * | `LLM_ALLOWED_MODELS`   | comma list a caller may choose from (the default model is always in it)  |
 * | `LLM_TIMEOUT_MS`       | per-attempt timeout, and idle timeout between stream chunks (60000)      |
 * | `LLM_MAX_RETRIES`      | retries on 408/409/429/5xx, timeouts and connection errors (2)           |
 * | `LLM_TOTAL_TIMEOUT_MS` | deadline of one whole call: attempts, waits between them, a stream's     |
 * |                        | body (140000, at most 150000: hosted requests end at 150 s); each        |
 * |                        | attempt gets `min(LLM_TIMEOUT_MS, time left)`                            |
 * | `OLLAMA_URL`           | Ollama base URL (`http://localhost:11434`)                               |
 * | `OLLAMA_API`           | `native` (/api/chat) or `openai` (Ollama's /v1); default `native`, or    |
 * |                        | `openai` when `LLM_BASE_URL` ends in `/v1`                               |
 *
 * Keys and URLs are never taken from a request: a caller may only pick a model among the allowed ones.
 */

// ---------------------------------------------------------------------------------------------------
// Provider presets
// ---------------------------------------------------------------------------------------------------

/** Provider names accepted in `LLM_PROVIDER`. */
export const LLM_PROVIDERS = ["ollama", "openai", "xai", "groq", "openrouter", "openai-compatible"] as const;
export type LlmProvider = typeof LLM_PROVIDERS[number];

/** Which wire protocol an adapter speaks. */
export type LlmKind = "openai" | "ollama";

/** One small, same-shaped description per provider. */
export interface ProviderPreset {
  readonly provider: LlmProvider;
  readonly kind: LlmKind;
  /** Default base URL; null when it must be configured (`openai-compatible`). */
  readonly baseURL: string | null;
  /** Variables the API key is read from, in order (`LLM_API_KEY` first). */
  readonly apiKeyEnv: readonly string[];
  /** Whether a request without a key is pointless (hosted APIs). */
  readonly requiresApiKey: boolean;
  /** Model used when `LLM_MODEL` is unset; null when it must be configured. */
  readonly defaultModel: string | null;
}

export const DEFAULT_OLLAMA_URL = "http://localhost:11434";
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RETRIES = 2;
/** Fits the hosted Edge Runtime's 150 s request limit with room to answer and record the call. */
export const DEFAULT_TOTAL_TIMEOUT_MS = 140_000;
export const MAX_TOTAL_TIMEOUT_MS = 150_000;

export const PROVIDER_PRESETS: Readonly<Record<LlmProvider, ProviderPreset>> = {
  openai: {
    provider: "openai",
    kind: "openai",
    baseURL: "https://api.openai.com/v1",
    apiKeyEnv: ["LLM_API_KEY", "OPENAI_API_KEY"],
    requiresApiKey: true,
    defaultModel: "gpt-4o-mini",
  },
  xai: {
    provider: "xai",
    kind: "openai",
    baseURL: "https://api.x.ai/v1",
    apiKeyEnv: ["LLM_API_KEY", "XAI_API_KEY"],
    requiresApiKey: true,
    defaultModel: "grok-3-mini",
  },
  groq: {
    provider: "groq",
    kind: "openai",
    baseURL: "https://api.groq.com/openai/v1",
    apiKeyEnv: ["LLM_API_KEY", "GROQ_API_KEY"],
    requiresApiKey: true,
    defaultModel: "llama-3.1-8b-instant",
  },
  openrouter: {
    provider: "openrouter",
    kind: "openai",
    baseURL: "https://openrouter.ai/api/v1",
    apiKeyEnv: ["LLM_API_KEY", "OPENROUTER_API_KEY"],
    requiresApiKey: true,
    defaultModel: "openai/gpt-4o-mini",
  },
  ollama: {
    provider: "ollama",
    kind: "ollama",
    baseURL: DEFAULT_OLLAMA_URL, // OLLAMA_URL overrides
    apiKeyEnv: ["LLM_API_KEY", "OLLAMA_API_KEY"], // optional: Ollama behind an authenticating proxy
    requiresApiKey: false,
    defaultModel: "codellama",
  },
  "openai-compatible": {
    provider: "openai-compatible",
    kind: "openai",
    baseURL: null, // LLM_BASE_URL is required
    apiKeyEnv: ["LLM_API_KEY"], // optional: local servers (vLLM, llama.cpp, LM Studio) often need none
    requiresApiKey: false,
    defaultModel: null, // LLM_MODEL is required
  },
};

// ---------------------------------------------------------------------------------------------------
// Loaded configuration
// ---------------------------------------------------------------------------------------------------

/** The resolved configuration of the one LLM the functions talk to. Holds the key: never log it whole. */
export interface LlmConfig {
  readonly provider: LlmProvider;
  readonly kind: LlmKind;
  /** Base URL without trailing slash: `.../v1` for OpenAI-kind, Ollama's root for native Ollama. */
  readonly baseURL: string;
  readonly apiKey: string | null;
  /** The variable the key was read from (for diagnostics), or null. */
  readonly apiKeyEnv: string | null;
  readonly defaultModel: string;
  /** Models a caller may choose; always contains `defaultModel`. */
  readonly allowedModels: readonly string[];
  /** Per-attempt request timeout; also the longest silence tolerated between stream chunks. */
  readonly timeoutMs: number;
  /** Retries after the first attempt for retryable failures. */
  readonly maxRetries: number;
  /**
   * Deadline of one whole call, retries, waits and a stream's body included; each attempt gets
   * `min(timeoutMs, time left)`.
   */
  readonly totalTimeoutMs: number;
}

/** Anything with `get(name)`: `Deno.env`, a `Map`, ... */
export interface EnvSource {
  get(name: string): string | undefined;
}

/** The configuration in the environment is unusable; the message says which variable and why. */
export class LlmConfigError extends Error {
  override name = "LlmConfigError";
  constructor(message: string, readonly variable?: string) {
    super(message);
  }
}

/** A caller asked for a model that is not in `LLM_ALLOWED_MODELS`. Maps to HTTP 400. */
export class ModelNotAllowedError extends Error {
  override name = "ModelNotAllowedError";
  readonly status = 400;
  constructor(readonly requested: string, readonly allowed: readonly string[]) {
    super(`model "${requested}" is not allowed; allowed models: ${allowed.join(", ")}`);
  }
}

function read(env: EnvSource, name: string): string | undefined {
  const value = env.get(name)?.trim();
  return value ? value : undefined;
}

function normalizeBaseURL(value: string, variable: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new LlmConfigError(`${variable} is not a valid URL: "${value}"`, variable);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new LlmConfigError(`${variable} must be an http(s) URL, got "${value}"`, variable);
  }
  if (url.search || url.hash) {
    throw new LlmConfigError(`${variable} must not have a query or fragment: "${value}"`, variable);
  }
  return url.href.replace(/\/+$/, "");
}

function readInteger(env: EnvSource, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new LlmConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`, name);
  }
  return value;
}

function parseModelList(raw: string | undefined): string[] {
  if (!raw) return [];
  return [...new Set(raw.split(",").map((m) => m.trim()).filter((m) => m.length > 0))];
}

/**
 * Reads and validates the LLM configuration. Returns null when `LLM_PROVIDER` is unset (callers then
 * fall back to retrieval-only answers); throws `LlmConfigError` when it is set but unusable.
 */
export function loadLlmConfig(env: EnvSource = Deno.env): LlmConfig | null {
  const rawProvider = read(env, "LLM_PROVIDER");
  if (rawProvider === undefined) return null;
  const providerName = rawProvider.toLowerCase();
  if (!(LLM_PROVIDERS as readonly string[]).includes(providerName)) {
    throw new LlmConfigError(
      `LLM_PROVIDER "${rawProvider}" is not supported; use one of: ${LLM_PROVIDERS.join(", ")}`,
      "LLM_PROVIDER",
    );
  }
  const preset = PROVIDER_PRESETS[providerName as LlmProvider];

  const explicitBase = read(env, "LLM_BASE_URL");
  let kind: LlmKind = preset.kind;
  let baseURL: string;
  if (preset.provider === "ollama") {
    const ollamaURL = normalizeBaseURL(read(env, "OLLAMA_URL") ?? DEFAULT_OLLAMA_URL, "OLLAMA_URL");
    const explicit = explicitBase === undefined ? undefined : normalizeBaseURL(explicitBase, "LLM_BASE_URL");
    const ollamaApi = read(env, "OLLAMA_API")?.toLowerCase() ??
      (explicit?.endsWith("/v1") ? "openai" : "native");
    if (ollamaApi === "native") {
      kind = "ollama";
      baseURL = explicit?.replace(/\/v1$/, "") ?? ollamaURL;
    } else if (ollamaApi === "openai") {
      kind = "openai";
      baseURL = explicit ?? `${ollamaURL}/v1`;
    } else {
      throw new LlmConfigError(`OLLAMA_API must be "native" or "openai", got "${ollamaApi}"`, "OLLAMA_API");
    }
  } else if (explicitBase !== undefined) {
    baseURL = normalizeBaseURL(explicitBase, "LLM_BASE_URL");
  } else if (preset.baseURL !== null) {
    baseURL = preset.baseURL;
  } else {
    throw new LlmConfigError(
      `LLM_BASE_URL is required when LLM_PROVIDER is "${preset.provider}" (e.g. http://localhost:8000/v1)`,
      "LLM_BASE_URL",
    );
  }

  let apiKey: string | null = null;
  let apiKeyEnv: string | null = null;
  for (const name of preset.apiKeyEnv) {
    const value = read(env, name);
    if (value !== undefined) {
      apiKey = value;
      apiKeyEnv = name;
      break;
    }
  }
  if (apiKey === null && preset.requiresApiKey) {
    throw new LlmConfigError(
      `LLM_PROVIDER "${preset.provider}" needs an API key: set ${preset.apiKeyEnv.join(" or ")}`,
      preset.apiKeyEnv[0],
    );
  }

  const defaultModel = read(env, "LLM_MODEL") ?? preset.defaultModel;
  if (defaultModel === null) {
    throw new LlmConfigError(
      `LLM_MODEL is required when LLM_PROVIDER is "${preset.provider}"`,
      "LLM_MODEL",
    );
  }
  const allowedModels = [defaultModel, ...parseModelList(read(env, "LLM_ALLOWED_MODELS"))]
    .filter((m, i, all) => all.indexOf(m) === i);

  return {
    provider: preset.provider,
    kind,
    baseURL,
    apiKey,
    apiKeyEnv,
    defaultModel,
    allowedModels,
    timeoutMs: readInteger(env, "LLM_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 1, 3_600_000),
    maxRetries: readInteger(env, "LLM_MAX_RETRIES", DEFAULT_MAX_RETRIES, 0, 10),
    totalTimeoutMs: readInteger(
      env,
      "LLM_TOTAL_TIMEOUT_MS",
      DEFAULT_TOTAL_TIMEOUT_MS,
      1,
      MAX_TOTAL_TIMEOUT_MS,
    ),
  };
}

/**
 * The model to use for a request: the default when none is requested, the requested one when it is
 * allowed, otherwise throws `ModelNotAllowedError` (whose message lists the allowed models).
 */
export function resolveModel(
  config: Pick<LlmConfig, "defaultModel" | "allowedModels">,
  requested?: string | null,
): string {
  const model = requested?.trim();
  if (!model) return config.defaultModel;
  if (config.allowedModels.includes(model)) return model;
  throw new ModelNotAllowedError(model, config.allowedModels);
}

/** The configuration without its key, safe to log or return from a health endpoint. */
export function describeLlmConfig(config: LlmConfig): Omit<LlmConfig, "apiKey"> & { hasApiKey: boolean } {
  const { apiKey, ...rest } = config;
  return { ...rest, hasApiKey: apiKey !== null };
}

// ---------------------------------------------------------------------------------------------------
// Shared request / result types
// ---------------------------------------------------------------------------------------------------

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Sampling options common to all providers. `max_tokens` becomes Ollama's `num_predict`. */
export interface SamplingOptions {
  /** A model from `LLM_ALLOWED_MODELS`; the default model when omitted. */
  model?: string;
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  stop?: string[];
  seed?: number;
  /**
   * Extra Ollama `options` (num_ctx, top_k, repeat_penalty, ...), merged under the common ones.
   * Server-side only; ignored by OpenAI-kind providers. Never fill this from a request body wholesale.
   */
  ollamaOptions?: Record<string, unknown>;
  /** Cancels the request (e.g. the client went away); the error then has kind `aborted`. */
  signal?: AbortSignal;
}

export interface ChatRequest extends SamplingOptions {
  messages: ChatMessage[];
}

/** A single-prompt completion (Ollama's /api/generate; a one-message chat elsewhere). */
export interface GenerateRequest extends SamplingOptions {
  prompt: string;
  system?: string;
}

export interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "function_call";

/**
 * An OpenAI `chat.completion.chunk`: what streams yield, whatever the provider (Ollama's NDJSON is
 * mapped to it). Only the fields this project reads or writes are typed; an OpenAI-compatible
 * provider's chunk is passed on as it came, extra fields included.
 */
export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  /** Unix seconds. */
  created: number;
  model: string;
  /** Empty in the final usage chunk. */
  choices: ChatCompletionChunkChoice[];
  /** Set in the last chunk (OpenAI-kind: when `stream_options.include_usage` was asked). */
  usage?: LlmUsage | null;
  system_fingerprint?: string;
}

export interface ChatCompletionChunkChoice {
  index: number;
  delta: ChatCompletionDelta;
  finish_reason: FinishReason | null;
  logprobs?: unknown;
}

/** The increment of one choice: the role in the first chunk, then pieces of content. */
export interface ChatCompletionDelta {
  role?: "system" | "user" | "assistant" | "developer" | "tool";
  content?: string | null;
  refusal?: string | null;
}

export interface LlmResult {
  text: string;
  model: string;
  provider: LlmProvider;
  finish_reason: FinishReason;
  usage: LlmUsage;
  /** Wall time of the call, retries included. */
  latency_ms: number;
  /** Time to the first content chunk (streams only). */
  ttft_ms?: number;
  /** Upstream id (OpenAI-kind), reused by `toChatCompletion`. */
  id?: string;
  /** Upstream `created` (unix seconds) when known. */
  created?: number;
  /** The upstream response body (non-streaming calls). */
  raw?: unknown;
}

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

/**
 * - `upstream`: the provider answered with an error (status set when it was an HTTP error)
 * - `timeout`: no answer (or no stream data) within `LLM_TIMEOUT_MS`, or the call passed
 *   `LLM_TOTAL_TIMEOUT_MS`
 * - `connection`: the provider could not be reached
 * - `stream_interrupted`: a stream ended before its terminator (`[DONE]` / `done: true`)
 * - `aborted`: the caller's signal cancelled the request
 */
export type LlmErrorKind = "upstream" | "timeout" | "connection" | "stream_interrupted" | "aborted";

export interface LlmErrorInit {
  kind: LlmErrorKind;
  provider: LlmProvider;
  status?: number | null;
  retryable?: boolean;
  retryAfterMs?: number | null;
  cause?: unknown;
}

/** The one error type LLM calls throw (besides `ModelNotAllowedError` before any network I/O). */
export class LlmError extends Error {
  override name = "LlmError";
  readonly kind: LlmErrorKind;
  readonly provider: LlmProvider;
  /** Upstream HTTP status, or null (timeouts, connection errors, errors inside a stream). */
  readonly status: number | null;
  readonly retryable: boolean;
  /** What the upstream asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | null;

  /** `message` is the provider's reason, e.g. the `error.message` of an OpenAI error body. */
  constructor(message: string, init: LlmErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.provider = init.provider;
    this.status = init.status ?? null;
    this.retryable = init.retryable ?? false;
    this.retryAfterMs = init.retryAfterMs ?? null;
  }

  /**
   * The status an edge function should answer with: 429 when the provider rate-limited us (pass
   * `retryAfterMs` on as Retry-After), 504 on timeouts, 499 when the client aborted, else 502.
   */
  get httpStatus(): number {
    if (this.kind === "timeout") return 504;
    if (this.kind === "aborted") return 499;
    if (this.status === 429) return 429;
    return 502;
  }

  /** An OpenAI-shaped error body for HTTP responses and SSE error frames. */
  toJSON(): {
    error: { message: string; type: string; code: string; provider: string; status: number | null };
  } {
    return {
      error: {
        message: this.message,
        type: "llm_" + this.kind,
        code: this.status === null ? this.kind : `upstream_${this.status}`,
        provider: this.provider,
        status: this.status,
      },
    };
  }
}

/** Statuses worth retrying: request timeout, conflict/lock, rate limit, server errors. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** Parses `retry-after-ms` / `Retry-After` (seconds or HTTP date) into milliseconds, or null. */
export function parseRetryAfter(headers: Headers): number | null {
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const value = headers.get("retry-after");
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

// ---------------------------------------------------------------------------------------------------
// Stream body reading (shared by the SSE and NDJSON parsers)
// ---------------------------------------------------------------------------------------------------

export interface ReadLinesOptions {
  provider: LlmProvider;
  /** Longest silence tolerated between two reads; exceeded: `LlmError` kind `timeout`. */
  idleTimeoutMs: number;
  /**
   * The call's deadline (`performance.now()` value) and its length for messages: reached while
   * reading, the stream ends with `LlmError` kind `timeout`, even when data was still coming.
   */
  deadline?: { at: number; totalTimeoutMs: number };
  /** The caller's signal; aborted: `LlmError` kind `aborted`. */
  signal?: AbortSignal;
}

/**
 * Yields the lines (without `\n` / `\r\n`) of a streamed body as they arrive, the last one even
 * without a final newline. A body that fails while reading (connection reset) throws
 * `stream_interrupted`; whether a cleanly ended body was complete is for the protocol parser to decide.
 * Stopping the iteration early cancels the body.
 */
export async function* readBodyLines(
  body: ReadableStream<Uint8Array>,
  options: ReadLinesOptions,
): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let finished = false;
  let failed = false;
  try {
    while (true) {
      const next = await readWithDeadline(reader, options);
      if (next.done) break;
      buffer += decoder.decode(next.value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        yield line.endsWith("\r") ? line.slice(0, -1) : line;
      }
    }
    buffer += decoder.decode();
    if (buffer.length > 0) yield buffer.endsWith("\r") ? buffer.slice(0, -1) : buffer;
    finished = true;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    // Stopped by the consumer, usually at the protocol's terminator (`data: [DONE]`, `done: true`),
    // which the body's end follows at once: reading that end, rather than cancelling the body, lets the
    // HTTP connection serve the next call (as the SDKs do, which read every body to its end).
    if (!finished && (failed || buffer.trim() !== "" || !(await endsAtOnce(reader)))) {
      await reader.cancel().catch(() => {});
    }
    reader.releaseLock();
  }
}

/** How long a body may take to end after its consumer stopped, before it is cancelled. */
const END_GRACE_MS = 50;

/** Whether the body ends within `END_GRACE_MS` without sending anything more. */
async function endsAtOnce(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      reader.read().then((next) => next.done === true, () => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), END_GRACE_MS)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function readWithDeadline(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  options: ReadLinesOptions,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  const { provider, idleTimeoutMs, deadline, signal } = options;
  if (signal?.aborted) throw abortedError(provider, signal);
  const leftMs = deadline ? deadline.at - performance.now() : Infinity;
  const deadlineError = () =>
    new LlmError(
      `the call reached its deadline of ${deadline?.totalTimeoutMs} ms (LLM_TOTAL_TIMEOUT_MS) while streaming`,
      { kind: "timeout", provider, retryable: false },
    );
  if (leftMs <= 0) throw deadlineError();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        leftMs < idleTimeoutMs
          ? deadlineError()
          : new LlmError(`no data from the provider for ${idleTimeoutMs} ms while streaming`, {
            kind: "timeout",
            provider,
            retryable: true,
          }),
      );
    }, Math.min(idleTimeoutMs, leftMs));
    if (signal) {
      onAbort = () => reject(abortedError(provider, signal));
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([
      reader.read().catch((cause: unknown) => {
        if (signal?.aborted) throw abortedError(provider, signal);
        throw new LlmError(`the provider's stream broke off: ${errorText(cause)}`, {
          kind: "stream_interrupted",
          provider,
          retryable: true,
          cause,
        });
      }),
      stop,
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  }
}

/** The error for a request cancelled through the caller's signal. */
export function abortedError(provider: LlmProvider, signal?: AbortSignal): LlmError {
  const reason = signal?.reason;
  const detail = reason instanceof Error
    ? `: ${reason.message}`
    : typeof reason === "string"
    ? `: ${reason}`
    : "";
  return new LlmError(`request aborted by the caller${detail}`, { kind: "aborted", provider, cause: reason });
}

/** A readable description of any thrown value, including a nested cause. */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
