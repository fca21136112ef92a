// How long the LLM layer waits (supabase/functions/_shared/llm*.ts), against the local fake LLM server, for
// both wire formats: a retry after `429, Retry-After: 0` (target: no backoff wait), after `Retry-After: 1`
// (about 1 s), 500s backing off 0.5 s then 1 s (with up to 25 % jitter off), and how long past
// LLM_TIMEOUT_MS = 200 a stalled call gives up. tests/llm.test.ts checks the behaviour; these are the figures
// (they were upper bounds in the tests, which a loaded machine broke). Needs no stack.
//
//   npx -y deno@2 task bench bench/llm_retries.ts       (or: npx -y deno@2 run -A bench/llm_retries.ts)
import { createLlm, loadLlmConfig } from "../supabase/functions/_shared/llm.ts";
import { type FakeLlmServer, startFakeLlmServer } from "../tests/fakes/llm_server.ts";

const USER = [{ role: "user" as const, content: "Why is my query slow?" }];
const RUNS = 5;

function config(kind: string, server: FakeLlmServer, extra: Record<string, string> = {}) {
  const base: Record<string, string> = kind === "ollama"
    ? { LLM_PROVIDER: "ollama", OLLAMA_URL: server.ollamaURL }
    : { LLM_PROVIDER: "openai-compatible", LLM_BASE_URL: server.openaiBaseURL, LLM_API_KEY: "sk-bench" };
  return loadLlmConfig(
    new Map(Object.entries({ LLM_MODEL: "fake-model", LLM_TIMEOUT_MS: "3000", ...base, ...extra })),
  )!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn().catch(() => {});
  return performance.now() - started;
}

for (const kind of ["openai-compatible", "ollama"]) {
  const server = await startFakeLlmServer({ reply: "ok" });
  try {
    const figures: Record<string, number[]> = {
      "429 Retry-After: 0 → retry, total ms": [],
      "429 Retry-After: 1 → retry, total ms": [],
      "3 × 500 (2 backoff waits), total ms": [],
      "stall past LLM_TIMEOUT_MS=200, gave up after ms": [],
    };
    for (let i = 0; i < RUNS; i++) {
      server.reset().failNext({ status: 429, retryAfter: 0 });
      figures["429 Retry-After: 0 → retry, total ms"].push(
        await timed(() => createLlm(config(kind, server)).chat({ messages: USER })),
      );
      server.reset().failNext({ status: 429, retryAfter: 1 });
      figures["429 Retry-After: 1 → retry, total ms"].push(
        await timed(() => createLlm(config(kind, server)).chat({ messages: USER })),
      );
      server.reset().failNext({ status: 500, times: 3 });
      figures["3 × 500 (2 backoff waits), total ms"].push(
        await timed(() => createLlm(config(kind, server)).chat({ messages: USER })),
      );
      server.reset().stallNext({ ms: 1500 });
      figures["stall past LLM_TIMEOUT_MS=200, gave up after ms"].push(
        await timed(() =>
          createLlm(config(kind, server, { LLM_TIMEOUT_MS: "200", LLM_MAX_RETRIES: "0" })).chat({
            messages: USER,
          })
        ),
      );
    }
    console.log(`\n${kind} (median of ${RUNS}; min–max)`);
    for (const [what, values] of Object.entries(figures)) {
      const ms = (v: number) => v.toFixed(0);
      console.log(
        `  ${what.padEnd(48)} ${ms(median(values)).padStart(6)}  (${ms(Math.min(...values))}–${
          ms(Math.max(...values))
        })`,
      );
    }
  } finally {
    await server.close();
  }
}
