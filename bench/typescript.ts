// The compiler behind fix verification (supabase/functions/_shared/typescript.ts): the cold first check, which
// parses the lib files, and warm checks of small snippets (target < 50 ms a snippet). tests/typescript.test.ts
// checks that warm checks parse no lib file again; this prints how fast they are. Needs no stack.
//
//   npx -y deno@2 task bench bench/typescript.ts       (or: npx -y deno@2 run -A bench/typescript.ts)
import { diagnoseSnippet, libCacheSize } from "../supabase/functions/_shared/typescript.ts";

const RUNS = 50;
let started = performance.now();
diagnoseSnippet("export const warm = 1;\n");
console.log(
  `cold first check: ${(performance.now() - started).toFixed(0)} ms (${libCacheSize()} lib files parsed)`,
);

const times: number[] = [];
for (let i = 0; i < RUNS; i++) {
  started = performance.now();
  diagnoseSnippet(`export const v${i}: number = "${i}";\nexport const ok = [${i}].map((n) => n * 2);\n`);
  times.push(performance.now() - started);
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))].toFixed(1);
console.log(`warm check, ${RUNS} snippets: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms`);
