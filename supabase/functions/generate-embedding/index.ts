// POST /functions/v1/generate-embedding
//   {"input": "text"}            → {"embedding": [384 numbers], "model", "dims"}
//   {"input": ["a", "b", …]}     → {"embeddings": [[…], […]], "model", "dims", "count"}   (one model call)
// The Edge Runtime's built-in gte-small (Supabase.ai.Session), mean pooling, unit length. Signed-in users and
// the service role only.
import { z } from "zod";
import { requireUserOrService } from "../_shared/auth.ts";
import { embed, EMBEDDING_DIMS, EMBEDDING_MODEL } from "../_shared/embeddings.ts";
import { json, readJson, route } from "../_shared/http.ts";
import { enforceRateLimit } from "../_shared/limits.ts";

const MAX_TEXTS = 128;
const MAX_CHARS = 20_000;

const text = z.string().trim().min(1, "must not be empty").max(
  MAX_CHARS,
  `must be at most ${MAX_CHARS} characters`,
);
const Body = z.object({
  input: z.union([
    text,
    z.array(text).min(1, "must hold at least one text").max(
      MAX_TEXTS,
      `must hold at most ${MAX_TEXTS} texts`,
    ),
  ]),
}).strict();

Deno.serve(route(["POST"], async (req) => {
  const caller = await requireUserOrService(req);
  const { input } = await readJson(req, Body, 4_000_000);
  await enforceRateLimit(caller, "generate-embedding");

  const texts = typeof input === "string" ? [input] : input;
  const vectors = await embed(texts);
  const model = { model: EMBEDDING_MODEL, dims: EMBEDDING_DIMS };
  return typeof input === "string"
    ? json({ embedding: vectors[0], ...model })
    : json({ embeddings: vectors, ...model, count: vectors.length });
}));
