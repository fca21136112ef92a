// The compiler behind fix verification (supabase/functions/_shared/typescript.ts): the cold first check, which
// parses the lib files, and warm checks of small snippets (target < 50 ms a snippet): a fresh program each time
// (diagnoseSnippet) and on the isolate's kept language service (what fix requests do). tests/typescript.test.ts
// checks that warm checks parse no lib file again; this prints how fast they are. Needs no stack.
//
//   npx -y deno@2 task bench bench/typescript.ts       (or: npx -y deno@2 run -A bench/typescript.ts)
import { diagnoseSnippet, libCacheSize } from "../supabase/functions/_shared/typescript.ts";
import { SnippetService } from "../supabase/functions/_shared/ts_service.ts";

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

// What a fix request compiles with: the isolate's language service, kept between requests (ts_service.ts).
const serviceTimes: number[] = [];
for (let i = 0; i < RUNS * 4; i++) {
  started = performance.now();
  new SnippetService().check(
    `export const s${i}: number = "${i}";\nexport const ok = [${i}].map((n) => n * 2);\n`,
  );
  if (i >= RUNS) serviceTimes.push(performance.now() - started); // the first RUNS warm the JIT
}
serviceTimes.sort((a, b) => a - b);
const atService = (q: number) =>
  serviceTimes[Math.min(serviceTimes.length - 1, Math.floor(q * serviceTimes.length))].toFixed(1);
console.log(
  `warm check on the kept language service (what a fix request does), ${serviceTimes.length} snippets: ` +
    `p50 ${atService(0.5)} ms, p95 ${atService(0.95)} ms, mean ${
      (serviceTimes.reduce((a, b) => a + b, 0) / serviceTimes.length).toFixed(1)
    } ms (garbage collection included)`,
);
