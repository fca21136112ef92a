import assert from "node:assert/strict";
import { diagnoseSnippet } from "../supabase/functions/_shared/typescript.ts";
import { verifyFix } from "../supabase/functions/_shared/verify_fix.ts";
import { ENTRIES } from "../tools/knowledge-base/entries.ts";
import { buildEntry, checkSql, SQL_PATH } from "../tools/knowledge-base/build.ts";

const REQUIRED_CODES = [
  "TS2322",
  "TS2339",
  "TS2345",
  "TS2532",
  "TS18048",
  "TS18047",
  "TS7006",
  "TS2304",
  "TS2307",
  "TS2554",
  "TS2741",
  "TS1005",
  "TS2366",
  "TS2769",
  "TS2551",
  "TS2552",
  "TS2353",
  "TS2531",
  "TS2564",
  "TS2454",
  "TS2355",
  "TS2365",
  "TS2367",
  "TS2540",
  "TS2588",
  "TS2349",
  "TS2351",
  "TS2693",
  "TS2305",
  "TS2614",
  "TS2739",
  "TS2740",
  "TS2559",
  "TS1308",
  "TS2794",
  "TS2801",
  "TS7053",
  "TS7031",
  "TS2344",
  "TS2571",
  "TS18046",
  "TS2448",
  "TS2451",
  "TS2300",
  "TS2393",
  "TS1109",
  "TS1128",
  "TS2820",
];

Deno.test("knowledge base: size, coverage and unique ids", () => {
  assert.ok(ENTRIES.length >= 45, `${ENTRIES.length} entries`);
  const codes = new Set(ENTRIES.map((e) => e.errorCode));
  assert.ok(codes.size >= 40, `${codes.size} distinct codes`);
  const missing = REQUIRED_CODES.filter((code) => !codes.has(code));
  assert.deepEqual(missing, [], `codes without an entry: ${missing.join(", ")}`);
  const ids = ENTRIES.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, "ids are unique");
  for (const e of ENTRIES) {
    assert.match(e.id, /^ts\d+-[a-z0-9-]+$/);
    assert.ok(e.id.startsWith(`${e.errorCode.toLowerCase()}-`), e.id);
    assert.ok(e.title.trim() && e.explanation.trim(), `${e.id} has title and explanation`);
  }
});

for (const entry of ENTRIES) {
  Deno.test(`knowledge base: ${entry.id}`, () => {
    const before = diagnoseSnippet(entry.code);
    assert.ok(before.length > 0, "broken snippet reports a diagnostic");
    assert.deepEqual(
      before.filter((d) => d.code !== entry.errorCode).map((d) => `${d.code} ${d.message}`),
      [],
      `broken snippet reports only ${entry.errorCode}`,
    );
    assert.deepEqual(diagnoseSnippet(entry.fix), [], "fix compiles cleanly");
    const result = verifyFix({ code: entry.code, fixedCode: entry.fix, errorCode: entry.errorCode });
    assert.equal(result.verified, true, result.reason);
    assert.deepEqual(result.cheats, []);
    assert.deepEqual(buildEntry(entry).built?.message, before[0].message);
  });
}

Deno.test("knowledge base: supabase/seed/knowledge_base.sql is up to date", () => {
  const result = checkSql();
  assert.ok(
    result.upToDate,
    `${SQL_PATH.pathname} is ${
      result.actual === null ? "missing" : "stale"
    }: run deno run -A tools/knowledge-base/build.ts`,
  );
  for (const entry of ENTRIES) {
    assert.ok(result.expected.includes(`'${entry.id}', '${entry.errorCode}'`), entry.id);
  }
  assert.ok(
    !/embedding\s*=\s*(?!case)/.test(result.expected.replace(/_embedding = case/g, "")),
    "no embeddings written",
  );
});

Deno.test("knowledge base: the check notices a stale file", () => {
  const tmp = Deno.makeTempFileSync({ suffix: ".sql" });
  try {
    Deno.writeTextFileSync(tmp, "-- stale\n");
    assert.equal(checkSql(tmp).upToDate, false);
    assert.equal(checkSql(`${tmp}.missing`).actual, null);
  } finally {
    Deno.removeSync(tmp);
  }
});

Deno.test("knowledge base: a broken entry is refused by the generator", () => {
  const [first] = ENTRIES;
  const stillBroken = buildEntry({ ...first, fix: first.code.replace("\n", "\n\n") });
  assert.ok(
    stillBroken.problems.some((p) => p.includes("fix still reports")),
    stillBroken.problems.join("\n"),
  );
  const wrongCode = buildEntry({ ...first, id: "ts2345-wrong", errorCode: "TS2345" });
  assert.ok(
    wrongCode.problems.some((p) => p.includes("code also reports TS2322")),
    wrongCode.problems.join("\n"),
  );
  const cheating = buildEntry({ ...first, fix: `// @ts-nocheck\n${first.code}` });
  assert.ok(cheating.problems.some((p) => p.includes("ts-nocheck")), cheating.problems.join("\n"));
});
