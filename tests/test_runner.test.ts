// The suite's verdict: stack/test_runner.ts turns what pg_prove and `deno test` print into the closing line CI
// reads. Counted here on their recorded outputs (tests/fixtures/test_runner/recorded/, made by record.ts there
// from the inputs beside it), and once end to end with pg_prove missing.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../stack/config.ts";
import { countDeno, countTap, verdict } from "../stack/test_runner.ts";

const recorded = join(ROOT, "tests", "fixtures", "test_runner", "recorded");

function recording(name: string) {
  const read = (ext: string) => Deno.readTextFileSync(join(recorded, `${name}.${ext}`));
  return { code: Number(read("code")), stdout: read("stdout"), stderr: read("stderr") };
}

Deno.test("pgTAP: planned assertions that never ran count as failed, SKIP and TODO as skipped", () => {
  const counts = countTap(recording("pg_prove"));
  // 1_passes 3 + 2_one_fails 2 + 3_dies_midway 2 + 5_skip_and_todo 1
  assert.equal(counts.passed, 8);
  // 2_one_fails 1 + 3_dies_midway 3 never ran + 4_dies_before_plan 1
  assert.equal(counts.failed, 5);
  // two `# SKIP` and one failing `# TODO`
  assert.equal(counts.skipped, 3);
  assert.ok(counts.problems.some((p) => /3_dies_midway\.sql: planned 5 assertions, ran 2/.test(p)));
  assert.ok(counts.problems.some((p) => /4_dies_before_plan\.sql: no plan/.test(p)));
});

Deno.test("pgTAP: a non-zero exit with no failed assertion still fails, and says so", () => {
  const passing = recording("pg_prove").stdout.split("\n").slice(0, 6).join("\n"); // 1_passes.sql only
  assert.deepEqual(countTap({ code: 0, stdout: passing }), {
    passed: 3,
    failed: 0,
    skipped: 0,
    filtered: 0,
    problems: [],
  });
  const counts = countTap({ code: 2, stdout: passing });
  assert.equal(counts.failed, 1);
  assert.match(counts.problems[0], /exited with code 2/);
});

Deno.test("pgTAP: an assertion whose description ends in '...' is not a file header", () => {
  const stdout = [
    "/x/12_search.test.sql .. ",
    "1..3",
    "ok 1 - A search ...",
    '{"role": "anon"}',
    "not ok 2 - Another search ...",
    "ok 3 - done",
    "/x/13_next.test.sql ..... ",
    "1..1",
    "ok 1 - next",
  ].join("\n");
  const counts = countTap({ code: 1, stdout });
  assert.deepEqual([counts.passed, counts.failed], [3, 1], JSON.stringify(counts));
  assert.ok(!counts.problems.some((p) => /no plan/.test(p)), counts.problems.join("; "));
});

Deno.test("Deno: passed, ignored (skipped) and filtered tests are told apart; steps are not tests", () => {
  assert.deepEqual(countDeno(recording("deno_passes")), {
    passed: 2,
    failed: 0,
    skipped: 1,
    filtered: 1,
    problems: [],
  });
});

Deno.test("Deno: a failing test and a module that dies while loading both count as failed", () => {
  const fails = countDeno(recording("deno_one_fails"));
  assert.equal(fails.passed, 1);
  assert.equal(fails.failed, 1);
  const dies = countDeno(recording("deno_dies_at_load"));
  assert.equal(dies.passed, 0);
  assert.equal(dies.failed, 1);
});

Deno.test("Deno: no summary is a failure, whatever the exit code", () => {
  for (const code of [0, 1]) {
    const counts = countDeno({ code, stdout: code ? recording("deno_no_modules").stdout : "" });
    assert.equal(counts.passed, 0);
    assert.equal(counts.failed, 1, `exit ${code} without a summary`);
    assert.match(counts.problems[0], /no summary/);
  }
});

Deno.test("Deno: only stdout is read; a summary-like line on stderr or inside a test's output counts for nothing", () => {
  const { code, stdout } = recording("deno_one_fails");
  const counts = countDeno({
    code,
    stdout: `------- output -------\nok | 99 passed | 0 failed (1ms)\n----- output end -----\n${stdout}`,
    stderr: "ok | 50 passed | 0 failed (1ms)\n",
  } as { code: number; stdout: string });
  assert.equal(counts.passed, 1);
  assert.equal(counts.failed, 1);
});

Deno.test("the closing line is the plain `N passed, M failed, K skipped` CI reads", () => {
  const line = verdict({ passed: 12, failed: 1, skipped: 2, filtered: 5, problems: [] });
  assert.equal(line, "12 passed, 1 failed, 2 skipped");
  assert.match(line, /^\d+ passed, \d+ failed(, \d+ skipped)?$/);
});

Deno.test({
  name: "with pg_prove missing, pgTAP counts as one failure and the Deno tests still run",
  sanitizeResources: false,
  async fn() {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "stack/cli.ts",
        "test",
        "--only=pgtap,deno",
        "tests/fixtures/test_runner/deno/passes_ignores_steps.fixture.ts",
      ],
      cwd: ROOT,
      env: { PG_PROVE: "/nonexistent/pg_prove" },
      stdin: "null",
    }).output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 1);
    assert.match(out, /counted as failed: pgTAP: .*nonexistent/);
    assert.match(out, /^3 passed, 1 failed, 1 skipped$/m, out);
  },
});
