// One LLM call, metered: its most (prompt estimate + max_tokens) reserved against the owner's and the project's
// daily budgets before it starts; then stored in public.llm_responses exactly once — answered (usage as the
// provider reported it, else estimated), failed before any answer (the reason, the upstream status, an
// estimate), or, for streams, whatever the caller records — and the reservation settled after that row exists.
// custom-llm and fix-code-error's LLM attempts go through this.
import type { ChatMessage, LlmProvider, LlmResult, LlmUsage } from "./llm_config.ts";
import { db } from "./db.ts";
import { estimatedUsage, reserveTokens, usageOf } from "./limits.ts";
import { failureText, recordLlmCall } from "./llm_log.ts";

export interface MeteredCallInput {
  owner: string | null;
  functionName: string;
  provider: LlmProvider;
  /** The model requested (a finished call records the one the provider reports). */
  model: string;
  messages: ChatMessage[];
  maxTokens: number;
  stream?: boolean;
}

export interface MeteredRecord {
  response: string | null;
  error?: string;
  httpStatus?: number | null;
  usage?: LlmUsage;
  latencyMs?: number;
  model?: string;
  estimated?: boolean;
}

export interface MeteredCall {
  /** Stores the call's row (once) and settles the reservation; returns the row's id. */
  record(fields: MeteredRecord): Promise<string>;
  /** A finished call: its text, model, latency and usage. */
  answered(result: LlmResult): Promise<string>;
  /**
   * Runs the call; if it fails before any answer, records that (the reason, the upstream status, the prompt's
   * estimated usage) and rethrows.
   */
  attempt<T>(run: () => Promise<T>): Promise<T>;
}

/** Reserves the call's most against the budgets (429 when they are used up) and returns how to record it. */
export async function meterLlmCall(input: MeteredCallInput): Promise<MeteredCall> {
  const reservation = await reserveTokens(input.owner, input.messages, input.maxTokens);
  const started = performance.now();
  const record = (fields: MeteredRecord) =>
    recordLlmCall(db(), {
      owner: input.owner,
      functionName: input.functionName,
      provider: input.provider,
      model: fields.model ?? input.model,
      messages: input.messages,
      response: fields.response,
      usage: fields.usage,
      latencyMs: fields.latencyMs ?? performance.now() - started,
      stream: input.stream,
      error: fields.error,
      httpStatus: fields.httpStatus,
      metadata: fields.estimated ? { usage_estimated: true } : undefined,
    }).finally(() => reservation.settle());
  return {
    record,
    answered: (result) =>
      record({
        response: result.text,
        ...usageOf(input.messages, result.text, result.usage),
        latencyMs: result.latency_ms,
        model: result.model,
      }),
    attempt: async (run) => {
      try {
        return await run();
      } catch (error) {
        const status = (error as { status?: number | null })?.status ?? null;
        await record({
          response: null,
          error: failureText(error),
          httpStatus: status,
          usage: estimatedUsage(input.messages, "", status),
          estimated: true,
        });
        throw error;
      }
    },
  };
}
