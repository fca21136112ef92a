// The LLM the functions use, from their environment (LLM_PROVIDER …; see llm_config.ts), built once per
// instance. Null when no provider is configured: the code-fix flow then answers from retrieval alone.
import { createLlmFromEnv, type Llm } from "./llm.ts";

let cached: { llm: Llm | null } | null = null;

/** Throws LlmConfigError (→ 503 llm_misconfigured) when LLM_PROVIDER is set but unusable. */
export function configuredLlm(): Llm | null {
  cached ??= { llm: createLlmFromEnv() };
  return cached.llm;
}
