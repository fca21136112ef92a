/**
 * Which ONNX Runtime transformers.js runs on, and the pipeline options that backend needs.
 *
 * Findings for @huggingface/transformers 4.3.1 (read from its src/env.js and src/backends/onnx.js):
 *
 * - Under the Deno CLI (`deno run` / `deno test` / `deno serve`) transformers.js already uses the native
 *   `onnxruntime-node` addon, not onnxruntime-web: Deno resolves the package's "node" export condition
 *   (dist/transformers.node.mjs), and its runtime check `process.release.name === "node"` plus a
 *   non-empty `node:fs` are both true under Deno, so `apis.IS_NODE_ENV` is true and
 *   `createRequire(import.meta.url)("onnxruntime-node")` is the session backend. The addon and
 *   libonnxruntime.so ship inside the onnxruntime-node npm tarball (bin/napi-v6/<os>/<arch>/), so no
 *   download happens: Deno loads them straight from its global npm cache. This works with the root
 *   deno.json's `"nodeModulesDir": "none"`; onnxruntime-node's postinstall script (skipped by Deno in that
 *   mode, hence the "Ignored build scripts" warning) only fetches optional CUDA/WebGPU providers.
 *   Loading the addon needs `--allow-ffi` (as does sharp's addon, which transformers.js also loads at import)
 *   plus `--allow-read --allow-env`; `-A` covers them.
 * - The CDN (jsdelivr) WASM paths are only configured when onnxruntime-web is the backend, which in Deno
 *   happens only in a "Deno web runtime" (Cache API present *and* `node:fs` empty) - not the Deno CLI.
 * - If the host runtime exposes its own ONNX Runtime as `globalThis[Symbol.for("onnxruntime")]` (Supabase's
 *   edge-runtime does, backed by its Rust `ort` bindings), transformers.js uses that instead. In that branch
 *   it registers no default device, so the pipeline must be created with `device: "auto"` or it throws
 *   "Unsupported device: cpu".
 * Note: dist/transformers.node.mjs requires "onnxruntime-node" at import time even when the runtime's ORT
 * ends up being used, so a runtime that cannot load native addons fails at `import`, not at `pipeline()`.
 */
import { env } from "@huggingface/transformers";

export type OnnxBackendName = "onnxruntime-node" | "onnxruntime-web" | "runtime-provided";

export interface OnnxBackend {
  name: OnnxBackendName;
  /** Version reported by the backend, when it reports one. */
  version: string | null;
}

const RUNTIME_ORT = Symbol.for("onnxruntime");

/** True when the host runtime injected its own ONNX Runtime (Supabase edge-runtime). */
export function runtimeProvidesOnnx(): boolean {
  return RUNTIME_ORT in globalThis;
}

/** The ONNX Runtime that transformers.js selected when it was imported. */
export function onnxBackend(): OnnxBackend {
  const versions = (env.backends.onnx as { versions?: Record<string, string> } | undefined)?.versions ?? {};
  if (runtimeProvidesOnnx()) return { name: "runtime-provided", version: versions.common ?? null };
  if (versions.node) return { name: "onnxruntime-node", version: versions.node };
  return { name: "onnxruntime-web", version: versions.web ?? null };
}

/** Extra `pipeline()` options the selected backend needs. */
export function backendPipelineOptions(): { device?: "auto" } {
  return runtimeProvidesOnnx() ? { device: "auto" } : {};
}
