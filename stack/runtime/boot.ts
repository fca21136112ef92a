// The entrypoint of every function process the local stack runs (stack/function_workers.ts): installs the Edge
// Runtime's API and rules (./edge_runtime.ts), removes the stack's private variables from the environment so the
// function sees only what hosted Supabase gives it, then evaluates the function's index.ts. Module
// initialisation ends when that import settles: from then on synchronous file reads fail, as on hosted.
import { installEdgeRuntime } from "./edge_runtime.ts";

function take(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`stack/runtime/boot.ts: ${name} is not set`);
  Deno.env.delete(name);
  return value;
}

const entrypoint = take("SB_STACK_ENTRYPOINT");
const port = Number(take("SB_STACK_PORT"));
const aiUrl = take("SB_STACK_AI_URL");

const runtime = installEdgeRuntime({ port, aiUrl });
await import(new URL(`file://${entrypoint}`).href);
runtime.initialised();
