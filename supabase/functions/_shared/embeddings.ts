// Sentence embeddings through the Edge Runtime's built-in model: `new Supabase.ai.Session("gte-small")`, mean
// pooled and unit length, 384 dimensions (../shared/FACTS.md, "Built-in embeddings"). Hosted Supabase and
// `supabase functions serve` provide the session; so does the Docker-free local stack (its model runner serves
// gte-small, a local folder, or the tests' tiny model). No model, ONNX runtime or native addon is in any
// function's module graph.
//
// The built-in session takes one string per call; a batch is one run() per text, all in flight at once (the
// local stack's runtime sends the texts of one tick to its model as one batch).

export const EMBEDDING_DIMS = 384;
/** The model every function uses: the runtime's built-in gte-small. */
export const EMBEDDING_MODEL = "gte-small";

interface AiSession {
  run(input: string, options?: { mean_pool?: boolean; normalize?: boolean }): Promise<unknown>;
}

interface SupabaseRuntime {
  ai?: { Session?: new (model: string) => AiSession };
}

/** The embedding model is not available here, or it answered with something that is not a 384-d vector. */
export class EmbeddingModelError extends Error {
  override name = "EmbeddingModelError";
}

let session: AiSession | null = null;

function builtInSession(): AiSession {
  if (session) return session;
  const Session = (globalThis as { Supabase?: SupabaseRuntime }).Supabase?.ai?.Session;
  if (!Session) {
    throw new EmbeddingModelError(
      "Embeddings need Supabase's Edge Runtime (Supabase.ai.Session): run the functions with " +
        "`npx -y deno@2 task start`, `supabase functions serve` or on a hosted project.",
    );
  }
  session = new Session(EMBEDDING_MODEL);
  return session;
}

function checked(vector: unknown, index: number): number[] {
  if (
    !Array.isArray(vector) || vector.length !== EMBEDDING_DIMS ||
    !vector.every((x) => typeof x === "number" && Number.isFinite(x))
  ) {
    const shape = Array.isArray(vector) ? `${vector.length} values` : typeof vector;
    throw new EmbeddingModelError(
      `The embedding model answered text ${index} with ${shape}; expected ${EMBEDDING_DIMS} finite numbers ` +
        `(the database columns are vector(${EMBEDDING_DIMS})).`,
    );
  }
  return vector;
}

/** Embeds every text (all in flight at once); unit-length vectors of EMBEDDING_DIMS, in input order. */
export async function embed(texts: string[]): Promise<number[][]> {
  if (!Array.isArray(texts) || texts.length === 0) {
    throw new TypeError("embed() needs a non-empty array of strings");
  }
  const badIndex = texts.findIndex((t) => typeof t !== "string");
  if (badIndex !== -1) throw new TypeError(`embed(): texts[${badIndex}] is not a string`);
  const model = builtInSession();
  const vectors = await Promise.all(texts.map(async (text, i) => {
    try {
      return checked(await model.run(text, { mean_pool: true, normalize: true }), i);
    } catch (error) {
      if (error instanceof EmbeddingModelError) throw error;
      throw new EmbeddingModelError(`The embedding model failed: ${(error as Error).message ?? error}`, {
        cause: error,
      });
    }
  }));
  return vectors;
}

/** Embeds a single text. */
export async function embedOne(text: string): Promise<number[]> {
  const [vector] = await embed([text]);
  return vector;
}
