import assert from "node:assert/strict";
import EMBEDDED_LIBS from "../supabase/functions/_shared/vendor/typescript_libs.js";
import {
  codeFrame,
  diagnoseSnippet,
  embeddedLibNames,
  libCacheSize,
  setLibFileReader,
} from "../supabase/functions/_shared/typescript.ts";
import {
  detectCheats,
  normalizeErrorCode,
  type RuleName,
  sameMessageFamily,
  verifyFix,
} from "../supabase/functions/_shared/verify_fix.ts";
import { CHEAT_KINDS, type CheatKind, cheatOn } from "./fakes/llm_server.ts";
import { extractCode } from "../supabase/functions/_shared/extract_code.ts";
import { LABEL_FILE } from "./_label_file.ts";

const BROKEN = `interface User {
  id: number;
  name: string;
}

export function label(user: User): string {
  const id: string = user.id;
  return id + ":" + user.name;
}
`;

const FIXED = BROKEN.replace("const id: string = user.id;", "const id: string = String(user.id);");

// ---------------------------------------------------------------------------------------------
// diagnoseSnippet

Deno.test("diagnoseSnippet: reports code, 1-based line/column, offsets and message", () => {
  const diagnostics = diagnoseSnippet(BROKEN);
  assert.equal(diagnostics.length, 1);
  const [d] = diagnostics;
  assert.equal(d.code, "TS2322");
  assert.equal(d.numericCode, 2322);
  assert.equal(d.category, "error");
  assert.equal(d.message, "Type 'number' is not assignable to type 'string'.");
  assert.equal(d.line, 7);
  assert.equal(d.column, 9);
  assert.equal(BROKEN.slice(d.start, d.start + d.length), "id");
});

Deno.test("diagnoseSnippet: clean code has no diagnostics; es2022 and dom libs are loaded", () => {
  assert.deepEqual(diagnoseSnippet(FIXED), []);
  const usesLibs = `
export const last = [1, 2, 3].at(-1);
export const own = Object.hasOwn({ a: 1 }, "a");
export const copy = structuredClone({ when: new Date() });
export const title = document.title;
export async function get(url: string): Promise<unknown> {
  const res = await fetch(url);
  return res.json();
}
`;
  assert.deepEqual(diagnoseSnippet(usesLibs), []);
});

Deno.test("diagnoseSnippet: message chains are flattened with newlines", () => {
  const [d] = diagnoseSnippet(`export const n = parseInt(localStorage.getItem("k"), 10);\n`);
  assert.equal(d.code, "TS2345");
  assert.equal(
    d.message,
    "Argument of type 'string | null' is not assignable to parameter of type 'string'.\n" +
      "  Type 'null' is not assignable to type 'string'.",
  );
});

Deno.test("diagnoseSnippet: strict mode is on (implicit any, null checks)", () => {
  const codes = diagnoseSnippet(`export function f(a) {\n  return document.querySelector("p").id + a;\n}\n`)
    .map((d) => d.code);
  assert.deepEqual(codes, ["TS7006", "TS2531"]);
});

Deno.test("diagnoseSnippet: nothing outside the snippet is visible (TS2307)", () => {
  for (
    const specifier of ["zod", "./typescript.ts", "../supabase/functions/_shared/typescript.ts", "node:fs"]
  ) {
    const diagnostics = diagnoseSnippet(`import * as m from "${specifier}";\nexport { m };\n`);
    assert.deepEqual(diagnostics.map((d) => d.code), ["TS2307"], specifier);
    assert.equal(diagnostics[0].line, 1);
    assert.equal(diagnostics[0].column, 20);
  }
});

Deno.test("diagnoseSnippet: syntax errors are reported alone, like tsc", () => {
  const diagnostics = diagnoseSnippet(`const a: number = "x";\nconst p = { x: 1 y: 2 };\n`);
  assert.deepEqual(diagnostics.map((d) => [d.code, d.line, d.column]), [["TS1005", 2, 18]]);
  assert.equal(diagnostics[0].message, "',' expected.");
});

Deno.test("diagnoseSnippet: .tsx file names parse JSX", () => {
  const code = `export const el = <div className="x">hi</div>;\n`;
  const asTsx = diagnoseSnippet(code, { fileName: "src/components/App.tsx" });
  assert.ok(asTsx.every((d) => !d.code.startsWith("TS1") && d.code !== "TS17004"), JSON.stringify(asTsx));
  const asTs = diagnoseSnippet(code);
  assert.ok(asTs.some((d) => d.code.startsWith("TS1")), "JSX in a .ts file is a syntax error");
});

Deno.test("diagnoseSnippet: lib files are cached, so warm checks parse none again", () => {
  diagnoseSnippet("export const warm = 1;\n");
  const cached = libCacheSize();
  assert.ok(cached >= 2, `lib cache holds ${cached} files`);
  const runs = 20;
  for (let i = 0; i < runs; i++) {
    const diagnostics = diagnoseSnippet(
      `export const v${i}: number = "${i}";\nexport const ok = [${i}].map((n) => n * 2);\n`,
    );
    assert.equal(diagnostics.length, 1);
  }
  assert.equal(libCacheSize(), cached, "no lib file parsed again");
  // How fast a warm check is: bench/typescript.ts prints it (target < 50 ms a snippet).
});

Deno.test("diagnoseSnippet: lib files can come from a custom reader", () => {
  const requested: string[] = [];
  const libs = EMBEDDED_LIBS as Record<string, string>;
  setLibFileReader((name) => {
    requested.push(name);
    return libs[name];
  });
  try {
    assert.equal(diagnoseSnippet(`export const x: string = 1;\n`)[0].code, "TS2322");
    assert.ok(requested.includes("lib.es5.d.ts") && requested.includes("lib.dom.d.ts"), requested.join(","));
  } finally {
    setLibFileReader(undefined);
  }
  assert.equal(libCacheSize(), 0, "changing the reader empties the cache");
  assert.deepEqual(diagnoseSnippet("export const y = 1;\n"), []);
});

Deno.test("diagnoseSnippet: the embedded libs hold every lib the checker loads", () => {
  const names = embeddedLibNames();
  for (const name of ["lib.es5.d.ts", "lib.es2022.d.ts", "lib.dom.d.ts", "lib.decorators.d.ts"]) {
    assert.ok(names.includes(name), `${name} is embedded`);
  }
  // A program over es2022 + dom finds every file it asks for: no "Cannot find global type" diagnostics.
  const diagnostics = diagnoseSnippet(
    "export const b = new Blob([]); export const p = Promise.allSettled([]); document.title = String(b);\n",
  );
  assert.deepEqual(diagnostics, [], JSON.stringify(diagnostics));
});

// ---------------------------------------------------------------------------------------------
// verifyFix

Deno.test("verifyFix: accepts a real fix", () => {
  const result = verifyFix({ code: BROKEN, fixedCode: FIXED, errorCode: "TS2322" });
  assert.equal(result.verified, true, result.reason);
  assert.equal(result.before.length, 1);
  assert.deepEqual(result.after, []);
  assert.deepEqual(result.introduced, []);
  assert.deepEqual(result.cheats, []);
  assert.match(result.reason, /TS2322 fixed/);
});

Deno.test("verifyFix: error code formats and message selection", () => {
  assert.equal(normalizeErrorCode(2322), "TS2322");
  assert.equal(normalizeErrorCode("2322"), "TS2322");
  assert.equal(normalizeErrorCode(" ts2322 "), "TS2322");
  for (const errorCode of [2322, "2322", "ts2322"]) {
    assert.equal(verifyFix({ code: BROKEN, fixedCode: FIXED, errorCode }).verified, true);
  }
  const message = "Type 'number' is not assignable to type 'string'.";
  assert.ok(sameMessageFamily(`src/user.ts(7,9): error TS2322: ${message}`, message));
  assert.ok(
    sameMessageFamily(
      "Argument of type 'string | null' is not assignable",
      "Argument of type 'string | null' is not assignable to parameter of type 'string'.\n  Type 'null' is not assignable to type 'string'.",
    ),
  );
  assert.ok(!sameMessageFamily("Type 'string' is not assignable to type 'number'.", message));
  const withPrefix = verifyFix({
    code: BROKEN,
    fixedCode: FIXED,
    errorCode: "TS2322",
    errorMessage: `error TS2322: ${message}`,
  });
  assert.equal(withPrefix.verified, true, withPrefix.reason);
});

Deno.test("verifyFix: with a message, only that diagnostic must go away", () => {
  const code = `export const a: string = 1;\nexport const b: number = "x";\n`;
  const fixesA = `export const a: string = "1";\nexport const b: number = "x";\n`;
  const targetA = verifyFix({
    code,
    fixedCode: fixesA,
    errorCode: "TS2322",
    errorMessage: "Type 'number' is not assignable to type 'string'.",
  });
  assert.equal(targetA.verified, true, targetA.reason);
  const targetB = verifyFix({
    code,
    fixedCode: fixesA,
    errorCode: "TS2322",
    errorMessage: "Type 'string' is not assignable to type 'number'.",
  });
  assert.equal(targetB.verified, false);
  assert.match(targetB.reason, /still reported/);
});

Deno.test("verifyFix: rejects a fix that leaves the error", () => {
  const fixedCode = BROKEN.replace("return id", "return id.trim()");
  const result = verifyFix({ code: BROKEN, fixedCode, errorCode: "TS2322" });
  assert.equal(result.verified, false);
  assert.match(result.reason, /TS2322 is still reported/);
});

Deno.test("verifyFix: rejects a fix that introduces a new error", () => {
  const fixedCode = BROKEN.replace(
    "const id: string = user.id;",
    "const id: string = missingHelper(user.id);",
  );
  const result = verifyFix({ code: BROKEN, fixedCode, errorCode: "TS2322" });
  assert.equal(result.verified, false);
  assert.deepEqual(result.introduced.map((d) => d.code), ["TS2304"]);
  assert.match(result.reason, /introduces new diagnostics: TS2304/);
});

Deno.test("verifyFix: a diagnostic that only moved is not 'introduced'", () => {
  const code = `export const a: string = 1;\nexport const b: number = "x";\n`;
  const fixedCode = `// header comment\n\nexport const b: number = "x";\nexport const a: string = "1";\n`;
  const result = verifyFix({
    code,
    fixedCode,
    errorCode: "2322",
    errorMessage: "Type 'number' is not assignable to type 'string'.",
  });
  assert.equal(result.verified, true, result.reason);
  assert.equal(result.after.length, 1);
  assert.deepEqual(result.introduced, []);
});

const NULLABLE = `interface Options {
  retries?: number;
}

export function delay(options: Options): number {
  return options.retries * 100;
}
`;

const cheatCases: Array<{ kind: string; code: string; fixedCode: string; errorCode: string }> = [
  {
    kind: "any",
    code: BROKEN,
    fixedCode: BROKEN.replace("user.id;", "user.id as any;"),
    errorCode: "TS2322",
  },
  {
    kind: "any",
    code: BROKEN,
    fixedCode: BROKEN.replace("const id: string", "const id: any"),
    errorCode: "TS2322",
  },
  {
    kind: "any",
    code: BROKEN,
    fixedCode: BROKEN.replace("= user.id;", "= <any>user.id;"),
    errorCode: "TS2322",
  },
  {
    kind: "any",
    code: `export const ids: number[] = ["1", "2"];\n`,
    fixedCode: `export const ids: any[] = ["1", "2"];\n`,
    errorCode: "TS2322",
  },
  {
    kind: "any",
    code: `export const m: Record<string, number> = { a: "1" };\n`,
    fixedCode: `export const m: Record<string, any> = { a: "1" };\n`,
    errorCode: "TS2322",
  },
  {
    kind: "ts-ignore",
    code: BROKEN,
    fixedCode: BROKEN.replace("  const id: string", "  // @ts-ignore\n  const id: string"),
    errorCode: "TS2322",
  },
  {
    kind: "ts-expect-error",
    code: BROKEN,
    fixedCode: BROKEN.replace("  const id: string", "  // @ts-expect-error legacy data\n  const id: string"),
    errorCode: "TS2322",
  },
  { kind: "ts-nocheck", code: BROKEN, fixedCode: `// @ts-nocheck\n${BROKEN}`, errorCode: "TS2322" },
  {
    kind: "ts-ignore",
    code: BROKEN,
    fixedCode: BROKEN.replace("  const id: string", "  /* @ts-ignore */ const id: string"),
    errorCode: "TS2322",
  },
  {
    kind: "non-null-only",
    code: NULLABLE,
    fixedCode: NULLABLE.replace("options.retries *", "options.retries! *"),
    errorCode: "TS18048",
  },
  {
    kind: "non-null-only",
    code: `document.querySelector("#app").textContent = "Ready";\n`,
    fixedCode: `document.querySelector("#app")!.textContent = "Ready";\n`,
    errorCode: "TS2531",
  },
];

for (const [i, c] of cheatCases.entries()) {
  Deno.test(`verifyFix: rejects cheat #${i + 1} (${c.kind})`, () => {
    const result = verifyFix(c);
    assert.equal(result.verified, false, `cheat accepted: ${c.fixedCode}`);
    assert.ok(result.cheats.some((cheat) => cheat.startsWith(`${c.kind}:`)), result.cheats.join(" | "));
    assert.ok(result.rules.some((r) => !r.passed && r.rule.startsWith("no-")), result.reason);
  });
}

Deno.test("verifyFix: cheats are counted against the original, not in strings or prose comments", () => {
  const withAny = `export function f(x: any): string {\n  const n: number = x;\n  return n;\n}\n`;
  const fixed = `export function f(x: any): string {\n  const n: number = x;\n  return String(n);\n}\n`;
  const result = verifyFix({ code: withAny, fixedCode: fixed, errorCode: "TS2322" });
  assert.equal(result.verified, true, result.reason);
  assert.deepEqual(
    detectCheats(
      `export const a = 1;\n`,
      `// works for any input; see "@ts-ignore" docs\nexport const a = "as any";\n`,
    ),
    [],
  );
  assert.deepEqual(
    detectCheats(`export const a = 1;\n`, `/**\n * @ts-expect-error\n */\nexport const a = 1;\n`),
    ["ts-expect-error: adds a @ts-expect-error comment instead of fixing the code"],
  );
});

Deno.test("verifyFix: a non-null assertion next to a real change is accepted", () => {
  const code =
    `export function first(items: string[][]): string {\n  return items.find((x) => x.length > 0)[0];\n}\n`;
  const fixedCode =
    `export function first(items: string[][]): string {\n  const found = items.find((x) => x.length > 0);\n  return found ? found[0]! : "";\n}\n`;
  const result = verifyFix({ code, fixedCode, errorCode: "TS2532" });
  assert.equal(result.verified, true, result.reason);
  assert.deepEqual(result.cheats, []);
});

Deno.test("verifyFix: rejects empty and identical fixes", () => {
  for (const fixedCode of ["", "   \n", "// nothing here\n"]) {
    const result = verifyFix({ code: BROKEN, fixedCode, errorCode: "TS2322" });
    assert.equal(result.verified, false);
    assert.equal(result.rules.find((r) => r.rule === "changed")?.detail, "fix is empty");
  }
  for (const fixedCode of [BROKEN, `\n${BROKEN}  \n`]) {
    const result = verifyFix({ code: BROKEN, fixedCode, errorCode: "TS2322" });
    assert.equal(result.verified, false);
    assert.equal(
      result.rules.find((r) => r.rule === "changed")?.detail,
      "fix is identical to the original code",
    );
  }
});

Deno.test("verifyFix: an error that does not reproduce in the given code is never verified", () => {
  const result = verifyFix({ code: BROKEN, fixedCode: FIXED, errorCode: "TS2345" });
  assert.equal(result.verified, false);
  assert.equal(result.target, null);
  assert.match(result.reason, /reproduces: TS2345 is not reported for the given code/);
  const clean = verifyFix({
    code: FIXED,
    fixedCode: FIXED.replace("String(user.id)", "`${user.id}`"),
    errorCode: 2322,
  });
  assert.equal(clean.verified, false, "a clean file has nothing to fix");
  assert.deepEqual(clean.rules.filter((r) => !r.passed).map((r) => r.rule), ["reproduces", "within-region"]);
});

// ---------------------------------------------------------------------------------------------
// verifyFix against a lying model: each class of cheat, computed on realistic files by the fake LLM's
// cheatOn (tests/fakes/llm_server.ts), is refused by the rule named for it; honest fixes pass every rule.

const TWO_FUNCTIONS = LABEL_FILE;

const VOID_FUNCTION = `export function logTotal(items: number[]): void {
  const total: string = items.reduce((a, b) => a + b, 0);
  console.log(total);
}

export const LIMIT = 3;
`;

const honestFix = (code: string) =>
  code.replace("= user.id;", "= String(user.id);").replace(
    "= items.reduce((a, b) => a + b, 0);",
    "= String(items.reduce((a, b) => a + b, 0));",
  );

/** The rule(s) each cheat must fail (at least these; others may fail too). */
const CHEAT_RULES: Record<CheatKind, RuleName[]> = {
  "whole-file": ["declarations-kept", "statements-kept"],
  "delete-code": ["declarations-kept", "statements-kept"],
  "stub-throw": ["statements-kept"],
  "stub-empty": ["statements-kept"],
  "stub-never": ["statements-kept", "no-unsafe-cast"],
  "comment-out": ["statements-kept"],
  "cast-unknown": ["no-unsafe-cast"],
  "cast-never": ["no-unsafe-cast"],
  "cast-any": ["no-any", "no-unsafe-cast"],
  "implicit-any": ["no-implicit-any"],
  "ts-ignore": ["no-suppression"],
  "ts-expect-error": ["no-suppression"],
  "outside-region": ["within-region"],
};

for (const [name, code] of [["two functions", TWO_FUNCTIONS], ["a void function", VOID_FUNCTION]] as const) {
  Deno.test(`verifyFix (${name}): an honest fix passes every rule`, () => {
    const result = verifyFix({ code, fixedCode: honestFix(code), errorCode: "TS2322" });
    assert.equal(result.verified, true, result.reason);
    assert.equal(result.rules.length, 12);
    assert.ok(result.rules.every((r) => r.passed && r.detail.length > 0));
    assert.deepEqual(result.cheats, []);
    assert.match(result.region!, /line \d+: export function/);
  });
  for (const kind of CHEAT_KINDS) {
    if (kind === "outside-region" && code === VOID_FUNCTION) continue; // every statement is near the error
    Deno.test(`verifyFix (${name}): the cheat "${kind}" is refused`, () => {
      const fixedCode = cheatOn(code, kind, honestFix);
      assert.notEqual(fixedCode, code);
      const result = verifyFix({ code, fixedCode, errorCode: "TS2322" });
      assert.equal(result.verified, false, `verified:\n${fixedCode}`);
      const failed = result.rules.filter((r) => !r.passed).map((r) => r.rule);
      const wanted = CHEAT_RULES[kind].filter((rule) =>
        // An empty body or a commented-out line that breaks the function is caught by the compiler first.
        !(code === TWO_FUNCTIONS && (kind === "stub-empty" || kind === "comment-out") &&
          rule === "statements-kept")
      );
      for (const rule of wanted) assert.ok(failed.includes(rule), `${rule} not among ${failed.join(", ")}`);
      assert.ok(result.cheats.length > 0);
      for (const rule of failed) assert.match(result.reason, new RegExp(`${rule}: `));
    });
  }
}

Deno.test("verifyFix: the reasons name what was lost", () => {
  const stub = verifyFix({
    code: TWO_FUNCTIONS,
    fixedCode: cheatOn(TWO_FUNCTIONS, "stub-throw"),
    errorCode: 2322,
  });
  assert.match(stub.reason, /statements-kept: .*stubbed: the body of `label` replaced by a stub/);
  const whole = verifyFix({ code: TWO_FUNCTIONS, fixedCode: "const fixed: number = 1;\n", errorCode: 2322 });
  assert.match(
    whole.reason,
    /declarations-kept: declarations lost or changed: `type User` is gone; `value label` is gone/,
  );
  const commented = verifyFix({
    code: VOID_FUNCTION,
    fixedCode: cheatOn(VOID_FUNCTION, "comment-out"),
    errorCode: 2322,
  });
  assert.match(
    commented.reason,
    /commented-out: line 2: \/\/ const total|commented-out: line 2: const total/,
  );
  const implicit = verifyFix({
    code: TWO_FUNCTIONS,
    fixedCode: cheatOn(TWO_FUNCTIONS, "implicit-any"),
    errorCode: 2322,
  });
  assert.match(implicit.reason, /no-implicit-any: implicit-any: .*JSON \. parse/);
});

Deno.test("verifyFix: legitimate reshaping is kept: a wrapped statement, a guard, a moved declaration", () => {
  const wrapped = verifyFix({
    code: `export function total(prices: number[]): number {\n  prices.reduce((s, p) => s + p, 0);\n}\n`,
    fixedCode:
      `export function total(prices: number[]): number {\n  return prices.reduce((s, p) => s + p, 0);\n}\n`,
    errorCode: "TS2355",
  });
  assert.equal(wrapped.verified, true, wrapped.reason);
  const guarded = verifyFix({
    code: NULLABLE,
    fixedCode: NULLABLE.replace(
      "  return options.retries * 100;",
      "  if (options.retries === undefined) {\n    return 0;\n  }\n  return options.retries * 100;",
    ),
    errorCode: "TS18048",
  });
  assert.equal(guarded.verified, true, guarded.reason);
});

Deno.test("verifyFix: removing the statement is the fix only for the classes where it is (duplicates)", () => {
  const code =
    `export function f(values: number[]) {\n  const total = values.length;\n  const total = 0;\n  return total;\n}\n`;
  const dropped = code.replace("  const total = 0;\n", "");
  assert.equal(verifyFix({ code, fixedCode: dropped, errorCode: "TS2451" }).verified, true);
  const assignment =
    `export function g(values: number[]): number {\n  const n: string = values.length;\n  return values.length;\n}\n`;
  const deleted = verifyFix({
    code: assignment,
    fixedCode: assignment.replace("  const n: string = values.length;\n", ""),
    errorCode: "TS2322",
  });
  assert.equal(deleted.verified, false);
  assert.match(deleted.reason, /statements-kept: removed: line 2: const n: string/);
});

Deno.test("verifyFix: another declaration's type may not change; the error's own may", () => {
  const code =
    `export function format(value: number): string {\n  return value;\n}\n\nexport const UNIT = "px";\n\n` +
    `export function twice(n: number): number {\n  return n * 2;\n}\n`;
  const ownType = code.replace("format(value: number): string", "format(value: number): number");
  assert.equal(verifyFix({ code, fixedCode: ownType, errorCode: "TS2322" }).verified, true);
  const other = ownType.replace(
    "twice(n: number): number {\n  return n * 2;",
    "twice(n: number): string {\n  return String(n * 2);",
  );
  const result = verifyFix({ code, fixedCode: other, errorCode: "TS2322" });
  assert.equal(result.verified, false);
  assert.match(
    result.reason,
    /`value twice` changed type from `\{ call \(number\) => number \}` to `\{ call \(number\) => string \}`/,
  );
});

// ---------------------------------------------------------------------------------------------
// extractCode

Deno.test("extractCode: fenced blocks with TypeScript tags", () => {
  for (const tag of ["ts", "typescript", "tsx", "TypeScript", 'ts title="fix.ts"', "typescript:src/a.ts"]) {
    const reply = `Here is the fix:\n\n\`\`\`${tag}\nconst a: number = 1;\n\`\`\`\n\nThat should work.`;
    assert.equal(extractCode(reply), "const a: number = 1;", tag);
  }
  assert.equal(extractCode("~~~ts\nlet x = 1;\n~~~"), "let x = 1;");
  assert.equal(extractCode('````ts\nconst s = "```";\n````'), 'const s = "```";');
});

Deno.test("extractCode: plain fence, and preference among several blocks", () => {
  assert.equal(extractCode("Fixed:\n```\nexport const x = 1;\n```"), "export const x = 1;");
  const several = [
    "Install it first:",
    "```bash",
    "npm i zod",
    "```",
    "Then:",
    "```",
    "plain();",
    "```",
    "and the typed version:",
    "```ts",
    "typed();",
    "```",
    "```ts",
    "second();",
    "```",
  ].join("\n");
  assert.equal(
    extractCode(several),
    "typed();",
    "first TypeScript block wins over earlier plain/other blocks",
  );
  assert.equal(extractCode('```json\n{"a": 1}\n```'), null, "other languages are never returned");
  assert.equal(extractCode("```bash\nnpm i\n```\n```js\nrun();\n```"), "run();");
});

Deno.test("extractCode: unterminated fence runs to the end", () => {
  assert.equal(extractCode("```ts\nfunction f() {\n  return 1;\n}\n"), "function f() {\n  return 1;\n}");
});

Deno.test("extractCode: unfenced replies", () => {
  const code = 'import { z } from "zod";\n\nexport const schema = z.object({\n  id: z.number(),\n});';
  assert.equal(extractCode(code), code);
  assert.equal(extractCode(`Here is the corrected code:\n\n${code}\n`), code);
  assert.equal(extractCode("The problem is that id is a number. Convert it with String() first."), null);
  assert.equal(extractCode(""), null);
  assert.equal(extractCode("```ts\n\n```"), null);
});

// ---------------------------------------------------------------------------------------------
// codeFrame

Deno.test("codeFrame: line numbers, marker and caret", () => {
  const [d] = diagnoseSnippet(BROKEN);
  assert.equal(
    codeFrame(BROKEN, d.line, d.column),
    [
      "  5 |",
      "  6 | export function label(user: User): string {",
      "> 7 |   const id: string = user.id;",
      "    |         ^",
      '  8 |   return id + ":" + user.name;',
      "  9 | }",
    ].join("\n"),
  );
});

Deno.test("codeFrame: edges of the file, custom context, widths and tabs", () => {
  const code = Array.from({ length: 12 }, (_, i) => `line${i + 1}`).join("\n");
  assert.equal(codeFrame(code, 1, 3, 1), ["> 1 | line1", "    |   ^", "  2 | line2"].join("\n"));
  assert.equal(
    codeFrame(code, 10, 1),
    [
      "   8 | line8",
      "   9 | line9",
      "> 10 | line10",
      "     | ^",
      "  11 | line11",
      "  12 | line12",
    ].join("\n"),
  );
  assert.equal(codeFrame("\tx = 1;", 1, 2, 0), "> 1 | \tx = 1;\n    | \t^");
});
