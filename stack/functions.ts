// What `supabase functions serve/deploy` would run for each function folder: its entrypoint, whether the
// gateway checks JWTs, and the import map its imports resolve through (the CLI's order of precedence).
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "smol-toml";
import { SUPABASE_DIR } from "./config.ts";

export interface FunctionSpec {
  name: string;
  dir: string;
  entrypoint: string;
  verifyJwt: boolean;
  /** `--config <deno.json>` or `--import-map <file>` for `deno run`, as deploy resolves imports. */
  resolutionArgs: string[];
}

interface FunctionToml {
  verify_jwt?: boolean;
  import_map?: string;
  entrypoint?: string;
  enabled?: boolean;
}

export async function readFunctionsConfig(supabaseDir = SUPABASE_DIR): Promise<Record<string, FunctionToml>> {
  const text = await Deno.readTextFile(join(supabaseDir, "config.toml"));
  const parsed = parse(text) as { functions?: Record<string, FunctionToml> };
  return parsed.functions ?? {};
}

/**
 * The CLI's order: config.toml's import_map > the function's deno.json/deno.jsonc > its import_map.json >
 * supabase/functions/import_map.json. Never the repository root's deno.json.
 */
export function resolutionArgs(supabaseDir: string, dir: string, toml: FunctionToml): string[] {
  if (toml.import_map) return ["--no-config", "--import-map", resolve(supabaseDir, toml.import_map)];
  for (const name of ["deno.json", "deno.jsonc"]) {
    if (existsSync(join(dir, name))) return ["--config", join(dir, name)];
  }
  for (const file of [join(dir, "import_map.json"), join(supabaseDir, "functions", "import_map.json")]) {
    if (existsSync(file)) return ["--no-config", "--import-map", file];
  }
  return ["--no-config"];
}

/** Every folder in supabase/functions except `_shared` and other `_`/`.` folders. */
export async function discoverFunctions(supabaseDir = SUPABASE_DIR): Promise<Map<string, FunctionSpec>> {
  const config = await readFunctionsConfig(supabaseDir);
  const specs = new Map<string, FunctionSpec>();
  const functionsDir = join(supabaseDir, "functions");
  for await (const entry of Deno.readDir(functionsDir)) {
    if (!entry.isDirectory || entry.name.startsWith("_") || entry.name.startsWith(".")) continue;
    const dir = join(functionsDir, entry.name);
    const toml = config[entry.name] ?? {};
    if (toml.enabled === false) continue;
    const entrypoint = toml.entrypoint ? resolve(supabaseDir, toml.entrypoint) : join(dir, "index.ts");
    if (!existsSync(entrypoint)) continue;
    specs.set(entry.name, {
      name: entry.name,
      dir,
      entrypoint,
      verifyJwt: toml.verify_jwt ?? true,
      resolutionArgs: resolutionArgs(supabaseDir, dir, toml),
    });
  }
  return specs;
}

/** KEY=value lines of supabase/functions/.env (comments and blank lines ignored, quotes stripped). */
export async function readFunctionsDotEnv(supabaseDir = SUPABASE_DIR): Promise<Record<string, string>> {
  const file = join(supabaseDir, "functions", ".env");
  if (!existsSync(file)) return {};
  const env: Record<string, string> = {};
  for (const line of (await Deno.readTextFile(file)).split("\n")) {
    const match = line.match(/^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/);
    if (!match) continue;
    env[match[1]] = match[2].replace(/^(['"])(.*)\1$/, "$2");
  }
  return env;
}
