// The functions' smaller builds of pinned libraries (supabase/functions/_shared/vendor/, see tools/vendor/build.ts)
// are exactly what the build tool makes from the pinned npm packages today: a fresh build in memory equals the
// committed files, and the TypeScript build behaves like the npm package it was made from.
import assert from "node:assert/strict";
import { join } from "node:path";
import npmTs from "typescript";
import { buildAll, VENDOR_DIR } from "../tools/vendor/build.ts";

Deno.test("vendor: a fresh build of the pinned packages equals the committed files (no drift)", async () => {
  const built = await buildAll();
  for (const [name, text] of Object.entries(built)) {
    const committed = await Deno.readTextFile(join(VENDOR_DIR, name));
    assert.ok(
      committed === text,
      `${name} differs from a fresh build: run deno run -A tools/vendor/build.ts`,
    );
  }
});

Deno.test("vendor: the TypeScript build is the pinned compiler, without Node's file system", async () => {
  const { default: ts } = await import(join(VENDOR_DIR, "typescript.js"));
  assert.equal(ts.version, npmTs.version);
  assert.equal(ts.sys, undefined, "no ts.sys: the compiler cannot read files by itself");
  const source = ts.createSourceFile("a.ts", "const x: number = 'a';", ts.ScriptTarget.ES2022);
  assert.equal(source.statements.length, 1);
});
