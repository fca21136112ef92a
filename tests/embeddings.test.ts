/**
 * Embedding module tests on the real transformers.js path (tokenizer -> ONNX Runtime session -> mean
 * pooling -> normalisation), using the tiny seeded model from tools/test-model/generate.ts, generated into
 * a temporary folder. Run: deno test -A tests/embeddings.test.ts
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  embed,
  EMBEDDING_DIMS,
  EmbeddingModelError,
  embeddingModelInfo,
  embedOne,
  meanPool,
} from "../stack/embedding_model.ts";
import { env, pipeline } from "@huggingface/transformers";
import { DEFAULT_TEST_MODEL_ID, generateTestModel } from "../tools/test-model/generate.ts";

const ENV_VARS = ["EMBEDDING_MODEL", "EMBEDDING_MODEL_DIR", "EMBEDDING_CACHE_DIR", "HF_ENDPOINT"] as const;
type EnvVars = Partial<Record<(typeof ENV_VARS)[number], string>>;

/** Runs `fn` with exactly `vars` set among the embedding variables, then restores the previous values. */
async function withEnv<T>(vars: EnvVars, fn: () => Promise<T>): Promise<T> {
  const saved = new Map(ENV_VARS.map((name) => [name, Deno.env.get(name)]));
  for (const name of ENV_VARS) {
    const value = vars[name];
    if (value === undefined) Deno.env.delete(name);
    else Deno.env.set(name, value);
  }
  try {
    return await fn();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

const root = await Deno.makeTempDir({ prefix: "embeddings-test-" });
const modelsDir = join(root, "models");
const generated = await generateTestModel(modelsDir);
const testModel: EnvVars = { EMBEDDING_MODEL_DIR: modelsDir, EMBEDDING_MODEL: DEFAULT_TEST_MODEL_ID };

// Deno's test sanitizers would flag the temp folder; remove it when the process exits instead.
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch { /* already gone */ }
});

const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i], 0);
const norm = (a: number[]) => Math.sqrt(dot(a, a));
const cosine = (a: number[], b: number[]) => dot(a, b) / (norm(a) * norm(b));

const TEXTS = [
  "Type 'string' is not assignable to type 'number'.",
  "Argument of type 'number' is not assignable to parameter of type 'string'.",
  "Property 'length' does not exist on type 'number'.",
  "Object is possibly 'undefined'.",
  "Parameter 'x' implicitly has an 'any' type.",
  "Cannot find name 'consle'. Did you mean 'console'?",
  "The quick brown fox jumps over the lazy dog near the river bank.",
  "We planted tomatoes in the garden last summer.",
  "const total = items.map((item) => item.price).reduce((a, b) => a + b, 0);",
  "",
];

Deno.test("embeddingModelInfo reports the configured local model and the native ONNX backend", async () => {
  await withEnv(testModel, () => {
    const info = embeddingModelInfo();
    assert.equal(info.model, DEFAULT_TEST_MODEL_ID);
    assert.equal(info.dims, 384);
    assert.equal(info.source, "dir");
    assert.equal(info.location, modelsDir);
    assert.equal(info.backend, "onnxruntime-node");
    return Promise.resolve();
  });
  await withEnv({}, () => {
    const info = embeddingModelInfo();
    assert.equal(info.model, "Supabase/gte-small");
    assert.equal(info.source, "hub");
    assert.equal(info.location, "https://huggingface.co/");
    return Promise.resolve();
  });
});

Deno.test("embed returns one unit-length 384-dimension vector per text, in order", async () => {
  await withEnv(testModel, async () => {
    const vectors = await embed(TEXTS);
    assert.equal(EMBEDDING_DIMS, 384);
    assert.equal(vectors.length, TEXTS.length);
    for (const v of vectors) {
      assert.equal(v.length, 384);
      assert.ok(v.every(Number.isFinite), "all components finite");
      assert.ok(Math.abs(norm(v) - 1) < 1e-5, `norm ${norm(v)} is not 1`);
    }
    // Different texts must give different vectors (the model is not a constant).
    assert.ok(cosine(vectors[0], vectors[6]) < 0.99);
  });
});

Deno.test("a batch gives the same vectors as one text at a time", async () => {
  await withEnv(testModel, async () => {
    const batch = await embed(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) {
      const single = await embedOne(TEXTS[i]);
      const maxDiff = Math.max(...single.map((x, j) => Math.abs(x - batch[i][j])));
      assert.ok(maxDiff < 1e-5, `text ${i}: max difference ${maxDiff}`);
    }
  });
});

Deno.test("the vectors are the transformers.js pipeline's own mean pooling and normalisation", async () => {
  await withEnv(testModel, async () => {
    const ours = await embed(TEXTS);
    const raw = await embed(TEXTS, { normalize: false });
    // embed() has pointed transformers.js's env at the test model's folder; the library's pipeline pools itself.
    assert.equal(env.localModelPath, modelsDir);
    const extractor = await pipeline("feature-extraction", DEFAULT_TEST_MODEL_ID, {
      dtype: "fp32",
      local_files_only: true,
    });
    for (const [normalize, mine] of [[true, ours], [false, raw]] as const) {
      const theirs = await extractor(TEXTS, { pooling: "mean", normalize });
      assert.deepEqual(theirs.dims, [TEXTS.length, 384]);
      const data = theirs.data as Float32Array;
      for (let i = 0; i < TEXTS.length; i++) {
        const diff = Math.max(...mine[i].map((x, j) => Math.abs(x - data[i * 384 + j])));
        assert.ok(diff < 1e-6, `text ${i} (normalize ${normalize}): max difference ${diff}`);
      }
    }
    assert.ok(raw.some((v) => Math.abs(norm(v) - 1) > 1e-3), "normalize: false leaves the lengths alone");
  });
});

Deno.test("meanPool averages only the tokens the mask keeps, padding aside", () => {
  // 2 rows × 3 tokens × 2 dims; the second row's last token is padding with a value that would show.
  const hidden = new Float32Array([1, 2, 3, 4, 5, 6, /* row 2 */ 2, 0, 4, 0, 1000, 1000]);
  const mask = new BigInt64Array([1n, 1n, 1n, 1n, 1n, 0n]);
  const raw = meanPool(hidden, mask, { rows: 2, tokens: 3, dims: 2, normalize: false });
  assert.deepEqual([...raw], [3, 4, 3, 0]);
  const unit = meanPool(hidden, mask, { rows: 2, tokens: 3, dims: 2, normalize: true });
  assert.deepEqual([...unit].map((x) => Math.round(x * 1e6) / 1e6), [0.6, 0.8, 1, 0]);
});

Deno.test("texts that share words are closer than unrelated texts", async () => {
  await withEnv(testModel, async () => {
    const [assignA, assignB, fox, garden, undefinedA, undefinedB] = await embed([
      "Type 'string' is not assignable to type 'number'.",
      "Argument of type 'number' is not assignable to parameter of type 'string'.",
      "The quick brown fox jumps over the lazy dog.",
      "We planted tomatoes in the garden last summer.",
      "Object is possibly 'undefined'.",
      "'user' is possibly 'undefined' here.",
    ]);
    const related = cosine(assignA, assignB);
    for (const unrelated of [fox, garden, undefinedA]) {
      assert.ok(
        related > cosine(assignA, unrelated) + 0.2,
        `related ${related} vs ${cosine(assignA, unrelated)}`,
      );
    }
    assert.ok(cosine(undefinedA, undefinedB) > cosine(undefinedA, garden) + 0.2);
    assert.ok(cosine(fox, garden) < 0.5, `unrelated prose too close: ${cosine(fox, garden)}`);
  });
});

Deno.test("empty or malformed input is rejected", async () => {
  await withEnv(testModel, async () => {
    await assert.rejects(() => embed([]), TypeError);
    await assert.rejects(() => embed(["ok", 42 as unknown as string]), TypeError);
  });
});

Deno.test("a missing model folder gives an EmbeddingModelError naming the model and the env vars", async () => {
  const missingDir = join(root, "no-such-models");
  await withEnv({ EMBEDDING_MODEL_DIR: missingDir, EMBEDDING_MODEL: "acme/not-there" }, async () => {
    const error = await embedOne("hello").then(
      () => assert.fail("expected embedOne to reject"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof EmbeddingModelError, `got ${error}`);
    assert.equal(error.model, "acme/not-there");
    assert.equal(error.source, "dir");
    assert.match(error.message, /"acme\/not-there"/);
    assert.ok(error.message.includes(missingDir), error.message);
    assert.match(error.message, /EMBEDDING_MODEL_DIR/);
    assert.match(error.message, /EMBEDDING_MODEL\b/);
    assert.match(error.message, /does not exist/);
  });
  // The failure is not cached: once the folder exists, the same configuration loads.
  await generateTestModel(missingDir, "acme/not-there");
  await withEnv({ EMBEDDING_MODEL_DIR: missingDir, EMBEDDING_MODEL: "acme/not-there" }, async () => {
    assert.equal((await embedOne("hello")).length, 384);
  });
});

Deno.test("a broken model file gives an EmbeddingModelError with the underlying cause", async () => {
  const brokenDir = join(root, "broken");
  const { modelDir } = await generateTestModel(brokenDir, "acme/broken");
  await Deno.writeTextFile(join(modelDir, "onnx", "model.onnx"), "this is not an onnx model");
  await withEnv({ EMBEDDING_MODEL_DIR: brokenDir, EMBEDDING_MODEL: "acme/broken" }, async () => {
    const error = await embedOne("hello").then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    assert.ok(error instanceof EmbeddingModelError, `got ${error}`);
    assert.match(error.message, /could not be loaded: /);
    assert.ok(error.cause instanceof Error);
  });
});

Deno.test("a model with the wrong output size is rejected with a clear error", async () => {
  const otherDir = join(root, "wrong-dims");
  await generateTestModel(otherDir, "acme/small-embedder", { dims: 16 });
  await withEnv({ EMBEDDING_MODEL_DIR: otherDir, EMBEDDING_MODEL: "acme/small-embedder" }, async () => {
    const error = await embed(["hello"]).then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    assert.ok(error instanceof EmbeddingModelError, `got ${error}`);
    assert.match(error.message, /\[1, 16\]/);
    assert.match(error.message, /\[1, 384\]/);
  });
});

Deno.test("generation is deterministic and skipped when the folder is up to date", async () => {
  const otherDir = join(root, "second");
  const second = await generateTestModel(otherDir);
  assert.equal(second.generated, true);
  assert.deepEqual(second.files, generated.files);
  for (const name of Object.keys(generated.files)) {
    const a = await Deno.readFile(join(generated.modelDir, name));
    const b = await Deno.readFile(join(second.modelDir, name));
    assert.ok(a.length > 0 && a.length === b.length && a.every((x, i) => x === b[i]), `${name} differs`);
  }
  const again = await generateTestModel(otherDir);
  assert.equal(again.generated, false);
  // A modified file is noticed and regenerated.
  await Deno.writeTextFile(join(second.modelDir, "config.json"), "{}");
  const repaired = await generateTestModel(otherDir);
  assert.equal(repaired.generated, true);
  assert.deepEqual(repaired.files, generated.files);
  // Both copies embed identically.
  const fromFirst = await withEnv(testModel, () => embed(TEXTS.slice(0, 3)));
  const fromSecond = await withEnv(
    { EMBEDDING_MODEL_DIR: otherDir, EMBEDDING_MODEL: DEFAULT_TEST_MODEL_ID },
    () => embed(TEXTS.slice(0, 3)),
  );
  assert.deepEqual(fromSecond, fromFirst);
});

Deno.test("the hub code path downloads, caches and embeds (hub served from 127.0.0.1)", async () => {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    requests.push(`${req.method} ${path}`);
    const prefix = `/${DEFAULT_TEST_MODEL_ID}/resolve/main/`;
    if (!path.startsWith(prefix) || path.includes("..")) return new Response("not found", { status: 404 });
    try {
      const body = await Deno.readFile(join(generated.modelDir, path.slice(prefix.length)));
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-length": String(body.length) },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const cacheDir = join(root, "hub-cache");
  try {
    const hubEnv: EnvVars = {
      EMBEDDING_MODEL: DEFAULT_TEST_MODEL_ID,
      HF_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
      EMBEDDING_CACHE_DIR: cacheDir,
    };
    const fromHub = await withEnv(hubEnv, async () => {
      const info = embeddingModelInfo();
      assert.equal(info.source, "hub");
      assert.equal(info.location, `http://127.0.0.1:${server.addr.port}/`);
      return await embed(TEXTS.slice(0, 3));
    });
    const fromDir = await withEnv(testModel, () => embed(TEXTS.slice(0, 3)));
    assert.deepEqual(fromHub, fromDir);
    assert.ok(requests.some((r) => r.endsWith("/onnx/model.onnx")), requests.join("\n"));
    const cached = await Deno.stat(join(cacheDir, DEFAULT_TEST_MODEL_ID, "onnx", "model.onnx"));
    assert.ok(cached.isFile && cached.size > 0);
  } finally {
    await server.shutdown();
  }
});
