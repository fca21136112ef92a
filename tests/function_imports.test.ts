// Every function resolves its imports the way `supabase functions deploy` does — through its own
// supabase/functions/<name>/deno.json, never the repository root's — and pins the same versions as the root
// deno.json that tests and tools use. `deno check` with only the function's config proves that every bare
// specifier in its module graph (its _shared imports included) is mapped there.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import { discoverFunctions } from "../stack/functions.ts";

const rootImports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports;
const functions = [...(await discoverFunctions()).values()];

Deno.test("every function folder has its own deno.json (Supabase's recommended layout)", () => {
  assert.ok(functions.length >= 7, `found ${functions.map((f) => f.name).join(", ")}`);
  for (const fn of functions) {
    assert.deepEqual(
      fn.resolutionArgs,
      ["--config", join(fn.dir, "deno.json")],
      `${fn.name} resolves through its deno.json`,
    );
  }
});

Deno.test("functions pin exactly the versions the root deno.json pins, with npm: specifiers only", async () => {
  for (const fn of functions) {
    const { imports } = JSON.parse(await Deno.readTextFile(join(fn.dir, "deno.json")));
    for (const [name, target] of Object.entries(imports as Record<string, string>)) {
      assert.match(target, /^npm:\/?[@a-z0-9]/, `${fn.name}: ${name} is an npm: specifier`);
      assert.equal(
        target,
        rootImports[name],
        `${fn.name}: ${name} is pinned like the root (${rootImports[name]})`,
      );
    }
  }
});

Deno.test("each function type-checks with nothing but its own import map", async () => {
  const failures: string[] = [];
  // Two at a time: one per core.
  const queue = [...functions];
  await Promise.all([0, 1].map(async () => {
    for (let fn = queue.shift(); fn; fn = queue.shift()) {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", "--no-lock", ...fn.resolutionArgs, fn.entrypoint],
        cwd: fn.dir,
        env: { NO_COLOR: "1" },
      }).output();
      if (code !== 0) failures.push(`${fn.name}:\n${new TextDecoder().decode(stderr).slice(0, 2000)}`);
    }
  }));
  assert.deepEqual(failures, []);
});
