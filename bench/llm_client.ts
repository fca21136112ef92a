// The thin fetch client (supabase/functions/_shared/llm_openai.ts + llm_http.ts) against the `openai` npm SDK
// it replaced: what each adds to a function's deploy bundle, the time to import it in a fresh process, and the
// time per call against the local fake LLM server (JSON and SSE). Prints figures and ratios; never fails on one.
//
//   deno run -A bench/llm_client.ts [--calls=400] [--imports=7] [--rounds=3]
//   (or: deno task bench bench/llm_client.ts)
//
// Each measurement runs bench/_llm_client_child.ts in its own process (--no-lock: the SDK stays out of
// deno.lock), one client at a time, alternating, against one fake server in this process.
import { join } from "node:path";
import { startFakeLlmServer } from "../tests/fakes/llm_server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const SDK = "npm:openai@7.57.0";
const arg = (name: string, fallback: number) =>
  Number(Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
const CALLS = arg("calls", 400);
const IMPORTS = arg("imports", 7);
const ROUNDS = arg("rounds", 3);

async function deno(args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(`deno ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** Bytes of every file under a folder (what the deploy bundle takes of an npm package). */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) total += await folderBytes(path);
    else if (entry.isFile) total += (await Deno.stat(path)).size;
  }
  return total;
}

interface Info {
  modules: { kind: string; local?: string; size?: number }[];
  npmPackages: Record<string, { localPath?: string }>;
}

/** Local modules' bytes and npm package folders' bytes of a graph, as `deno info` resolves it. */
async function graphBytes(args: string[]): Promise<{ local: number; npm: number; packages: number }> {
  const info = JSON.parse(await deno(["info", "--json", "--no-lock", ...args])) as Info;
  const local = info.modules.filter((m) => m.kind === "esm").reduce((n, m) => n + (m.size ?? 0), 0);
  let npm = 0;
  for (const pkg of Object.values(info.npmPackages)) {
    if (pkg.localPath) npm += await folderBytes(pkg.localPath);
  }
  return { local, npm, packages: Object.keys(info.npmPackages).length };
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const ms = (v: number) => `${v.toFixed(2)} ms`;
const ratio = (sdk: number, thin: number) => `${(sdk / thin).toFixed(1)}×`;

// --- size --------------------------------------------------------------------------------------------
const shared = join(ROOT, "supabase/functions/_shared");
const thinFiles = ["llm_openai.ts", "llm_http.ts"];
const thinBytes = (await Promise.all(thinFiles.map((f) => Deno.stat(join(shared, f))))).reduce(
  (n, s) => n + s.size,
  0,
);
const sdk = await graphBytes([SDK]);
const customLlm = await graphBytes([
  "--config",
  join(ROOT, "supabase/functions/custom-llm/deno.json"),
  join(ROOT, "supabase/functions/custom-llm/index.ts"),
]);
console.log("size (what a deploy bundle takes: local modules + npm package folders whole)");
console.log(`  openai@7.57.0 package folder      ${mb(sdk.npm)} (${sdk.packages} package)`);
console.log(`  thin client (${thinFiles.join(" + ")})  ${kb(thinBytes)}`);
console.log(`  ratio                             ${ratio(sdk.npm, thinBytes)}`);
console.log(
  `  custom-llm graph now              ${mb(customLlm.local + customLlm.npm)} ` +
    `(${kb(customLlm.local)} local + ${mb(customLlm.npm)} in ${customLlm.packages} npm packages); ` +
    `with the SDK: ${mb(customLlm.local + customLlm.npm + sdk.npm)}`,
);

// --- import and calls --------------------------------------------------------------------------------
interface Timing {
  p50: number;
  p90: number;
  mean: number;
}
interface ChildResult {
  importMs: number;
  heapMb: number;
  chat?: Timing;
  stream?: Timing;
}
const child = async (client: "sdk" | "thin", extra: string[] = []): Promise<ChildResult> =>
  JSON.parse(
    await deno(["run", "-A", "--no-lock", "bench/_llm_client_child.ts", `--client=${client}`, ...extra]),
  );
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

await child("sdk"); // fills the transpile caches of both, so no sample pays for them
await child("thin");
const imports: Record<"sdk" | "thin", ChildResult[]> = { sdk: [], thin: [] };
for (let i = 0; i < IMPORTS; i++) {
  for (const client of i % 2 ? ["thin", "sdk"] as const : ["sdk", "thin"] as const) {
    imports[client].push(await child(client));
  }
}
const importSdk = median(imports.sdk.map((r) => r.importMs));
const importThin = median(imports.thin.map((r) => r.importMs));
console.log(`\nimport in a fresh process (median of ${IMPORTS})`);
console.log(
  `  openai SDK   ${ms(importSdk)}   heap after ${median(imports.sdk.map((r) => r.heapMb)).toFixed(1)} MB`,
);
console.log(
  `  thin client  ${ms(importThin)}   heap after ${median(imports.thin.map((r) => r.heapMb)).toFixed(1)} MB` +
    `   (whole _shared/llm.ts)`,
);
console.log(`  ratio        ${ratio(importSdk, importThin)}`);

await using server = await startFakeLlmServer({ reply: "Add the missing property to the object literal." });
const callArgs = [`--calls=${CALLS}`, `--base-url=${server.openaiBaseURL}`];
const rounds: Record<"sdk" | "thin", ChildResult[]> = { sdk: [], thin: [] };
for (let i = 0; i < ROUNDS; i++) {
  for (const client of i % 2 ? ["thin", "sdk"] as const : ["sdk", "thin"] as const) {
    rounds[client].push(await child(client, callArgs));
  }
}
/** The median over the rounds of one statistic. */
const stat = (client: "sdk" | "thin", kind: "chat" | "stream", key: keyof Timing) =>
  median(rounds[client].map((r) => r[kind]![key]));
console.log(
  `\nper call against the fake server (${CALLS} JSON calls, ${Math.ceil(CALLS / 2)} streams per round; ` +
    `p50 / p90 / mean, medians of ${ROUNDS} rounds)`,
);
for (const kind of ["chat", "stream"] as const) {
  const line = (client: "sdk" | "thin") =>
    `${ms(stat(client, kind, "p50"))} / ${ms(stat(client, kind, "p90"))} / ${ms(stat(client, kind, "mean"))}`;
  console.log(
    `  ${kind === "chat" ? "JSON  " : "stream"}  openai SDK ${line("sdk")}   thin ${line("thin")}   ` +
      `ratio (p50) ${ratio(stat("sdk", kind, "p50"), stat("thin", kind, "p50"))}`,
  );
}
