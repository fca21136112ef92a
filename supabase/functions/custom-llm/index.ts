// POST /functions/v1/custom-llm — bring your own model: chat through the configured provider (any
// OpenAI-compatible API, or Ollama's native API), answered in OpenAI's chat-completion shape.
//   {"prompt": "…"} or {"messages": [{"role": "user", "content": "…"}]},
//   optional "system", "model" (one of LLM_ALLOWED_MODELS), "temperature", "top_p", "max_tokens", "stream"
// With "stream": true the answer is server-sent events (`data: {chunk}` … `data: [DONE]`; a failure midway
// ends with an error frame and no [DONE]). Every call, successful or not, is stored in llm_responses.
//
// Spending: max_tokens is capped (LLM_MAX_OUTPUT_TOKENS, sent when none is given); the call's most (prompt
// estimate + max_tokens) is reserved against the caller's and the project's token budgets before it is made
// and settled once it is recorded; a failed or cut-off call is recorded with what it used (estimated when the
// provider did not say); a caller who goes away aborts the upstream call.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { CORS_HEADERS, HttpError, json, readJson, route } from "../_shared/http.ts";
import { sendSteps } from "../_shared/db.ts";
import { cappedMaxTokens, estimatedUsage, rateLimitStep, tokenBudgetStep } from "../_shared/limits.ts";
import {
  type ChatMessage,
  type Llm,
  type LlmStream,
  type LlmUsage,
  sseFromLlmStream,
  toChatCompletion,
} from "../_shared/llm.ts";
import { configuredLlm } from "../_shared/llm_env.ts";
import { failureText } from "../_shared/llm_log.ts";
import { meterLlmCall } from "../_shared/llm_meter.ts";

const Message = z.object({
  role: z.enum(["system", "user", "assistant"]),
  content: z.string().max(200_000),
}).strict();

const Body = z.object({
  prompt: z.string().trim().min(1, "must not be empty").max(200_000).optional(),
  system: z.string().max(20_000).optional(),
  messages: z.array(Message).min(1, "must hold at least one message").max(200)
    .optional(),
  model: z.string().min(1).max(200).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(65_536).optional(),
  stream: z.boolean().default(false),
}).strict().refine(
  (b) => (b.prompt === undefined) !== (b.messages === undefined),
  {
    message: "send either prompt or messages (exactly one)",
  },
);

function llmOrFail(): Llm {
  const llm = configuredLlm();
  if (!llm) {
    throw new HttpError(
      503,
      "llm_not_configured",
      "No LLM is configured: set LLM_PROVIDER (and LLM_API_KEY, LLM_MODEL) for the functions.",
    );
  }
  return llm;
}

/**
 * Passes chunks through while keeping the text and usage so far, for the record of a stream that fails
 * midway or that the client drops.
 */
function tapped(
  stream: LlmStream,
): { stream: LlmStream; partial: () => string; usage: () => LlmUsage | null } {
  let text = "";
  let usage: LlmUsage | null = null;
  const iterate = async function* () {
    for await (const chunk of stream) {
      text += chunk.choices?.[0]?.delta?.content ?? "";
      if (chunk.usage) {
        const prompt = chunk.usage.prompt_tokens ?? 0;
        const completion = chunk.usage.completion_tokens ?? 0;
        usage = {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: prompt + completion,
        };
      }
      yield chunk;
    }
  };
  const wrapper: LlmStream = {
    provider: stream.provider,
    model: stream.model,
    [Symbol.asyncIterator]: iterate,
    result: () => stream.result(),
    cancel: () => stream.cancel(),
  };
  return { stream: wrapper, partial: () => text, usage: () => usage };
}

Deno.serve(route(["POST"], async (req) => {
  const caller = await requireUserOrService(req);
  const body = await readJson(req, Body, 2_000_000);
  const llm = llmOrFail();
  const model = llm.resolveModel(body.model);
  // The rate limit and the token budget in one round trip; the rate limit's 429 first.
  const [rateLimited, budget] = await sendSteps([
    rateLimitStep(caller, "custom-llm"),
    tokenBudgetStep(caller),
  ]);
  rateLimited();
  budget();

  const messages: ChatMessage[] = body.messages ?? [
    ...(body.system ? [{ role: "system" as const, content: body.system }] : []),
    { role: "user", content: body.prompt! },
  ];
  const maxTokens = cappedMaxTokens(body.max_tokens);
  const request = {
    model,
    temperature: body.temperature,
    top_p: body.top_p,
    max_tokens: maxTokens,
    // The caller going away (a closed connection) aborts the upstream call.
    signal: req.signal,
  };
  const call = await meterLlmCall({
    owner: caller.userId,
    functionName: "custom-llm",
    provider: llm.provider,
    model,
    messages,
    maxTokens,
    stream: body.stream,
  });
  // A prompt goes to Ollama's /api/generate; anything else is a chat.
  const asGenerate = body.prompt !== undefined && llm.kind === "ollama";

  if (!body.stream) {
    const result = await call.attempt(() =>
      asGenerate
        ? llm.generate({
          ...request,
          prompt: body.prompt!,
          system: body.system,
        })
        : llm.chat({ ...request, messages })
    );
    const id = await call.answered(result);
    return json({ ...toChatCompletion(result), llm_response_id: id }, 200, {
      "x-llm-response-id": id,
    });
  }

  const upstream = await call.attempt(() =>
    asGenerate
      ? llm.generateStream({
        ...request,
        prompt: body.prompt!,
        system: body.system,
      })
      : llm.stream({ ...request, messages })
  );
  const { stream, partial, usage } = tapped(upstream);
  const recorded = stream.result().then(
    (result) => call.answered(result),
    // Failed midway, or dropped by the client (even after the last chunk): what was used, as the provider
    // said or else estimated from the prompt and the text generated.
    (error) =>
      call.record({
        response: partial() || null,
        error: failureText(error),
        usage: usage() ?? estimatedUsage(messages, partial()),
        estimated: usage() === null,
      }),
  ).catch((e) => console.error("custom-llm: could not record a streamed call:", e));
  (globalThis as { EdgeRuntime?: { waitUntil(p: Promise<unknown>): void } })
    .EdgeRuntime?.waitUntil(recorded);
  return new Response(sseFromLlmStream(stream), {
    headers: {
      ...CORS_HEADERS,
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-llm-model": model,
    },
  });
}));
