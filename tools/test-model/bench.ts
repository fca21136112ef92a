/**
 * Embedding benchmark: cold start (import + model load + first embed), then ms per embedding and rows/s
 * at several batch sizes over a fixed set of short texts, and the ONNX backend that ran.
 *
 * Usage: deno run -A tools/test-model/bench.ts [--texts 2000] [--batches 1,32,64] [--json]
 *
 * With EMBEDDING_MODEL_DIR unset, the tiny test model is generated into .stack/models and used; set
 * EMBEDDING_MODEL_DIR / EMBEDDING_MODEL (or unset both and pass --hub) to benchmark another model.
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DEFAULT_TEST_MODEL_ID, generateTestModel } from "./generate.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    texts: { type: "string", default: "2000" },
    batches: { type: "string", default: "1,32,64" },
    json: { type: "boolean", default: false },
    hub: { type: "boolean", default: false },
  },
});
const textCount = Number(flags.texts);
const batchSizes = flags.batches.split(",").map(Number);
if (!(textCount > 0) || batchSizes.some((b) => !(b > 0))) {
  console.error("usage: bench.ts [--texts N] [--batches 1,32,64] [--json] [--hub]");
  Deno.exit(2);
}

if (!Deno.env.get("EMBEDDING_MODEL_DIR") && !flags.hub) {
  const modelsDir = join(import.meta.dirname ?? ".", "..", "..", ".stack", "models");
  await generateTestModel(modelsDir);
  Deno.env.set("EMBEDDING_MODEL_DIR", modelsDir);
  Deno.env.set("EMBEDDING_MODEL", DEFAULT_TEST_MODEL_ID);
}

/** Deterministic short texts in the style of TypeScript diagnostics and prose (5-15 words). */
function makeTexts(n: number): string[] {
  const names = ["user", "items", "config", "response", "value", "props", "result", "data", "row", "count"];
  const types = ["string", "number", "boolean", "undefined", "null", "object", "any", "never", "unknown"];
  const templates = [
    (a: string, t: string, u: string) => `Type '${t}' is not assignable to type '${u}' in ${a}.`,
    (a: string, t: string) => `Property '${a}' does not exist on type '${t}'.`,
    (a: string) => `'${a}' is possibly 'undefined'.`,
    (a: string) => `Parameter '${a}' implicitly has an 'any' type.`,
    (a: string, t: string, u: string) =>
      `Argument of type '${t}' in ${a} is not assignable to parameter of type '${u}'.`,
    (a: string) => `Cannot find name '${a}'. Did you mean '${a}s'?`,
    (a: string) => `How do I filter the ${a} list before rendering it?`,
    (a: string, t: string) => `The ${a} field should be a ${t} but the database returns text.`,
  ];
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    const template = templates[i % templates.length];
    const name = names[Math.floor(i / templates.length) % names.length];
    const t = types[(i * 7) % types.length];
    const u = types[(i * 3 + 1) % types.length];
    texts.push(`${template(name, t, u)} (#${i})`);
  }
  return texts;
}

const texts = makeTexts(textCount);

const importStart = performance.now();
const { embed, embeddingModelInfo } = await import("../../stack/embedding_model.ts");
const importMs = performance.now() - importStart;
const firstStart = performance.now();
await embed([texts[0]]);
const firstEmbedMs = performance.now() - firstStart;
const info = embeddingModelInfo();
const { onnxBackend } = await import("../../stack/onnx_backend.ts");
const backend = onnxBackend();

await embed(texts.slice(0, Math.max(...batchSizes))); // warm-up at the largest batch size

const runs = [];
for (const batch of batchSizes) {
  const start = performance.now();
  let calls = 0;
  for (let i = 0; i < texts.length; i += batch) {
    await embed(texts.slice(i, i + batch));
    calls++;
  }
  const ms = performance.now() - start;
  runs.push({
    batch,
    texts: texts.length,
    calls,
    total_ms: round(ms),
    ms_per_embedding: round(ms / texts.length, 4),
    ms_per_call: round(ms / calls, 3),
    rows_per_s: Math.round(texts.length / (ms / 1000)),
  });
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const report = {
  model: info.model,
  source: info.source,
  location: info.location,
  dims: info.dims,
  backend: `${backend.name}${backend.version ? `@${backend.version}` : ""}`,
  deno: Deno.version.deno,
  cpus: navigator.hardwareConcurrency,
  cold_start: {
    import_ms: round(importMs),
    load_and_first_embed_ms: round(firstEmbedMs),
    total_ms: round(importMs + firstEmbedMs),
  },
  runs,
};

if (flags.json) {
  console.log(JSON.stringify(report));
} else {
  console.log(`model    ${report.model} (${report.source}: ${report.location}), ${report.dims} dims`);
  console.log(`backend  ${report.backend}, deno ${report.deno}, ${report.cpus} cpus`);
  console.log(
    `cold start ${report.cold_start.total_ms} ms (import ${report.cold_start.import_ms} ms + load & first ` +
      `embed ${report.cold_start.load_and_first_embed_ms} ms)`,
  );
  console.log("batch   texts  calls   total ms   ms/embedding   ms/call     rows/s");
  for (const r of runs) {
    console.log(
      `${String(r.batch).padStart(5)} ${String(r.texts).padStart(7)} ${String(r.calls).padStart(6)} ` +
        `${r.total_ms.toFixed(1).padStart(10)} ${r.ms_per_embedding.toFixed(4).padStart(14)} ` +
        `${r.ms_per_call.toFixed(3).padStart(9)} ${String(r.rows_per_s).padStart(10)}`,
    );
  }
}
