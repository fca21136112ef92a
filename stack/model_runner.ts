// The local stack's stand-in for the Edge Runtime's built-in model: one process that runs the embedding model
// (./embedding_model.ts: transformers.js on onnxruntime-node) for every function process, which reach it through
// `Supabase.ai.Session("gte-small").run()` (./runtime/edge_runtime.ts). Native addons load here, never in a
// function process.
//
//   POST /embed {"model": "gte-small", "inputs": ["…"], "mean_pool": true, "normalize": true}
//     → the vectors as little-endian float32, one after another (application/octet-stream; x-dims: 384), or
//       with `accept: application/json` {"embeddings": [[384 numbers], …]}; 503 {"error"} when the model cannot
//       be loaded. Binary because JSON of 64 × 384 floats costs more than the tiny test model's inference.
//   GET  /health → {"model", "source", "backend"}
//
// Requests that arrive while the model is busy are run together as one batch (up to EMBEDDING_RUNNER_BATCH
// texts, default 64), so many functions embedding at once cost one model call per batch.
//
// Run by the stack (startModelRunner); environment: EMBEDDING_MODEL, EMBEDDING_MODEL_DIR, EMBEDDING_CACHE_DIR,
// HF_ENDPOINT (see ./embedding_model.ts), EMBEDDING_RUNNER_BATCH.
import { ROOT } from "./config.ts";
import { EMBEDDING_DIMS, embeddingModelInfo, embedPacked } from "./embedding_model.ts";

interface Job {
  texts: string[];
  normalize: boolean;
  resolve: (vectors: Float32Array) => void;
  reject: (error: Error) => void;
}

const MAX_TEXTS_PER_REQUEST = 4_096;

export class EmbeddingScheduler {
  #queue: Job[] = [];
  #busy = false;

  constructor(private maxBatch: number, private run = embedPacked) {}

  /** The texts' vectors, packed (texts.length × EMBEDDING_DIMS float32). */
  embed(texts: string[], normalize: boolean): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ texts, normalize, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#busy = true;
    try {
      while (this.#queue.length > 0) {
        const normalize = this.#queue[0].normalize;
        // Whole requests of the same kind, up to maxBatch texts (a larger single request runs in slices).
        const jobs: Job[] = [];
        let count = 0;
        while (
          this.#queue.length > 0 && this.#queue[0].normalize === normalize &&
          (jobs.length === 0 || count + this.#queue[0].texts.length <= this.maxBatch)
        ) {
          const job = this.#queue.shift()!;
          jobs.push(job);
          count += job.texts.length;
        }
        const texts = jobs.flatMap((j) => j.texts);
        try {
          const vectors = new Float32Array(texts.length * EMBEDDING_DIMS);
          for (let i = 0; i < texts.length; i += this.maxBatch) {
            vectors.set(await this.run(texts.slice(i, i + this.maxBatch), { normalize }), i * EMBEDDING_DIMS);
          }
          let offset = 0;
          for (const job of jobs) {
            job.resolve(
              vectors.subarray(offset * EMBEDDING_DIMS, (offset + job.texts.length) * EMBEDDING_DIMS),
            );
            offset += job.texts.length;
          }
        } catch (error) {
          for (const job of jobs) job.reject(error instanceof Error ? error : new Error(String(error)));
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}

function fail(status: number, error: string): Response {
  return Response.json({ error }, { status });
}

export function modelRunnerHandler(scheduler: EmbeddingScheduler): (req: Request) => Promise<Response> {
  return async (req) => {
    const url = new URL(req.url);
    if (req.method === "GET" && url.pathname === "/health") return Response.json(embeddingModelInfo());
    if (req.method !== "POST" || url.pathname !== "/embed") return fail(404, "POST /embed");
    let body: { model?: unknown; inputs?: unknown; mean_pool?: unknown; normalize?: unknown };
    try {
      body = await req.json();
    } catch {
      return fail(400, "the body is not JSON");
    }
    const inputs = body.inputs;
    if (body.model !== "gte-small") return fail(400, `unknown model ${JSON.stringify(body.model)}`);
    if (
      !Array.isArray(inputs) || inputs.length > MAX_TEXTS_PER_REQUEST ||
      inputs.some((t) => typeof t !== "string")
    ) {
      return fail(400, `inputs must be an array of at most ${MAX_TEXTS_PER_REQUEST} strings`);
    }
    if (body.mean_pool === false) return fail(400, "only mean_pool: true is supported");
    const json = req.headers.get("accept")?.includes("application/json") ?? false;
    try {
      const packed = inputs.length === 0
        ? new Float32Array(0)
        : await scheduler.embed(inputs as string[], body.normalize !== false);
      if (json) {
        const embeddings = [];
        for (let i = 0; i < inputs.length; i++) {
          embeddings.push(Array.from(packed.subarray(i * EMBEDDING_DIMS, (i + 1) * EMBEDDING_DIMS)));
        }
        return Response.json({ embeddings });
      }
      const bytes = new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength).slice();
      return new Response(bytes, {
        headers: { "content-type": "application/octet-stream", "x-dims": String(EMBEDDING_DIMS) },
      });
    } catch (error) {
      return fail(503, error instanceof Error ? error.message : String(error));
    }
  };
}

export interface ModelRunner {
  url: string;
  stop(): Promise<void>;
}

/** Starts the model runner as its own process (its env: the embedding variables); resolves once it listens. */
export async function startModelRunner(
  env: Record<string, string>,
  log: (line: string) => void,
): Promise<ModelRunner> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", new URL(import.meta.url).pathname],
    cwd: ROOT,
    env: { ...env, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const exited = child.status;
  void (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      for (const line of chunk.split("\n")) if (line.trim()) log(`[model-runner] ${line}`);
    }
  })();
  let url: string | null = null;
  while (url === null) {
    const { value, done } = await lines.read();
    if (done) {
      const status = await exited;
      throw new Error(`the model runner exited (code ${status.code}) before listening`);
    }
    buffered += value;
    const match = buffered.match(/^listening on (http:\/\/\S+)$/m);
    if (match) url = match[1];
  }
  void (async () => {
    while (true) {
      const { value, done } = await lines.read();
      if (done) break;
      for (const line of value.split("\n")) if (line.trim()) log(`[model-runner] ${line}`);
    }
  })();
  return {
    url,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await exited;
    },
  };
}

if (import.meta.main) {
  const maxBatch = Number(Deno.env.get("EMBEDDING_RUNNER_BATCH") ?? 64);
  const scheduler = new EmbeddingScheduler(Number.isInteger(maxBatch) && maxBatch > 0 ? maxBatch : 64);
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
    },
    modelRunnerHandler(scheduler),
  );
  Deno.addSignalListener("SIGTERM", () => void server.shutdown().then(() => Deno.exit(0)));
}
