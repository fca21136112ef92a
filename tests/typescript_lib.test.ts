// The compiler setup of supabase/functions/_shared/typescript.ts and ts_service.ts that makes a compile cheap: the
// lib files as one combined file (COMBINED_LIB) and one language service per isolate kept between requests. Both
// must change nothing a user can see: the diagnostics of the combined lib are those of the lib files one by one
// (as tsc loads them) on a corpus — the knowledge base's snippets and fixes, the fix CLI's fixture project and
// cases chosen to touch the libs (DOM names, spelling suggestions from the globals, "change your target library",
// JSX, scripts against modules, global augmentation); code with `/// <reference …>` lines of its own is compiled
// with the lib files one by one; and a service reused by many requests answers each as a fresh one would.
import assert from "node:assert/strict";
import { SnippetService } from "../supabase/functions/_shared/ts_service.ts";
import {
  COMBINED_LIB,
  diagnoseSnippet,
  needsSeparateLibs,
} from "../supabase/functions/_shared/typescript.ts";
import { db } from "./_stack.ts";
import { compileCorpus, EDGE_CASES } from "./_ts_corpus.ts";

Deno.test("typescript: the combined lib gives the diagnostics of the lib files one by one", async () => {
  const sql = db();
  try {
    const { corpus, knowledgeBase } = await compileCorpus(sql);
    assert.ok(knowledgeBase >= 50, `the knowledge base has ${knowledgeBase} rows`);
    let withDiagnostics = 0;
    for (const code of corpus) {
      for (const fileName of ["snippet.ts", "snippet.tsx"]) {
        const separate = diagnoseSnippet(code, { fileName, separateLibs: true });
        assert.deepEqual(diagnoseSnippet(code, { fileName }), separate, `${fileName}:\n${code}`);
        if (separate.length) withDiagnostics++;
      }
    }
    assert.ok(withDiagnostics > 50, `${withDiagnostics} of the compiles report diagnostics`);
  } finally {
    await sql.end();
  }
});

Deno.test("typescript: code with reference lines of its own is compiled with the lib files one by one", () => {
  const code = `/// <reference lib="es2023" />\n[1].findLast((x) => x > 0);\n`;
  assert.equal(needsSeparateLibs(code), true);
  assert.equal(needsSeparateLibs(EDGE_CASES[0]), false);
  const diagnostics = diagnoseSnippet(code);
  assert.deepEqual(diagnostics, diagnoseSnippet(code, { separateLibs: true }));
  // The reference is the compiler's business (here: a lib the embedded set does not have), not dropped silently.
  assert.ok(diagnostics.some((d) => d.code === "TS6053"), JSON.stringify(diagnostics));
  const service = new SnippetService();
  assert.deepEqual(service.check(code).diagnostics, diagnostics);
  assert.ok(
    !service.check(code).program.getSourceFiles().some((f) => f.fileName === COMBINED_LIB),
    "the service uses the lib files one by one for it too",
  );
});

Deno.test("typescript: a language service kept between requests answers each as a fresh compile does", () => {
  // Versions in an order that makes the kept program's structure change: a script, a module, imports added and
  // dropped, a TSX file, a reference line, and back.
  const versions = [
    EDGE_CASES[0],
    `import { a } from "./a";\nexport const b: string = a;\n`,
    EDGE_CASES[1],
    `import { a } from "./a";\nimport { c } from "./c";\nexport const b: number = a + c;\n`,
    `/// <reference lib="dom" />\nconst name = 2;\n`,
    EDGE_CASES[0].replace('"1"', "1"),
    EDGE_CASES[3],
  ];
  for (let round = 0; round < 3; round++) {
    for (const code of versions) {
      const service = new SnippetService(round === 1 ? "snippet.tsx" : "snippet.ts");
      const checked = service.check(code);
      assert.deepEqual(
        checked.diagnostics,
        diagnoseSnippet(code, { fileName: service.fileName, separateLibs: true }),
        code,
      );
      assert.equal(service.check(code), checked, "a text seen before in the request is not compiled again");
    }
  }
});
