// Every function resolves its imports the way `supabase functions deploy` does — through its own
// supabase/functions/<name>/deno.json, never the repository root's — and pins the same versions as the root
// deno.json that tests and tools use. `deno check` with only the function's import map proves that every bare
// specifier in its module graph (its _shared imports included) is mapped there.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import { discoverFunctions } from "../stack/functions.ts";

const rootImports: Record<string, string> =
  JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).imports;
const vendorSources: Record<string, string> =
  JSON.parse(await Deno.readTextFile(join(ROOT, "tools", "vendor", "sources", "package.json"))).dependencies;
const functions = [...(await discoverFunctions()).values()];
const VENDOR = join(ROOT, "supabase", "functions", "_shared", "vendor");

/** The package a vendored build (tools/vendor/build.ts) stands for, by the specifier it is mapped from. */
function vendoredPackage(specifier: string): string {
  return specifier.startsWith("@modelcontextprotocol/sdk/") ? "@modelcontextprotocol/sdk" : specifier;
}

async function ownImports(dir: string): Promise<Record<string, string>> {
  return JSON.parse(await Deno.readTextFile(join(dir, "deno.json"))).imports;
}

Deno.test("every function resolves through nothing but its own deno.json (as an import map)", async () => {
  assert.ok(functions.length >= 7, `found ${functions.map((f) => f.name).join(", ")}`);
  for (const fn of functions) {
    assert.deepEqual(fn.resolutionArgs.slice(0, 2), ["--no-config", "--import-map"], fn.name);
    const map = JSON.parse(await Deno.readTextFile(fn.resolutionArgs[2]));
    const expected = Object.fromEntries(
      Object.entries(await ownImports(fn.dir)).map(([k, v]) => [
        k,
        v.startsWith(".") ? new URL(v, `file://${join(fn.dir, "deno.json")}`).href : v,
      ]),
    );
    assert.deepEqual(map.imports, expected, `${fn.name}: the import map is its deno.json's imports`);
    assert.deepEqual(fn.lockArgs, [`--lock=${join(fn.dir, "deno.lock")}`], `${fn.name} has its own lockfile`);
  }
});

Deno.test("functions pin exactly the versions the root deno.json pins: npm: specifiers or the vendored builds of them", async () => {
  for (const fn of functions) {
    for (const [name, target] of Object.entries(await ownImports(fn.dir))) {
      if (target.startsWith(".")) {
        const file = new URL(target, `file://${join(fn.dir, "deno.json")}`).pathname;
        assert.ok(file.startsWith(`${VENDOR}/`), `${fn.name}: ${name} maps to a vendored build (${file})`);
        const pkg = vendoredPackage(name);
        const rootPin = rootImports[pkg] ?? rootImports[`${pkg}/`];
        assert.ok(rootPin, `${fn.name}: the root deno.json pins ${pkg}`);
        assert.ok(
          rootPin.includes(`${pkg}@${vendorSources[pkg]}`),
          `${fn.name}: ${name} is built from ${pkg}@${
            vendorSources[pkg]
          }, the version the root pins (${rootPin})`,
        );
        continue;
      }
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
  const dir = await Deno.makeTempDir({ prefix: "function-types-" });
  // Two at a time: one per core.
  const queue = [...functions];
  await Promise.all([0, 1].map(async () => {
    for (let fn = queue.shift(); fn; fn = queue.shift()) {
      // The vendored builds carry no types: the checker reads those of the npm package they were built from.
      const map = JSON.parse(await Deno.readTextFile(fn.resolutionArgs[2]));
      for (const name of Object.keys(map.imports)) {
        if (!String(map.imports[name]).startsWith(`file://${VENDOR}/`)) continue;
        const pkg = vendoredPackage(name);
        map.imports[name] = name === pkg
          ? rootImports[pkg]
          : `${rootImports[`${pkg}/`]}${name.slice(pkg.length + 1)}`;
      }
      const file = join(dir, `${fn.name}.json`);
      await Deno.writeTextFile(file, JSON.stringify(map));
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--quiet", "--no-lock", "--no-config", "--import-map", file, fn.entrypoint],
        cwd: fn.dir,
        env: { NO_COLOR: "1" },
      }).output();
      if (code !== 0) failures.push(`${fn.name}:\n${new TextDecoder().decode(stderr).slice(0, 2000)}`);
    }
  }));
  await Deno.remove(dir, { recursive: true });
  assert.deepEqual(failures, []);
});
