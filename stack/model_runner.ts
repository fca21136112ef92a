// The local stack's stand-in for the Edge Runtime's built-in model: one process that runs the embedding model
// (./embedding_model.ts: transformers.js on onnxruntime-node) for every function process, which reach it through
// `Supabase.ai.Session("gte-small").run()` (./runtime/edge_runtime.ts). Native addons load here, never in a
// function process.
//
//   POST /embed {"model": "gte-small", "inputs": ["…"], "mean_pool": true, "normalize": true}
//     → {"embeddings": [[384 numbers], …]}   (503 {"error"} when the model cannot be loaded)
//   GET  /health → {"model", "source", "backend"}
//
// Requests that arrive while the model is busy are run together as one batch (up to EMBEDDING_RUNNER_BATCH
// texts, default 64), so many functions embedding at once cost one model call per batch.
//
// Run by the stack (startModelRunner); environment: EMBEDDING_MODEL, EMBEDDING_MODEL_DIR, EMBEDDING_CACHE_DIR,
// HF_ENDPOINT (see ./embedding_model.ts), EMBEDDING_RUNNER_BATCH.
import { ROOT } from "./config.ts";
import { embed, embeddingModelInfo } from "./embedding_model.ts";

interface Job {
  texts: string[];
  normalize: boolean;
  resolve: (vectors: number[][]) => void;
  reject: (error: Error) => void;
}

const MAX_TEXTS_PER_REQUEST = 4_096;

export class EmbeddingScheduler {
  #queue: Job[] = [];
  #busy = false;

  constructor(private maxBatch: number, private run = embed) {}

  embed(texts: string[], normalize: boolean): Promise<number[][]> {
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
          const vectors: number[][] = [];
          for (let i = 0; i < texts.length; i += this.maxBatch) {
            vectors.push(...await this.run(texts.slice(i, i + this.maxBatch), { normalize }));
          }
          let offset = 0;
          for (const job of jobs) {
            job.resolve(vectors.slice(offset, offset + job.texts.length));
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
    if (inputs.length === 0) return Response.json({ embeddings: [] });
    try {
      const embeddings = await scheduler.embed(inputs as string[], body.normalize !== false);
      return Response.json({ embeddings });
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
