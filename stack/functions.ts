// What `supabase functions serve/deploy` would run for each function folder: its entrypoint, whether the
// gateway checks JWTs, and the import map its imports resolve through (the CLI's order of precedence).
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parse } from "smol-toml";
import { SUPABASE_DIR } from "./config.ts";

export interface FunctionSpec {
  name: string;
  dir: string;
  entrypoint: string;
  verifyJwt: boolean;
  /** `--no-config --import-map <file>` for `deno run`: exactly the function's own resolution, as deploy's. */
  resolutionArgs: string[];
  /** `--lock <function>/deno.lock` (the function's own lockfile), or `--no-lock` without a deno.json. */
  lockArgs: string[];
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

/** JSON with line and block comments (deno.jsonc) as plain JSON text. */
export function stripJsonComments(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      out += text.slice(start, i + 1);
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2);
      if (i === -1) break;
      i++;
    } else out += c;
  }
  return out;
}

/**
 * The function's deno.json(c) as a plain import map (its "imports" and "scopes", relative targets made
 * absolute), written to supabase/.temp/import_maps/<name>.json. Deno run with `--config` would also pick up
 * the repository's root deno.json for files outside the function's folder (e.g. _shared/), which deploy never
 * sees; `--no-config --import-map` resolves exactly as deploy does.
 */
function importMapOf(supabaseDir: string, name: string, configFile: string): string {
  const config = JSON.parse(stripJsonComments(Deno.readTextFileSync(configFile)));
  const base = new URL(`file://${configFile}`);
  const absolute = (map: Record<string, string> = {}) =>
    Object.fromEntries(
      Object.entries(map).map(([k, v]) => [k, /^(\.\.?\/|\/)/.test(v) ? new URL(v, base).href : v]),
    );
  const scopes = Object.fromEntries(
    Object.entries((config.scopes ?? {}) as Record<string, Record<string, string>>)
      .map(([scope, map]) => [new URL(scope, base).href, absolute(map)]),
  );
  const dir = join(supabaseDir, ".temp", "import_maps");
  Deno.mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  const text = JSON.stringify({ imports: absolute(config.imports), scopes }, null, 2);
  let current: string | null = null;
  try {
    current = Deno.readTextFileSync(file);
  } catch { /* not written yet */ }
  if (current !== text) Deno.writeTextFileSync(file, text);
  return file;
}

/**
 * The CLI's order: config.toml's import_map > the function's deno.json/deno.jsonc > its import_map.json >
 * supabase/functions/import_map.json. Never the repository root's deno.json.
 */
export function resolutionArgs(supabaseDir: string, dir: string, toml: FunctionToml): string[] {
  if (toml.import_map) return ["--no-config", "--import-map", resolve(supabaseDir, toml.import_map)];
  for (const name of ["deno.json", "deno.jsonc"]) {
    const file = join(dir, name);
    if (existsSync(file)) {
      return ["--no-config", "--import-map", importMapOf(supabaseDir, basename(dir), file)];
    }
  }
  for (const file of [join(dir, "import_map.json"), join(supabaseDir, "functions", "import_map.json")]) {
    if (existsSync(file)) return ["--no-config", "--import-map", file];
  }
  return ["--no-config"];
}

/** Each function keeps its own lockfile beside its deno.json (import-map functions: none). */
export function lockArgs(dir: string, toml: FunctionToml): string[] {
  if (toml.import_map) return ["--no-lock"];
  return ["deno.json", "deno.jsonc"].some((name) => existsSync(join(dir, name)))
    ? [`--lock=${join(dir, "deno.lock")}`]
    : ["--no-lock"];
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
      lockArgs: lockArgs(dir, toml),
    });
  }
  return specs;
}
