/**
 * The HTTP layer both LLM adapters stand on (llm_openai.ts: OpenAI-compatible APIs, llm_ollama.ts:
 * Ollama's native API): one JSON POST with a timeout, retries with backoff, and the mapping of transport
 * failures and HTTP error answers to `LlmError`. Nothing here knows a wire protocol.
 *
 * ```ts
 * const target = { ...config, label: "Ollama" };           // the label names the server in messages
 * const deadline = callDeadline(target);                   // one per LLM call, retries included
 * const json = await postJson<T>(target, "/api/chat", body, { signal, deadline });
 * const attempt = await postStream(target, "/api/chat", body, { signal, deadline });
 * // read attempt.response.body (with readBodyLines and the same deadline), attempt.abort() to stop
 * ```
 *
 * Time: each attempt may take `timeoutMs` (`LLM_TIMEOUT_MS`; for streams until the response headers),
 * and never more than what is left of the call's `totalTimeoutMs` (`LLM_TOTAL_TIMEOUT_MS`), which
 * bounds the whole call: attempts, waits between them and, for streams, the body too (see
 * `readBodyLines`). A retry whose wait would outlast the deadline is not made: the last error is thrown.
 *
 * Retries: 408/409/429/5xx answers (unless `x-should-retry: false`; any status with
 * `x-should-retry: true`), timeouts and connection errors, up to `maxRetries` times, after the upstream's
 * `retry-after-ms` / `Retry-After` (up to 60 s) or else `backoffDelay`. The error body's reason (OpenAI's
 * `{"error": {"message"}}`, Ollama's `{"error": "..."}`, or the text) becomes the `LlmError` message.
 * A key is sent as `Authorization: Bearer`; without one no Authorization header is sent.
 */

import {
  abortedError,
  errorText,
  isRetryableStatus,
  type LlmConfig,
  LlmError,
  type LlmProvider,
  parseRetryAfter,
} from "./llm_config.ts";

/** What one server needs: its configuration and the label that names it in error messages. */
export interface HttpTarget
  extends Pick<LlmConfig, "provider" | "baseURL" | "apiKey" | "timeoutMs" | "maxRetries" | "totalTimeoutMs"> {
  /** "Ollama", or the provider's name ("openai", "groq", ...). */
  readonly label: string;
}

/** The caller's side of one LLM call. */
export interface CallOptions {
  /** Cancels the call (attempts and the waits between them); errors then have kind `aborted`. */
  signal?: AbortSignal;
  /** `performance.now()` value by which the whole call must be done: `callDeadline(target)`. */
  deadline: number;
}

/** The deadline of a call starting now: `totalTimeoutMs` from now, on the `performance.now()` clock. */
export function callDeadline(target: Pick<LlmConfig, "totalTimeoutMs">): number {
  return performance.now() + target.totalTimeoutMs;
}

// ---------------------------------------------------------------------------------------------------
// Retry with backoff
// ---------------------------------------------------------------------------------------------------

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** Cancels the waiting between attempts. */
  signal?: AbortSignal;
  /** No attempt starts, and no wait is made, past this `performance.now()` value (default: none). */
  deadline?: number;
  provider: LlmProvider;
  /** First backoff delay; doubles per retry (default 500 ms, like OpenAI's SDKs). */
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
 * else `backoffDelay`. `attempt` gets its number (0-based) and the time left before the deadline
 * (Infinity without one); when the wait before a retry would reach the deadline, the last error is thrown.
 */
export async function withRetry<T>(
  attempt: (n: number, leftMs: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const deadline = options.deadline ?? Infinity;
  for (let n = 0;; n++) {
    try {
      return await attempt(n, deadline - performance.now());
    } catch (error) {
      if (!(error instanceof LlmError) || !error.retryable || n >= options.maxRetries) throw error;
      const delayMs = error.retryAfterMs !== null && error.retryAfterMs <= MAX_RETRY_AFTER_MS
        ? error.retryAfterMs
        : backoffDelay(n, options.baseDelayMs, options.maxDelayMs);
      if (performance.now() + delayMs >= deadline) throw error; // no time left for another attempt
      options.onRetry?.({ attempt: n + 1, delayMs, error });
      await sleep(delayMs, options.signal, options.provider);
    }
  }
}

/** Waits `ms`; the signal cuts the wait short with an `aborted` LlmError. */
export function sleep(ms: number, signal: AbortSignal | undefined, provider: LlmProvider): Promise<void> {
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
// One attempt
// ---------------------------------------------------------------------------------------------------

/** One attempt's request; for streams the timeout ends when the headers arrive. */
export interface Attempt {
  response: Response;
  /** Stops the attempt's timer (streams: once the headers are in). */
  settle(): void;
  /** Aborts the underlying fetch (stream consumers that stop early). */
  abort(): void;
  /** True when the attempt's own timer fired. */
  timedOut(): boolean;
}

/** Which attempt this is and how long it may take. */
export interface AttemptOptions {
  signal?: AbortSignal;
  /** 0-based. */
  attempt: number;
  /** This attempt's time: `timeoutMs`, or less when the call's deadline is nearer. */
  timeoutMs: number;
}

/** The request headers: JSON both ways, the key (if any) as a bearer token, nothing else. */
export function requestHeaders(target: Pick<HttpTarget, "apiKey">): Record<string, string> {
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  return headers;
}

/**
 * POSTs `body` as JSON to `baseURL + path`. Resolves with a 2xx response (its body unread, the timer
 * still running until `settle()`); rejects with the `LlmError` of a non-2xx answer (its body read for the
 * reason) or of the transport failure.
 */
export async function startAttempt(
  target: HttpTarget,
  path: string,
  body: unknown,
  options: AttemptOptions,
): Promise<Attempt> {
  const { signal } = options;
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, Math.max(0, options.timeoutMs));
  const onCallerAbort = () => controller.abort();
  signal?.addEventListener("abort", onCallerAbort, { once: true });
  const settle = () => {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onCallerAbort);
  };

  let response: Response;
  try {
    if (signal?.aborted) throw abortedError(target.provider, signal);
    response = await fetch(`${target.baseURL}${path}`, {
      method: "POST",
      headers: requestHeaders(target),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
  } catch (cause) {
    settle();
    throw transportError(target, cause, timedOut ? options : null, signal);
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
      error = transportError(target, cause, timedOut ? options : null, signal);
    } finally {
      settle();
    }
    throw error;
  }
  return attempt;
}

/**
 * The `LlmError` of a request that got no (complete) answer: `timeout` when the attempt's timer fired
 * (`timedOut`: that attempt's options), `aborted` when the caller's signal did, else `connection`.
 */
export function transportError(
  target: HttpTarget,
  cause: unknown,
  timedOut: AttemptOptions | null,
  signal: AbortSignal | undefined,
): LlmError {
  if (cause instanceof LlmError) return cause;
  if (timedOut) {
    const which = `attempt ${timedOut.attempt + 1} of ${target.maxRetries + 1}`;
    const message = timedOut.timeoutMs < target.timeoutMs
      ? `${target.label} did not answer within the ${target.totalTimeoutMs} ms a call may take in all ` +
        `(LLM_TOTAL_TIMEOUT_MS; ${which})`
      : `${target.label} did not answer within ${target.timeoutMs} ms (${which})`;
    return new LlmError(message, { kind: "timeout", provider: target.provider, retryable: true, cause });
  }
  if (signal?.aborted) return abortedError(target.provider, signal);
  return new LlmError(`cannot reach ${target.label} at ${target.baseURL}: ${errorText(cause)}`, {
    kind: "connection",
    provider: target.provider,
    retryable: true,
    cause,
  });
}

/**
 * The `LlmError` of a non-2xx answer: the provider's reason as the message (`error.message` or `error`
 * of a JSON body, else the text), retryable per `isRetryableStatus` unless `x-should-retry` says.
 */
export async function statusError(target: HttpTarget, response: Response): Promise<LlmError> {
  const text = await response.text();
  let reason = text.trim();
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed?.error === "string") reason = parsed.error;
    else if (typeof parsed?.error?.message === "string") reason = parsed.error.message;
  } catch {
    // not JSON: keep the text
  }
  const shouldRetry = response.headers.get("x-should-retry");
  return new LlmError(reason || `${target.label} answered HTTP ${response.status}`, {
    kind: "upstream",
    provider: target.provider,
    status: response.status,
    retryable: shouldRetry === "true" ||
      (shouldRetry !== "false" && isRetryableStatus(response.status)),
    retryAfterMs: parseRetryAfter(response.headers),
  });
}

// ---------------------------------------------------------------------------------------------------
// Calls
// ---------------------------------------------------------------------------------------------------

/** Each attempt's options: its number, and `timeoutMs` or the time left before the deadline. */
function attemptOptions(target: HttpTarget, n: number, leftMs: number, signal?: AbortSignal): AttemptOptions {
  return { signal, attempt: n, timeoutMs: Math.min(target.timeoutMs, leftMs) };
}

/** Sends a JSON request with timeout and retries and returns the parsed JSON body. */
export async function postJson<T>(
  target: HttpTarget,
  path: string,
  body: unknown,
  options: CallOptions,
): Promise<T> {
  const { signal, deadline } = options;
  return await withRetry(async (n, leftMs) => {
    const attemptOpts = attemptOptions(target, n, leftMs, signal);
    const attempt = await startAttempt(target, path, body, attemptOpts);
    try {
      return await attempt.response.json() as T;
    } catch (cause) {
      if (attempt.timedOut() || signal?.aborted) {
        throw transportError(target, cause, attempt.timedOut() ? attemptOpts : null, signal);
      }
      throw new LlmError(`unreadable answer from ${target.label}: ${errorText(cause)}`, {
        kind: "upstream",
        provider: target.provider,
        status: attempt.response.status,
        retryable: false,
        cause,
      });
    } finally {
      attempt.settle();
    }
  }, { maxRetries: target.maxRetries, signal, deadline, provider: target.provider });
}

/** Sends a streaming request with retries until the headers arrive; the body is left to the caller. */
export async function postStream(
  target: HttpTarget,
  path: string,
  body: unknown,
  options: CallOptions,
): Promise<Attempt> {
  const { signal, deadline } = options;
  const attempt = await withRetry(
    (n, leftMs) => startAttempt(target, path, body, attemptOptions(target, n, leftMs, signal)),
    { maxRetries: target.maxRetries, signal, deadline, provider: target.provider },
  );
  attempt.settle();
  return attempt;
}
