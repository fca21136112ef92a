// Code that touches what a compile depends on — the lib files (DOM names, spelling suggestions from the globals,
// "change your target library"), JSX, scripts against modules, global augmentation — for the tests that hold a
// cheaper way to compile to the diagnostics of the plain one (typescript_lib.test.ts, typescript_batch.test.ts).
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import type { Sql } from "../supabase/functions/_shared/db.ts";

export const EDGE_CASES = [
  `interface Order { id: number; total: number }\nconst order: Order = { id: 1, total: "1" };\nconsole.log(order.total);\n`,
  `const name = 1;\n`, // a script's global clashes with lib.dom's
  `export const name = 1;\n`, // a module's does not
  `consol.log(1);\n`, // "Did you mean 'console'?" from the globals
  `const el = documnt.body;\n`,
  `[1].findLast((x) => x > 0);\n`, // "Do you need to change your target library?"
  `Object.groupBy([1], (x) => x);\n`,
  `const s = new Set([1]).union(new Set([2]));\n`,
  `"a".replaceAll("a", 1);\n`,
  `document.querySelector("a").href = 1;\n`,
  `export async function f() { const r = await fetch("x"); return r.json().then((j) => j.x); }\n`,
  `import { x } from "./y";\nx();\n`,
  `new Map<string, number>().get("a").toFixed();\n`,
  `const e = new Error("x", { cause: 1 }); e.cause.y;\n`,
  `setTimeout(() => {}, "1");\n`,
  `type T = Awaited<Promise<string>>;\nconst t: T = 1;\n`,
  `declare global { interface Window { extra: number } }\nexport {};\nwindow.extra = "1";\n`,
  `const p: Promise<number> = Promise.resolve("x");\n`,
  `class A { m() { return this.n; } }\n`,
  `let v = new Uint8Array(2); v.toSorted();\n`,
  `const x = structuredClone({ a: 1 }); x.b;\n`,
  `Symbol.asyncIterator; Promise.any([]).then((v) => v.x);\n`,
  `for (const [k, v] of Object.entries({ a: 1 })) k.toFixed(v);\n`,
];

/** EDGE_CASES, the knowledge base's snippets and fixes, and the fix CLI's fixture project's files. */
export async function compileCorpus(sql: Sql): Promise<{ corpus: string[]; knowledgeBase: number }> {
  const kb = await sql<{ code_snippet: string; suggested_fix: string | null }[]>`
    select code_snippet, suggested_fix from public.code_analysis where shared`;
  const project = join(ROOT, "tests", "fixtures", "fix-project", "src");
  const files = [];
  for await (const entry of Deno.readDir(project)) {
    if (entry.isFile) files.push(await Deno.readTextFile(join(project, entry.name)));
  }
  return {
    corpus: [...EDGE_CASES, ...kb.flatMap((r) => [r.code_snippet, r.suggested_fix ?? ""]), ...files],
    knowledgeBase: kb.length,
  };
}
