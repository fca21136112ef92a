/**
 * The local stack's embedding model, served to the functions as `Supabase.ai.Session("gte-small")` by
 * ./model_runner.ts (the functions themselves never load a model: hosted Supabase runs gte-small in its Edge
 * Runtime). transformers.js `feature-extraction` pipeline with mean pooling and L2 normalisation, 384
 * dimensions, one model per process.
 *
 * Configuration (environment):
 * - EMBEDDING_MODEL      model id (default "Supabase/gte-small").
 * - EMBEDDING_MODEL_DIR  folder holding model folders (`<dir>/<model id>/config.json`, tokenizer.json,
 *                        onnx/model.onnx). When set, the model is read only from there: remote downloads and
 *                        every cache are switched off, so nothing touches the network.
 *                        When unset, the model is downloaded from the Hugging Face hub.
 * - EMBEDDING_CACHE_DIR  (hub only, optional) where downloaded files are cached; default: transformers.js's
 *                        own cache folder next to the installed package.
 * - HF_ENDPOINT          (hub only, optional) hub URL, for a mirror; default https://huggingface.co/.
 *
 * See ./onnx_backend.ts for how the ONNX Runtime backend is chosen under Deno.
 */
import { isAbsolute, join } from "node:path";
import { env, type FeatureExtractionPipeline, pipeline, type Tensor } from "@huggingface/transformers";
import { backendPipelineOptions, onnxBackend, type OnnxBackendName } from "./onnx_backend.ts";

export const EMBEDDING_DIMS = 384;
export const DEFAULT_EMBEDDING_MODEL = "Supabase/gte-small";
const DEFAULT_HUB_URL = "https://huggingface.co/";
/** fp32 loads `onnx/model.onnx`; pinned so the file does not depend on the backend's default dtype. */
const EMBEDDING_DTYPE = "fp32";

export type EmbeddingSource = "hub" | "dir";

export interface EmbeddingModelInfo {
  model: string;
  dims: number;
  source: EmbeddingSource;
  /** The model folder's parent (source "dir") or the hub URL (source "hub"). */
  location: string;
  /** The ONNX Runtime transformers.js runs on. */
  backend: OnnxBackendName;
}

interface EmbeddingConfig {
  model: string;
  source: EmbeddingSource;
  location: string;
  cacheDir: string | null;
}

function readEnv(name: string): string | undefined {
  try {
    const value = Deno.env.get(name)?.trim();
    return value ? value : undefined;
  } catch {
    return undefined; // no env permission: behave as unset
  }
}

function readConfig(): EmbeddingConfig {
  const model = readEnv("EMBEDDING_MODEL") ?? DEFAULT_EMBEDDING_MODEL;
  const dir = readEnv("EMBEDDING_MODEL_DIR");
  if (dir) {
    return { model, source: "dir", location: isAbsolute(dir) ? dir : join(Deno.cwd(), dir), cacheDir: null };
  }
  let hub = readEnv("HF_ENDPOINT") ?? DEFAULT_HUB_URL;
  if (!hub.endsWith("/")) hub += "/";
  return { model, source: "hub", location: hub, cacheDir: readEnv("EMBEDDING_CACHE_DIR") ?? null };
}

function describeSource(config: EmbeddingConfig): string {
  return config.source === "dir"
    ? `local folder "${config.location}" (EMBEDDING_MODEL_DIR)`
    : `the Hugging Face hub at ${config.location}`;
}

function fixHint(config: EmbeddingConfig): string {
  const dirHint = "set EMBEDDING_MODEL_DIR to a folder that contains <EMBEDDING_MODEL>/config.json, " +
    "tokenizer.json, tokenizer_config.json and onnx/model.onnx, and EMBEDDING_MODEL to that model id " +
    "(for tests: `deno run -A tools/test-model/generate.ts <dir>` writes supabase-ai/tiny-test-embedder)";
  return config.source === "dir"
    ? `Fix: ${dirHint}; or unset EMBEDDING_MODEL_DIR to download EMBEDDING_MODEL (default ` +
      `${DEFAULT_EMBEDDING_MODEL}) from the Hugging Face hub.`
    : `Fix: check network access to the hub (HF_ENDPOINT selects a mirror) and that EMBEDDING_MODEL names ` +
      `a ${EMBEDDING_DIMS}-dimension ONNX feature-extraction model; or ${dirHint}.`;
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** The embedding model could not be loaded, or it produced vectors of the wrong shape. */
export class EmbeddingModelError extends Error {
  override name = "EmbeddingModelError";
  readonly model: string;
  readonly source: EmbeddingSource;
  readonly location: string;

  constructor(config: EmbeddingConfig, problem: string, cause?: unknown) {
    const because = cause === undefined ? "" : `: ${causeText(cause)}`;
    super(
      `Embedding model "${config.model}" from ${describeSource(config)} ${problem}${because}. ${
        fixHint(config)
      }`,
      { cause },
    );
    this.model = config.model;
    this.source = config.source;
    this.location = config.location;
  }
}

/** Points transformers.js's global `env` at the configured source. */
function applyConfig(config: EmbeddingConfig): void {
  env.useBrowserCache = false; // Deno exposes the Cache API, but it is not where models should persist
  env.useCustomCache = false;
  if (config.source === "dir") {
    env.allowLocalModels = true;
    env.localModelPath = config.location;
    env.allowRemoteModels = false;
    env.useFSCache = false; // files are already local; a cache lookup would only add disk reads
  } else {
    env.allowLocalModels = false; // otherwise every file is first looked for under the package folder
    env.allowRemoteModels = true;
    env.remoteHost = config.location;
    env.useFSCache = true;
    if (config.cacheDir) env.cacheDir = config.cacheDir;
  }
}

async function checkModelFolder(config: EmbeddingConfig): Promise<void> {
  const folder = join(config.location, config.model);
  for (const file of ["config.json", "tokenizer.json", "onnx/model.onnx"]) {
    try {
      await Deno.stat(join(folder, file));
    } catch (e) {
      const missing = e instanceof Deno.errors.NotFound;
      throw new EmbeddingModelError(
        config,
        missing ? `could not be loaded: "${join(folder, file)}" does not exist` : "could not be loaded",
        missing ? undefined : e,
      );
    }
  }
}

async function loadExtractor(config: EmbeddingConfig): Promise<FeatureExtractionPipeline> {
  if (config.source === "dir") await checkModelFolder(config);
  applyConfig(config);
  try {
    return await pipeline("feature-extraction", config.model, {
      dtype: EMBEDDING_DTYPE,
      local_files_only: config.source === "dir",
      ...backendPipelineOptions(),
    });
  } catch (e) {
    throw new EmbeddingModelError(config, "could not be loaded", e);
  }
}

/** One load per configuration per isolate; a failed load is forgotten so the next call retries. */
let loaded: { key: string; extractor: Promise<FeatureExtractionPipeline> } | null = null;

function getExtractor(config: EmbeddingConfig): Promise<FeatureExtractionPipeline> {
  const key = JSON.stringify(config);
  if (loaded?.key === key) return loaded.extractor;
  const extractor = loadExtractor(config);
  loaded = { key, extractor };
  extractor.catch(() => {
    if (loaded?.extractor === extractor) loaded = null;
  });
  return extractor;
}

/** The configured model and where it comes from (reads the environment; does not load anything). */
export function embeddingModelInfo(): EmbeddingModelInfo {
  const { model, source, location } = readConfig();
  return { model, dims: EMBEDDING_DIMS, source, location, backend: onnxBackend().name };
}

/**
 * Embeds every text with one model call (the batch is padded to its longest text). Vectors are
 * unit-length (unless `normalize` is false), `EMBEDDING_DIMS` long, in input order.
 */
export async function embed(texts: string[], options: { normalize?: boolean } = {}): Promise<number[][]> {
  const data = await embedPacked(texts, options);
  const vectors: number[][] = [];
  for (let row = 0; row < texts.length; row++) {
    vectors.push(Array.from(data.subarray(row * EMBEDDING_DIMS, (row + 1) * EMBEDDING_DIMS)));
  }
  return vectors;
}

/** embed() without unpacking: the vectors one after another in one Float32Array (texts.length × EMBEDDING_DIMS). */
export async function embedPacked(
  texts: string[],
  options: { normalize?: boolean } = {},
): Promise<Float32Array> {
  if (!Array.isArray(texts) || texts.length === 0) {
    throw new TypeError("embed() needs a non-empty array of strings");
  }
  const badIndex = texts.findIndex((t) => typeof t !== "string");
  if (badIndex !== -1) throw new TypeError(`embed(): texts[${badIndex}] is not a string`);

  const config = readConfig();
  const extractor = await getExtractor(config);
  // What the pipeline's `{ pooling: "mean", normalize }` does — tokenize (padded to the longest text), run the
  // model, average the tokens the attention mask keeps, scale to unit length — with the pooling written out:
  // transformers.js converts the mask from int64 once per component and reads the tensor's shape through a
  // Proxy for every number, most of the runner's CPU with the tiny model (hosted pools natively).
  const inputs = extractor.tokenizer(texts, { padding: true, truncation: true });
  const outputs = await extractor.model(inputs);
  const hidden: Tensor = outputs.last_hidden_state ?? outputs.logits ?? outputs.token_embeddings;
  const [rows, tokens, dims] = hidden.dims;
  if (hidden.dims.length !== 3 || rows !== texts.length || dims !== EMBEDDING_DIMS) {
    throw new EmbeddingModelError(
      config,
      `produced output of shape [${rows}, ${hidden.dims.at(-1)}] for ${texts.length} text(s); expected ` +
        `[${texts.length}, ${EMBEDDING_DIMS}] (the database columns are vector(${EMBEDDING_DIMS}))`,
    );
  }
  return meanPool(hidden.data as Float32Array, (inputs.attention_mask as Tensor).data as BigInt64Array, {
    rows,
    tokens,
    dims,
    normalize: options.normalize ?? true,
  });
}

/**
 * The mean of each row's token vectors where its attention mask is 1 (`hidden` is rows × tokens × dims, the mask
 * rows × tokens), each scaled to unit length when `normalize`: rows × dims, summed in doubles.
 */
export function meanPool(
  hidden: Float32Array,
  mask: ArrayLike<bigint | number>,
  shape: { rows: number; tokens: number; dims: number; normalize: boolean },
): Float32Array {
  const { rows, tokens, dims, normalize } = shape;
  const out = new Float32Array(rows * dims);
  const sum = new Float64Array(dims);
  for (let row = 0; row < rows; row++) {
    sum.fill(0);
    let count = 0;
    for (let token = 0; token < tokens; token++) {
      if (Number(mask[row * tokens + token]) === 0) continue;
      count++;
      const at = (row * tokens + token) * dims;
      for (let d = 0; d < dims; d++) sum[d] += hidden[at + d];
    }
    let squares = 0;
    for (let d = 0; d < dims; d++) {
      sum[d] /= count;
      squares += sum[d] * sum[d];
    }
    const scale = normalize ? 1 / Math.max(Math.sqrt(squares), 1e-12) : 1;
    for (let d = 0; d < dims; d++) out[row * dims + d] = sum[d] * scale;
  }
  return out;
}

/** Embeds a single text. */
export async function embedOne(text: string): Promise<number[]> {
  const [vector] = await embed([text]);
  return vector;
}
