// The tiny embedding model the tests and benchmarks use instead of gte-small (no download possible here):
// generated deterministically by tools/test-model/generate.ts into .stack/models (kept between runs).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT, STATE_ROOT } from "./config.ts";
import { run } from "./process.ts";

export const TEST_MODEL_DIR = join(STATE_ROOT, "models");
export const TEST_MODEL_ID = "supabase-ai/tiny-test-embedder";
export const TEST_MODEL_ENV = { EMBEDDING_MODEL_DIR: TEST_MODEL_DIR, EMBEDDING_MODEL: TEST_MODEL_ID };

/** Generates the test model if needed; returns the env that points functions at it. */
export async function prepareTestModel(): Promise<Record<string, string>> {
  const generator = join(ROOT, "tools", "test-model", "generate.ts");
  if (!existsSync(generator)) return {};
  await run(Deno.execPath(), ["run", "-A", generator, TEST_MODEL_DIR], { what: "generate the test model" });
  return TEST_MODEL_ENV;
}
