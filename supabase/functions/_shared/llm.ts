/**
 * The one LLM interface the edge functions use.
 *
 * ```ts
 * const llm = createLlmFromEnv();          // null when LLM_PROVIDER is unset: answer retrieval-only
 * const result = await llm.chat({ messages, model: body.model, signal: req.signal });
 * return Response.json(toChatCompletion(result));
 *
 * const stream = await llm.stream({ messages }); // upstream errors (401, 404, retries used up) throw here
 * return new Response(sseFromLlmStream(stream), { headers: { "content-type": "text/event-stream" } });
 * ```
 *
 * `model` may come from the caller: it is checked against `LLM_ALLOWED_MODELS` (`ModelNotAllowedError`,
 * HTTP 400) before any network I/O. Keys and URLs come only from the configuration. Failures throw
 * `LlmError` ({ kind, status, provider, retryable, message }); `httpStatus` and `toJSON()` turn it into
 * a response.
 */

import {
  type ChatCompletionChunk,
  type ChatMessage,
  type ChatRequest,
  type EnvSource,
  type FinishReason,
  type GenerateRequest,
  type LlmConfig,
  LlmError,
  type LlmKind,
  type LlmProvider,
  type LlmResult,
  type LlmUsage,
  loadLlmConfig,
  resolveModel,
  type SamplingOptions,
} from "./llm_config.ts";
import { llmFailureMessage, logWithId } from "./http.ts";
import { openaiChat, openaiChatStream } from "./llm_openai.ts";
import { ollamaChat, ollamaChatStream, ollamaGenerate, ollamaGenerateStream } from "./llm_ollama.ts";

export * from "./llm_config.ts";

/** A running completion: iterate it for OpenAI `chat.completion.chunk`s (usage in the last one). */
export interface LlmStream extends AsyncIterable<ChatCompletionChunk> {
  readonly provider: LlmProvider;
  /** The model that was requested (the chunks carry the one the provider reports). */
  readonly model: string;
  /**
   * Settles when the iteration ends: the accumulated text, usage, finish reason, latency and time to
   * first token, or the stream's error. Does not consume the stream: ask for it before or while
   * iterating (e.g. to record the call once a proxied stream is done).
   */
  result(): Promise<LlmResult>;
  /** Stops the stream and closes the upstream connection. */
  cancel(): Promise<void>;
}

export interface Llm {
  readonly provider: LlmProvider;
  readonly kind: LlmKind;
  readonly defaultModel: string;
  readonly allowedModels: readonly string[];
  /** The model a request would use; throws `ModelNotAllowedError`. */
  resolveModel(requested?: string | null): string;
  chat(req: ChatRequest): Promise<LlmResult>;
  stream(req: ChatRequest): Promise<LlmStream>;
  /** A single prompt: Ollama's /api/generate, elsewhere a chat of [system?, user]. */
  generate(req: GenerateRequest): Promise<LlmResult>;
  generateStream(req: GenerateRequest): Promise<LlmStream>;
}

const ROLES = new Set(["system", "user", "assistant"]);

/** Copies only role and content, so nothing else a caller put in a message reaches the provider. */
function cleanMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new TypeError("messages must be a non-empty array");
  }
  return messages.map((m, i) => {
    const { role, content } = (m ?? {}) as { role?: unknown; content?: unknown };
    if (typeof role !== "string" || !ROLES.has(role)) {
      throw new TypeError(`messages[${i}].role must be one of: ${[...ROLES].join(", ")}`);
    }
    if (typeof content !== "string") throw new TypeError(`messages[${i}].content must be a string`);
    return { role: role as ChatMessage["role"], content };
  });
}

function optionalNumber(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new TypeError(`${name} must be a number`);
  return value;
}

/**
 * Copies only the known sampling fields, type-checked (a request object may carry anything at run
 * time, and a provider's 400 for a bad value would otherwise surface as our 502).
 */
function cleanSampling(config: LlmConfig, req: SamplingOptions): SamplingOptions & { model: string } {
  if (req.stop !== undefined && (!Array.isArray(req.stop) || !req.stop.every((s) => typeof s === "string"))) {
    throw new TypeError("stop must be an array of strings");
  }
  return {
    model: resolveModel(config, req.model),
    temperature: optionalNumber(req.temperature, "temperature"),
    top_p: optionalNumber(req.top_p, "top_p"),
    max_tokens: optionalNumber(req.max_tokens, "max_tokens"),
    stop: req.stop,
    seed: optionalNumber(req.seed, "seed"),
    ollamaOptions: req.ollamaOptions,
    signal: req.signal,
  };
}

function cleanChat(config: LlmConfig, req: ChatRequest): ChatRequest & { model: string } {
  const messages = cleanMessages(req.messages);
  return { ...cleanSampling(config, req), messages };
}

function cleanGenerate(config: LlmConfig, req: GenerateRequest): GenerateRequest & { model: string } {
  if (typeof req.prompt !== "string") throw new TypeError("prompt must be a string");
  if (req.system !== undefined && typeof req.system !== "string") {
    throw new TypeError("system must be a string");
  }
  return { ...cleanSampling(config, req), prompt: req.prompt, system: req.system };
}

function generateAsChat(req: GenerateRequest & { model: string }): ChatRequest & { model: string } {
  const { prompt, system, ...sampling } = req;
  const messages: ChatMessage[] = system ? [{ role: "system", content: system }] : [];
  messages.push({ role: "user", content: prompt });
  return { ...sampling, messages };
}

/** Builds the client for a loaded configuration. */
export function createLlm(config: LlmConfig): Llm {
  const openai = config.kind === "openai";

  /** Opens a stream with a signal of our own too, so `cancel()` can stop it even mid-read. */
  const openStream = async <R extends { model: string; signal?: AbortSignal }>(
    req: R,
    open: (req: R) => Promise<AsyncGenerator<ChatCompletionChunk, void, undefined>>,
  ): Promise<LlmStream> => {
    const started = performance.now();
    const stopper = new AbortController();
    const signal = req.signal ? AbortSignal.any([req.signal, stopper.signal]) : stopper.signal;
    const chunks = await open({ ...req, signal });
    return new AccumulatingStream(
      config.provider,
      req.model,
      started,
      chunks,
      () => stopper.abort("cancelled"),
    );
  };

  return {
    provider: config.provider,
    kind: config.kind,
    defaultModel: config.defaultModel,
    allowedModels: config.allowedModels,
    resolveModel: (requested) => resolveModel(config, requested),
    async chat(req) {
      const clean = cleanChat(config, req);
      return openai ? await openaiChat(config, clean) : await ollamaChat(config, clean);
    },
    async stream(req) {
      const clean = cleanChat(config, req);
      return await openStream(
        clean,
        (r) => openai ? openaiChatStream(config, r) : ollamaChatStream(config, r),
      );
    },
    async generate(req) {
      const clean = cleanGenerate(config, req);
      return openai ? await openaiChat(config, generateAsChat(clean)) : await ollamaGenerate(config, clean);
    },
    async generateStream(req) {
      const clean = cleanGenerate(config, req);
      return await openStream(
        clean,
        (r) => openai ? openaiChatStream(config, generateAsChat(r)) : ollamaGenerateStream(config, r),
      );
    },
  };
}

/** `createLlm(loadLlmConfig(env))`, or null when `LLM_PROVIDER` is unset. */
export function createLlmFromEnv(env: EnvSource = Deno.env): Llm | null {
  const config = loadLlmConfig(env);
  return config ? createLlm(config) : null;
}

/** Wraps a chunk source, accumulating what `result()` reports. Iterable once. */
class AccumulatingStream implements LlmStream {
  #source: AsyncGenerator<ChatCompletionChunk, void, undefined>;
  #started: number;
  #abort: () => void;
  #consumed = false;
  #cancelled = false;
  #settled: Promise<LlmResult>;
  #resolve!: (result: LlmResult) => void;
  #reject!: (error: unknown) => void;

  constructor(
    readonly provider: LlmProvider,
    readonly model: string,
    started: number,
    source: AsyncGenerator<ChatCompletionChunk, void, undefined>,
    abort: () => void,
  ) {
    this.#source = source;
    this.#abort = abort;
    this.#started = started;
    this.#settled = new Promise<LlmResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#settled.catch(() => {}); // reported through result() and the iteration, never unhandled
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    if (this.#consumed) throw new Error("an LlmStream can be iterated only once");
    this.#consumed = true;
    let text = "";
    let model = this.model;
    let id: string | undefined;
    let created: number | undefined;
    let finish: FinishReason | null = null;
    let usage: LlmUsage | null = null;
    let ttft: number | undefined;
    let completed = false;
    try {
      for await (const chunk of this.#source) {
        if (this.#cancelled) break;
        id ??= chunk.id;
        created ??= chunk.created;
        if (chunk.model) model = chunk.model;
        const choice = chunk.choices?.find((c) => c.index === 0) ?? chunk.choices?.[0];
        const piece = choice?.delta?.content;
        if (piece) {
          ttft ??= performance.now() - this.#started;
          text += piece;
        }
        if (choice?.finish_reason) finish = choice.finish_reason as FinishReason;
        if (chunk.usage) {
          usage = {
            prompt_tokens: chunk.usage.prompt_tokens ?? 0,
            completion_tokens: chunk.usage.completion_tokens ?? 0,
            total_tokens: chunk.usage.total_tokens ?? 0,
          };
        }
        yield chunk;
      }
      if (this.#cancelled) throw this.#cancelledError();
      completed = true;
      this.#resolve({
        text,
        model,
        provider: this.provider,
        finish_reason: finish ?? "stop",
        usage: usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
        latency_ms: Math.round(performance.now() - this.#started),
        ttft_ms: ttft === undefined ? undefined : Math.round(ttft),
        id,
        created,
      });
    } catch (error) {
      completed = true;
      this.#reject(error);
      throw error;
    } finally {
      if (!completed) {
        this.#reject(
          new LlmError("the stream was stopped before its end", { kind: "aborted", provider: this.provider }),
        );
      }
    }
  }

  result(): Promise<LlmResult> {
    return this.#settled;
  }

  async cancel(): Promise<void> {
    this.#cancelled = true;
    this.#consumed = true;
    this.#reject(this.#cancelledError()); // no effect when the stream had already ended
    this.#abort(); // closes the connection; a read in progress rejects with kind "aborted"
    await this.#source.return(undefined).catch(() => {});
  }

  #cancelledError(): LlmError {
    return new LlmError("the stream was cancelled", { kind: "aborted", provider: this.provider });
  }
}

/** Consumes a stream nobody iterates (it can be iterated only once) and returns its result. */
export async function drainLlmStream(stream: LlmStream): Promise<LlmResult> {
  const result = stream.result();
  for await (const _ of stream) { /* the stream accumulates */ }
  return await result;
}

/** The OpenAI `chat.completion` JSON for a result (for OpenAI-compatible endpoints of our own). */
export function toChatCompletion(result: LlmResult): {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: "assistant"; content: string; refusal: null };
    logprobs: null;
    finish_reason: FinishReason;
  }[];
  usage: LlmUsage;
} {
  return {
    id: result.id ?? `chatcmpl-${crypto.randomUUID()}`,
    object: "chat.completion",
    created: result.created ?? Math.floor(Date.now() / 1000),
    model: result.model,
    choices: [{
      index: 0,
      message: { role: "assistant", content: result.text, refusal: null },
      logprobs: null,
      finish_reason: result.finish_reason,
    }],
    usage: { ...result.usage },
  };
}

const encoder = new TextEncoder();

/**
 * An SSE body in OpenAI's format for a stream: `data: {chunk}` per chunk, then `data: [DONE]`. When
 * the stream fails midway an error frame `data: {"error": {...}}` is sent and the body ends without
 * `[DONE]`, so clients see the failure. A client disconnect cancels the upstream stream.
 */
export function sseFromLlmStream(stream: LlmStream): ReadableStream<Uint8Array> {
  const iterator = stream[Symbol.asyncIterator]();
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let frame: string;
      let last = false;
      try {
        const next = await iterator.next();
        last = next.done === true;
        frame = last ? "data: [DONE]\n\n" : `data: ${JSON.stringify(next.value)}\n\n`;
      } catch (error) {
        last = true;
        // The kind of failure and an error id; the upstream's text goes to the log only.
        const id = logWithId(error, "llm stream");
        const body = error instanceof LlmError
          ? { error: { ...error.toJSON().error, message: llmFailureMessage(error, id), error_id: id } }
          : {
            error: {
              message: `Something went wrong on our side (error id ${id}).`,
              type: "llm_error",
              code: "internal",
              error_id: id,
            },
          };
        frame = `data: ${JSON.stringify(body)}\n\n`;
      }
      if (cancelled) return; // the client went away while we waited
      controller.enqueue(encoder.encode(frame));
      if (last) controller.close();
    },
    async cancel() {
      cancelled = true;
      await stream.cancel();
      await iterator.return?.(undefined).catch(() => {});
    },
  });
}
