// Snippets compiled together in one program (supabase/functions/_shared/ts_batch.ts) must report exactly what
// each reports compiled alone: on a corpus (the knowledge base, the fixture project, the edge cases), each
// snippet in a program with others; and for every way a snippet could reach another, or mean something else as
// a module than as a script, that such code is compiled alone — with, for each case, the proof that the rule is
// needed (forced into a module, it would report otherwise).
import assert from "node:assert/strict";
import ts from "typescript";
import { checkAll, checkOriginal, sharesProgram } from "../supabase/functions/_shared/ts_batch.ts";
import { snippetLanguageService, SnippetService } from "../supabase/functions/_shared/ts_service.ts";
import { verifyFix } from "../supabase/functions/_shared/verify_fix.ts";
import {
  COMBINED_LIB,
  diagnoseSnippet,
  programDiagnostics,
  snippetSetup,
} from "../supabase/functions/_shared/typescript.ts";
import { db } from "./_stack.ts";
import { compileCorpus } from "./_ts_corpus.ts";

/** Compiles `codes` in the same turn (one program where they may share one) and returns each one's compile. */
async function together(codes: string[], fileName = "snippet.ts") {
  const services = codes.map(() => new SnippetService(fileName));
  await Promise.all(codes.map((code, i) => checkAll(services[i], [code])));
  return codes.map((code, i) => services[i].check(code));
}

/** `code` checked as a module of its own (moduleDetection force): what sharing a program would report. */
function asModule(code: string) {
  const { filePath, options } = snippetSetup("snippet.ts", true);
  const program = snippetLanguageService(
    { ...options, moduleDetection: ts.ModuleDetectionKind.Force },
    () => [COMBINED_LIB, filePath],
    (name) => (name === filePath ? { code, version: "1" } : undefined),
  ).getProgram()!;
  return programDiagnostics(program, program.getSourceFile(filePath)!);
}

Deno.test("ts batch: each snippet of the corpus reports in a shared program what it reports alone", async () => {
  const sql = db();
  try {
    const { corpus } = await compileCorpus(sql);
    for (const fileName of ["snippet.ts", "snippet.tsx"]) {
      let shared = 0;
      // Groups of 8 in a changing mix, so each snippet meets different neighbours.
      const order = corpus.map((code, i) => ({ code, key: (i * 7919) % corpus.length })).sort((a, b) =>
        a.key - b.key
      ).map((x) => x.code);
      for (let i = 0; i < order.length; i += 8) {
        const group = order.slice(i, i + 8);
        const compiled = await together(group, fileName);
        group.forEach((code, j) => {
          if (sharesProgram(code, fileName)) shared++;
          assert.deepEqual(
            compiled[j].diagnostics,
            diagnoseSnippet(code, { fileName, separateLibs: true }),
            `${fileName}:\n${code}`,
          );
        });
      }
      // Most of the corpus takes the shared path (else this test would prove little).
      assert.ok(shared > corpus.length * 0.6, `${shared} of ${corpus.length} shared a program (${fileName})`);
    }
  } finally {
    await sql.end();
  }
});

// Scripts whose meaning as a module differs, and modules that would reach the global scope.
const ALONE: [string, string][] = [
  ["a top-level name the lib declares", `const name = 1;\nconsole.log(name);\n`],
  ["a var seen through window", `var total = 1;\nconsole.log(window.total.toFixed());\n`],
  [
    "a function seen through globalThis",
    `function helper() { return 1; }\nconsole.log(globalThis.helper());\n`,
  ],
  ["a type through globalThis", `interface Order { id: number }\nconst o: globalThis.Order = { id: 1 };\n`],
  ["top-level await", `const r = await fetch("x");\nconsole.log(r.status);\n`],
  ["top-level this", `console.log(this.location.href);\n`],
  ["await as a name", `const await = 1;\nconsole.log(await);\n`],
  ["a namespace on window", `namespace Config { export const x = 1; }\nconsole.log(window.Config.x);\n`],
  [
    "global augmentation",
    `declare global { interface Console { extra(): void } }\nexport {};\nconsole.extra();\n`,
  ],
  ["an ambient module", `declare module "x" { export const y: number; }\nconst z: string = 1;\n`],
  ["a UMD global", `export as namespace Lib;\nexport const a = 1;\n`],
  ["top-level arguments", `const n = () => arguments.length;\nconsole.log(n());\n`],
];

Deno.test("ts batch: code that would mean something else in a shared program is compiled alone", async () => {
  for (const [what, code] of ALONE) {
    assert.equal(sharesProgram(code), false, what);
    const [compiled] = await together([code, `export const other: number = 1;\n`]);
    const alone = diagnoseSnippet(code, { separateLibs: true });
    assert.deepEqual(compiled.diagnostics, alone, what);
    assert.ok(
      !compiled.program.getSourceFiles().some((f) => f.fileName.startsWith("/src/0/")),
      `${what}: compiled in its own program`,
    );
  }
  // The rules are needed: forced into a module, the scripts among them report otherwise.
  const differ = ALONE.filter(([, code]) => !/^(declare|export)/m.test(code))
    .filter(([, code]) => JSON.stringify(asModule(code)) !== JSON.stringify(diagnoseSnippet(code)));
  assert.ok(differ.length >= 6, `forced into modules, ${differ.map(([w]) => w).join(", ")} differ`);
});

Deno.test("ts batch: a snippet never reaches another of its program", async () => {
  const secret = `export const secret: number = 1;\nexport interface Hidden { token: string }\n`;
  const probes = [
    `import { secret } from "../0/snippet";\nconst s: string = secret;\n`,
    `import { secret } from "/src/0/snippet";\nconst s: string = secret;\n`,
    `import type { Hidden } from "../0/snippet.ts";\nconst h: Hidden = { token: 1 };\n`,
    `const s: typeof import("../0/snippet").secret = "x";\n`,
  ];
  const compiled = await together([secret, ...probes]);
  probes.forEach((probe, i) => {
    assert.ok(sharesProgram(probe));
    assert.equal(compiled[i + 1].program, compiled[0].program, "they did share a program");
    assert.deepEqual(compiled[i + 1].diagnostics, diagnoseSnippet(probe, { separateLibs: true }), probe);
    assert.ok(compiled[i + 1].diagnostics.some((d) => d.code === "TS2307"), `unresolved: ${probe}`);
  });
  // A snippet's import of itself resolves as it does alone.
  const self = `import { a } from "./snippet";\nexport const a: number = 1;\nconst b: string = a;\n`;
  const [, own] = await together([secret, self]);
  assert.deepEqual(own.diagnostics, diagnoseSnippet(self, { separateLibs: true }));
  assert.ok(!own.diagnostics.some((d) => d.code === "TS2307"), JSON.stringify(own.diagnostics));
  // TypeScript's code fixes never import from another snippet of the program.
  const missing = `export const total: number = secret + 1;\n`;
  const results = await Promise.all(
    [secret, missing].map((code) =>
      checkOriginal(new SnippetService(), code, (d) => d.find((x) => x.code === "TS2304") ?? null)
    ),
  );
  assert.equal(results[1].original.program, results[0].original.program);
  assert.ok(results[1].target, "TS2304 is the target");
  assert.ok(
    results[1].fixes.every((f) => !f.code.includes("import")),
    JSON.stringify(results[1].fixes.map((f) => f.code)),
  );
});

Deno.test("ts batch: the original's code fixes come from its own program, as alone", async () => {
  const code = `const items = [1, 2];\nconsole.log(itemz.length);\n`;
  const [batched, alone] = await Promise.all([
    checkOriginal(new SnippetService(), code, (d) => d[0] ?? null),
    Promise.resolve().then(() => {
      const service = new SnippetService();
      const original = service.check(code);
      return { original, fixes: service.codeFixes(original, original.diagnostics[0]) };
    }),
  ]);
  assert.ok(sharesProgram(code));
  assert.deepEqual(batched.original.diagnostics, alone.original.diagnostics);
  assert.deepEqual(batched.fixes, alone.fixes);
  assert.ok(batched.fixes.some((f) => f.fixName === "spelling"), JSON.stringify(batched.fixes));
});

Deno.test("ts batch: a fix is judged the same whether it and its original were compiled alone or among others", async () => {
  const sql = db();
  try {
    const rows = await sql<
      { code_snippet: string; suggested_fix: string; error_code: string; error_message: string }[]
    >`
      select code_snippet, suggested_fix, error_code, error_message from public.code_analysis
      where shared and suggested_fix is not null and error_code is not null order by id`;
    assert.ok(rows.length >= 50, `${rows.length} knowledge-base fixes`);
    let verified = 0;
    for (let i = 0; i < rows.length; i += 6) {
      const group = rows.slice(i, i + 6);
      const services = group.map(() => new SnippetService());
      // Originals in one turn, then the fixes in the next, in the opposite order: each may share a program with
      // the others, and a fix lands in another file of its program than its original did.
      await Promise.all(group.map((r, j) => checkOriginal(services[j], r.code_snippet, () => null)));
      await Promise.all(
        group.map((_, j) => group.length - 1 - j).map((j) => checkAll(services[j], [group[j].suggested_fix])),
      );
      group.forEach((r, j) => {
        const input = {
          code: r.code_snippet,
          fixedCode: r.suggested_fix,
          errorCode: r.error_code,
          errorMessage: r.error_message,
        };
        const batched = verifyFix({ ...input, service: services[j] });
        const alone = verifyFix(input);
        assert.deepEqual(batched.rules, alone.rules, r.code_snippet);
        if (alone.verified) verified++;
      });
    }
    assert.ok(verified > rows.length / 2, `${verified} of ${rows.length} verified`);
  } finally {
    await sql.end();
  }
});

Deno.test("ts batch: a fix compiled alone is judged against an original compiled among others as against one compiled alone", async () => {
  const original =
    `interface Order { id: number; total: number }\nconst first: Order = { id: 1, total: 1 };\n` +
    `const order: Order = { id: 2, total: "2" };\nconsole.log(first, order);\n`;
  // The fix adds a function, so as a script it no longer shares a program.
  const fixed = `function toNumber(s: string): number {\n  return Number(s);\n}\n` +
    original.replace(`total: "2"`, `total: toNumber("2")`);
  assert.ok(sharesProgram(original));
  assert.ok(!sharesProgram(fixed));
  const service = new SnippetService();
  const [first] = await Promise.all([
    checkOriginal(service, original, (d) => d[0] ?? null),
    checkAll(new SnippetService(), [`export const other = 1;\n`]),
  ]);
  assert.ok(first.original.program.getSourceFiles().some((f) => f.fileName === "/src/1/snippet.ts"));
  await checkAll(service, [fixed]);
  const input = {
    code: original,
    fixedCode: fixed,
    errorCode: "TS2322",
    errorMessage: "Type 'string' is not assignable to type 'number'.",
  };
  const batched = verifyFix({ ...input, service });
  const alone = verifyFix(input);
  assert.ok(alone.verified, alone.reason);
  assert.deepEqual(batched.rules, alone.rules);
  assert.ok(batched.verified, batched.reason);
});

Deno.test("ts batch: a module's types are named the same in every file of a program", async () => {
  // `buyer` lies outside the error's region and its type names the module's own interface: its declared type must
  // read the same from the original's file and from the fix's (another file of another program).
  const original =
    `export interface Customer { name: string }\nexport const buyer: Customer = { name: "a" };\n` +
    `export const one = 1;\nexport const two = 2;\nexport const three = 3;\n` +
    `export function total(): number {\n  const t: number = "2";\n  return t;\n}\n`;
  const fixed = original.replace(`= "2"`, `= 2`);
  const service = new SnippetService();
  await checkOriginal(service, original, (d) => d[0] ?? null);
  await Promise.all([
    checkAll(new SnippetService(), [`export const other = 1;\n`]),
    checkAll(service, [fixed]),
  ]);
  assert.notEqual(service.check(fixed).sourceFile.fileName, service.check(original).sourceFile.fileName);
  const result = verifyFix({
    code: original,
    fixedCode: fixed,
    errorCode: "TS2322",
    errorMessage: "Type 'string' is not assignable to type 'number'.",
    service,
  });
  assert.ok(result.verified, result.reason);
});
