// `deno task deploy:check`: what `supabase functions deploy` would bundle for each function, measured the way
// the bundle is built (../shared/FACTS.md): the function's module graph resolved through its own deno.json, every
// local module it imports, and every npm package folder of its resolution *whole*. A function fails the check
// when its bundle exceeds hosted's 20 MB or any package in it holds a native addon (`.node` file), which the Edge
// Runtime refuses to load.
//
//   deno task deploy:check            every function: size, local code, the largest packages; exit 1 on a failure
//   deno task deploy:check --json     the same as JSON
import { join } from "node:path";
import { discoverFunctions, type FunctionSpec } from "./functions.ts";
import { run } from "./process.ts";
import { SUPABASE_DIR } from "./config.ts";

/** Hosted's limit for a function bundled locally (docs "functions/limits"). */
export const BUNDLE_LIMIT_BYTES = 20 * 1024 * 1024;

export interface PackageSize {
  name: string;
  bytes: number;
  /** `.node` files (native addons) inside the package. */
  nativeAddons: string[];
}

export interface DeployGraph {
  name: string;
  bytes: number;
  localBytes: number;
  packages: PackageSize[];
  problems: string[];
}

interface InfoJson {
  modules: Array<{ specifier: string; kind?: string; size?: number; local?: string }>;
  npmPackages: Record<string, { name: string; version: string }>;
}

async function folderSize(dir: string): Promise<{ bytes: number; nativeAddons: string[] }> {
  let bytes = 0;
  const nativeAddons: string[] = [];
  const walk = async (path: string) => {
    for await (const entry of Deno.readDir(path)) {
      const child = join(path, entry.name);
      if (entry.isDirectory) await walk(child);
      else if (entry.isFile) {
        bytes += (await Deno.stat(child)).size;
        if (entry.name.endsWith(".node")) nativeAddons.push(child.slice(dir.length + 1));
      }
    }
  };
  try {
    await walk(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return { bytes, nativeAddons };
}

let npmCacheDir: string | null = null;

async function npmCache(): Promise<string> {
  if (npmCacheDir) return npmCacheDir;
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json"], { what: "deno info" }));
  npmCacheDir = join(info.npmCache as string, "registry.npmjs.org");
  return npmCacheDir;
}

/** The deploy bundle of one function, as deploy resolves it. */
export async function deployGraph(spec: FunctionSpec): Promise<DeployGraph> {
  const info = JSON.parse(
    await run(
      Deno.execPath(),
      ["info", "--json", ...spec.resolutionArgs, ...spec.lockArgs, spec.entrypoint],
      {
        what: `deno info for ${spec.name}`,
        cwd: spec.dir,
      },
    ),
  ) as InfoJson;
  let localBytes = 0;
  for (const module of info.modules) {
    if (module.specifier.startsWith("file:")) localBytes += module.size ?? 0;
  }
  const cache = await npmCache();
  const packages: PackageSize[] = [];
  for (const { name, version } of Object.values(info.npmPackages)) {
    const { bytes, nativeAddons } = await folderSize(join(cache, name, version));
    packages.push({ name: `${name}@${version}`, bytes, nativeAddons });
  }
  packages.sort((a, b) => b.bytes - a.bytes);
  const bytes = localBytes + packages.reduce((sum, p) => sum + p.bytes, 0);
  const problems: string[] = [];
  if (bytes > BUNDLE_LIMIT_BYTES) {
    problems.push(`${mb(bytes)} exceeds hosted's ${mb(BUNDLE_LIMIT_BYTES)} bundle limit`);
  }
  for (const p of packages) {
    if (p.nativeAddons.length > 0) {
      problems.push(
        `${p.name} holds native addons (${
          p.nativeAddons.slice(0, 3).join(", ")
        }), which the Edge Runtime cannot load`,
      );
    }
  }
  return { name: spec.name, bytes, localBytes, packages, problems };
}

export async function deployGraphs(supabaseDir = SUPABASE_DIR): Promise<DeployGraph[]> {
  const specs = [...(await discoverFunctions(supabaseDir)).values()].sort((a, b) =>
    a.name.localeCompare(b.name)
  );
  const graphs: DeployGraph[] = [];
  for (const spec of specs) graphs.push(await deployGraph(spec));
  return graphs;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MB`;
}

if (import.meta.main) {
  const graphs = await deployGraphs();
  if (Deno.args.includes("--json")) console.log(JSON.stringify(graphs, null, 2));
  else {
    for (const g of graphs) {
      const top = g.packages.slice(0, 4).map((p) => `${p.name} ${mb(p.bytes)}`).join(", ");
      console.log(
        `${g.problems.length ? "FAIL" : "ok  "} ${g.name.padEnd(20)} ${mb(g.bytes).padStart(9)}  ` +
          `(local ${mb(g.localBytes)}; ${top || "no npm packages"})`,
      );
      for (const problem of g.problems) console.log(`       ${problem}`);
    }
    const failed = graphs.filter((g) => g.problems.length > 0).length;
    console.log(
      failed
        ? `${failed} function(s) cannot deploy as they are.`
        : `Every function fits hosted's limits (${mb(BUNDLE_LIMIT_BYTES)}, no native addons).`,
    );
  }
  Deno.exit(graphs.some((g) => g.problems.length > 0) ? 1 : 0);
}
