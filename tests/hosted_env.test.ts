// No function reads an environment variable hosted Supabase does not provide: every SUPABASE_… name in the
// functions' code is one the platform sets (../shared/FACTS.md, "Environment on hosted"; hosted reserves the
// prefix, so a user cannot set any other), and every other variable a function reads is configuration the README
// documents (set with `supabase secrets set`). The runtime test of the same rule is in tests/gateway.test.ts.
import assert from "node:assert/strict";
import { join } from "node:path";
import { HOSTED_ENV, ROOT } from "../stack/config.ts";

const HOSTED = new Set<string>(HOSTED_ENV);

async function sources(dir: string): Promise<Array<{ file: string; text: string }>> {
  const out: Array<{ file: string; text: string }> = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && entry.name !== "vendor") out.push(...await sources(path));
    else if (entry.isFile && entry.name.endsWith(".ts")) {
      out.push({ file: path, text: await Deno.readTextFile(path) });
    }
  }
  return out;
}

const files = await sources(join(ROOT, "supabase", "functions"));
const readme = await Deno.readTextFile(join(ROOT, "README.md"));

Deno.test("functions name no SUPABASE_ variable that hosted does not set", () => {
  const found = new Set<string>();
  for (const { file, text } of files) {
    for (const [name] of text.matchAll(/\bSUPABASE_[A-Z0-9_]+\b/g)) {
      if (!HOSTED.has(name)) found.add(`${name} (${file.slice(ROOT.length + 1)})`);
    }
  }
  assert.deepEqual([...found], [], "hosted never sets these (and reserves the prefix)");
});

Deno.test("every other variable a function reads is configuration the README documents", () => {
  const read = new Set<string>();
  for (const { text } of files) {
    const patterns = [
      /Deno\.env\.get\("([A-Z][A-Z0-9_]+)"\)/g,
      /\benv\("([A-Z][A-Z0-9_]+)"/g,
      /\bintEnv\("([A-Z][A-Z0-9_]+)"/g,
      /\bread(?:Integer)?\(env, "([A-Z][A-Z0-9_]+)"/g,
      /apiKeyEnv: \[([^\]]+)\]/g,
    ];
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) {
        for (const name of match[1].match(/[A-Z][A-Z0-9_]+/g) ?? []) read.add(name);
      }
    }
  }
  assert.ok(read.size > 10, `found ${[...read].join(", ")}`);
  const undocumented = [...read].filter((name) =>
    !HOSTED.has(name) && !new RegExp(`\\b${name}\\b`).test(readme)
  );
  assert.deepEqual(undocumented, [], "read by a function but not in the README's configuration");
});
