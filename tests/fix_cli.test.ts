// `deno task fix` (cli/fix.ts) as a user runs it: a subprocess started in a copy of the fixture project
// (tests/fixtures/fix-project), pointed at the test stack (no LLM: compiler fixes, adapted past fixes,
// retrieval), at a second gateway whose functions use the fake LLM server (honest, or lying with every class of
// cheat), or at a lying fix-code-error that calls every fix verified. Diagnostics, --json, diffs, --apply with
// its checks, refusals, re-check, rollback and undo, feedback, --queue / --status, and the errors for a wrong
// URL or key. Also the diff and window helpers.
import assert from "node:assert/strict";
import { join } from "node:path";
import { SignJWT } from "jose";
import { applyFix, windowOf } from "../cli/fixer.ts";
import { unifiedDiff } from "../cli/diff.ts";
import { JWT_SECRET, ROOT } from "../stack/config.ts";
import { freePort } from "../stack/function_workers.ts";
import { type ExtraGateway, startExtraGateway } from "../stack/attach.ts";
import { ANON_KEY, db, eventually, SUPABASE_URL } from "./_stack.ts";
import {
  CHEAT_KINDS,
  cheatOn,
  type FakeLlmServer,
  promptCode,
  startFakeLlmServer,
} from "./fakes/llm_server.ts";

const sql = db();
const FIXTURE = join(ROOT, "tests", "fixtures", "fix-project");
const CLI = join(ROOT, "cli", "fix.ts");

const EXPECTED = [
  { file: "src/format.ts", line: 2, column: 3, code: "TS2322" },
  { file: "src/greet.ts", line: 6, column: 25, code: "TS2339" },
  { file: "src/math.ts", line: 5, column: 29, code: "TS2345" },
  { file: "src/math.ts", line: 6, column: 14, code: "TS2322" },
  { file: "src/order.ts", line: 6, column: 42, code: "TS2322" },
];

async function createUser(): Promise<{ id: string; token: string }> {
  const id = crypto.randomUUID();
  await sql`insert into auth.users (id, email) values (${id}, ${`${id}@example.test`})`;
  const token = await new SignJWT({ sub: id, role: "authenticated", aud: "authenticated" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime("1h")
    .sign(new TextEncoder().encode(JWT_SECRET));
  return { id, token };
}

/** A fresh copy of the fixture project in a temporary folder. */
async function copyFixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fix-project-" });
  const copy = async (from: string, to: string) => {
    for await (const entry of Deno.readDir(from)) {
      if (entry.isDirectory) {
        await Deno.mkdir(join(to, entry.name));
        await copy(join(from, entry.name), join(to, entry.name));
      } else {
        await Deno.copyFile(join(from, entry.name), join(to, entry.name));
      }
    }
  };
  await copy(FIXTURE, dir);
  return dir;
}

async function readProject(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(join(dir, "src"))) {
    files[`src/${entry.name}`] = await Deno.readTextFile(join(dir, "src", entry.name));
  }
  return files;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a script from the project folder (not the repository), the way a user points it at a repo. */
async function cli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const childEnv: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1", ...env };
  delete childEnv.INIT_CWD; // set by `deno task test`; the CLI would resolve "." against it
  if (!("SUPABASE_KEY" in env)) delete childEnv.SUPABASE_KEY;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd,
    env: childEnv,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

function json<T = Record<string, unknown>>(run: Run): T {
  assert.ok(run.stdout.trim().startsWith("{"), `expected JSON, got:\n${run.stdout}\n${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

interface Result {
  file: string;
  line: number;
  code: string;
  outcome: string;
  source: string | null;
  verified: boolean;
  analysis_id: string | null;
  diff_of: string | null;
  diff: string | null;
  reason: string | null;
  feedback: string | null;
}

interface FixJson {
  project: { root: string; config: string };
  mode: string;
  diagnostics: { file: string; line: number; column: number; code: string; message: string; frame: string }[];
  results: Result[];
  summary: Record<string, number>;
  remaining?: { file: string; code: string }[];
}

function resultFor(out: FixJson, file: string, code: string): Result {
  const found = out.results.find((r) => r.file === file && r.code === code);
  assert.ok(
    found,
    `no result for ${file} ${code} in ${JSON.stringify(out.results.map((r) => [r.file, r.code]))}`,
  );
  return found;
}

/** The fake model: fixes what it recognises; "fixes" greet.ts by cheating; breaks format.ts's importers. */
const REPLACEMENTS: Array<[string, string]> = [
  ['total: "12.50"', "total: 12.5"],
  ['add(1, "2")', "add(1, 2)"],
  ["const label: string = add(2, 3)", "const label: string = String(add(2, 3))"],
  ["${user.nmae}", "${(user as any).nmae}"],
  ["format(value: number): string", "format(value: number): number"],
];

function fakeFix(prompt: string): string {
  let code = prompt.match(/Code:\n```typescript\n([\s\S]*?)\n```/)?.[1] ?? "";
  for (const [from, to] of REPLACEMENTS) code = code.replace(from, to);
  return "```typescript\n" + code + "\n```\nFixed the types.";
}

let embedded = false;
async function knowledgeBaseEmbedded(): Promise<void> {
  if (embedded) return;
  await eventually(
    async () => {
      const [row] =
        await sql`select count(*)::int as n from public.code_analysis where code_embedding is null`;
      return row.n === 0;
    },
    "the knowledge base to be embedded",
    120_000,
  );
  embedded = true;
}

Deno.test("fix cli: --list collects every diagnostic with its code, line, column and a code frame", async () => {
  const dir = await copyFixture();
  try {
    const run = await cli(dir, [".", "--list", "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const out = json<FixJson>(run);
    assert.equal(out.project.config, join(dir, "tsconfig.json"));
    assert.deepEqual(
      out.diagnostics.map(({ file, line, column, code }) => ({ file, line, column, code })),
      EXPECTED,
    );
    const order = out.diagnostics.find((d) => d.file === "src/order.ts")!;
    assert.equal(order.message, "Type 'string' is not assignable to type 'number'.");
    assert.match(
      order.frame,
      /> 6 \| export const order: Order = \{ id: "A-1", total: "12.50" \};\n\s+\| {42}\^/,
    );

    const human = await cli(dir, ["--list"]);
    assert.match(human.stdout, /src\/math\.ts:5:29 {2}TS2345 {2}Argument of type 'string'/);
    assert.match(human.stdout, /5 diagnostic\(s\)\./);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fix cli: a missing project or tsconfig is a clear usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = await cli(dir, ["--list"]);
    assert.equal(run.code, 2);
    assert.match(
      run.stderr,
      /No tsconfig\.json in .*: pass the folder that holds the project's tsconfig\.json/,
    );
    const missing = await cli(dir, ["--project", "nope", "--list"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope does not exist/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "fix cli: against the retrieval-only stack",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await knowledgeBaseEmbedded();
    const user = await createUser();
    const env = { SUPABASE_URL, SUPABASE_KEY: user.token };
    const dir = await copyFixture();
    try {
      const before = await readProject(dir);

      await t.step(
        "--json reports each error with the nearest past fix, shown as that fix's own diff",
        async () => {
          const run = await cli(dir, ["--json"], env);
          assert.equal(run.code, 0, run.stderr);
          const out = json<FixJson>(run);
          assert.equal(out.mode, "fix");
          assert.deepEqual(Object.keys(out).sort(), ["diagnostics", "mode", "project", "results", "summary"]);
          assert.deepEqual(Object.keys(out.summary).sort(), [
            "applied",
            "diagnostics",
            "failed",
            "fixed",
            "ms",
            "refused",
            "remaining",
            "rolled_back",
            "verified",
          ]);
          assert.equal(out.results.length, 5);
          assert.equal(out.summary.diagnostics, 5);
          assert.equal(out.summary.failed, 0);
          // A knowledge-base fix adapted to order.ts and verified for it, shown as a diff of the file.
          const order = resultFor(out, "src/order.ts", "TS2322");
          assert.equal(order.outcome, "verified", order.reason ?? "");
          assert.equal(order.source, "retrieval");
          assert.equal(order.diff_of, "file");
          assert.match(order.diff!, /^--- a\/src\/order\.ts\n\+\+\+ b\/src\/order\.ts\n@@ /);
          // greet.ts: nothing verified for it; the nearest past fix is shown as that fix's own diff.
          const greet = resultFor(out, "src/greet.ts", "TS2339");
          assert.equal(greet.outcome, "unverified");
          assert.equal(greet.diff_of, "reference");
          assert.match(greet.diff!, /^--- past\/before\.ts\n\+\+\+ past\/after\.ts\n@@ /);
          for (const r of out.results) {
            assert.deepEqual(Object.keys(r).sort(), [
              "analysis_id",
              "code",
              "column",
              "confidence",
              "diff",
              "diff_of",
              "feedback",
              "file",
              "line",
              "message",
              "outcome",
              "reason",
              "source",
              "verified",
            ]);
          }
        },
      );

      await t.step(
        "--apply --yes writes only verified fixes, refuses the rest with the reason, and --undo restores",
        async () => {
          const run = await cli(dir, ["--apply", "--yes", "--json"], env);
          assert.equal(run.code, 0, run.stderr);
          const out = json<FixJson>(run);
          assert.equal(resultFor(out, "src/order.ts", "TS2322").outcome, "applied");
          const greet = resultFor(out, "src/greet.ts", "TS2339");
          assert.equal(greet.outcome, "refused");
          assert.match(
            greet.reason!,
            /a past fix of the same error in other code, not verified for this code/,
          );
          assert.ok(out.summary.applied >= 1 && out.summary.refused >= 1, JSON.stringify(out.summary));
          const after = await readProject(dir);
          assert.equal(
            after["src/order.ts"],
            before["src/order.ts"].replace('total: "12.50"', "total: 12.50"),
          );
          assert.equal(after["src/greet.ts"], before["src/greet.ts"], "a refused fix is never written");
          const written = new Set(out.results.filter((r) => r.outcome === "applied").map((r) => r.file));
          for (const file of Object.keys(before).filter((f) => !written.has(f))) {
            assert.equal(after[file], before[file], `${file} has no applied fix and is unchanged`);
          }

          const undo = await cli(dir, ["--undo", "--json"], env);
          assert.equal(undo.code, 0, undo.stderr);
          const report = json<{ restored: string[]; conflicts: string[] }>(undo);
          assert.ok(report.restored.includes("src/order.ts"), JSON.stringify(report));
          assert.deepEqual(report.conflicts, []);
          assert.deepEqual(await readProject(dir), before, "every file is back as it was");
          const again = await cli(dir, ["--undo"], env);
          assert.equal(again.code, 1);
          assert.match(again.stderr, /Nothing to undo: no \.fix-undo\.json/);
        },
      );

      await t.step("the human output ends with a results table and a summary", async () => {
        const run = await cli(dir, ["--limit", "2"], env);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /nearest past fix of TS2322/);
        assert.match(run.stdout, /Results\nwhere +code +result/);
        assert.match(
          run.stdout,
          /Summary\ndiagnostics +5\nfixed +2\nverified +\d\nfailed +0\ntime +\d+\.\d s/,
        );
        assert.match(run.stdout, /skipped/, "errors past --limit are listed as skipped");
      });

      await t.step("--apply without --yes outside a terminal refuses and changes nothing", async () => {
        const run = await cli(dir, ["--apply"], env);
        assert.equal(run.code, 2);
        assert.match(run.stderr, /--apply asks before each fix, which needs a terminal: add --yes/);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fix cli: with an LLM (the fake server) behind the functions",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await knowledgeBaseEmbedded();
    let fake: FakeLlmServer | null = null;
    let gateway: ExtraGateway | null = null;
    try {
      fake = await startFakeLlmServer({
        reply: (req) => fakeFix(req.messages.find((m) => m.role === "user")?.content ?? ""),
      });
      gateway = startExtraGateway({
        LLM_PROVIDER: "openai-compatible",
        LLM_BASE_URL: fake.openaiBaseURL,
        LLM_API_KEY: "sk-test",
        LLM_MODEL: "fake-model",
      });
      const user = await createUser();
      const env = { SUPABASE_URL: gateway.url, SUPABASE_KEY: user.token };

      await t.step(
        "without --apply, the fixes are shown as diffs of the files and nothing is written",
        async () => {
          const dir = await copyFixture();
          try {
            const before = await readProject(dir);
            const run = await cli(dir, [], env);
            assert.equal(run.code, 0, run.stderr);
            const expected = [
              "--- a/src/order.ts",
              "+++ b/src/order.ts",
              "@@ -3,4 +3,4 @@",
              "   total: number;",
              " }",
              " ",
              '-export const order: Order = { id: "A-1", total: "12.50" };',
              '+export const order: Order = { id: "A-1", total: 12.50 };',
            ].map((line) => `  ${line}`).join("\n");
            assert.ok(run.stdout.includes(expected), `the order.ts diff, in:\n${run.stdout}`);
            assert.match(run.stdout, /✔ fix \(openai-compatible\/fake-model, verified, confidence/);
            assert.match(run.stdout, /NOT verified: no-any: /);
            assert.match(run.stdout, /✔ fix \(past fix [0-9a-f]{8} adapted, verified, confidence/);
            assert.match(run.stdout, /Run again with --apply/);
            assert.deepEqual(await readProject(dir), before);
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );

      await t.step(
        "--apply --yes writes only verified fixes, rolls back one that breaks an importer, and leaves fewer errors",
        async () => {
          const dir = await copyFixture();
          try {
            const before = await readProject(dir);
            const run = await cli(dir, ["--apply", "--yes", "--json"], env);
            assert.equal(run.code, 0, run.stderr);
            const out = json<FixJson>(run);

            assert.equal(resultFor(out, "src/order.ts", "TS2322").outcome, "applied");
            assert.equal(resultFor(out, "src/math.ts", "TS2345").outcome, "applied");
            assert.equal(resultFor(out, "src/math.ts", "TS2322").outcome, "fixed_by_earlier");
            const greet = resultFor(out, "src/greet.ts", "TS2339");
            assert.equal(greet.outcome, "refused");
            assert.match(greet.reason!, /^not verified: no-any: /);
            const format = resultFor(out, "src/format.ts", "TS2322");
            assert.equal(format.outcome, "rolled_back");
            assert.match(format.reason!, /rolled back: it adds TS2322 at src\/main\.ts:3:14/);

            const after = await readProject(dir);
            assert.equal(
              after["src/order.ts"],
              before["src/order.ts"].replace('total: "12.50"', "total: 12.50"),
              "the knowledge base's fix, adapted (the model was not asked)",
            );
            assert.ok(after["src/order.ts"].endsWith(";\n"), "the final newline is kept");
            assert.match(after["src/math.ts"], /add\(1, 2\)/);
            assert.equal(after["src/greet.ts"], before["src/greet.ts"], "an unverified fix is never written");
            assert.equal(after["src/format.ts"], before["src/format.ts"], "the rolled-back file is restored");
            assert.equal(after["src/main.ts"], before["src/main.ts"]);

            assert.equal(out.summary.diagnostics, 5);
            assert.equal(out.summary.applied, 2);
            assert.equal(out.summary.rolled_back, 1);
            assert.equal(out.summary.refused, 1);
            assert.equal(out.summary.remaining, 2);
            assert.deepEqual(out.remaining!.map((d) => `${d.file} ${d.code}`), [
              "src/format.ts TS2322",
              "src/greet.ts TS2339",
            ]);
            const check = json<FixJson>(await cli(dir, ["--list", "--json"]));
            assert.equal(check.diagnostics.length, 2, "the project has fewer errors than the 5 it had");

            // Accepted and rolled-back fixes were recorded as feedback on the user's stored analyses.
            const feedback = await sql`
              select file_path, status from public.code_analysis where owner = ${user.id} and feedback_at is not null
              order by file_path`;
            assert.deepEqual(feedback.map((r) => `${r.file_path} ${r.status}`), [
              "src/format.ts rejected",
              "src/math.ts accepted",
              "src/order.ts accepted",
            ]);
            assert.equal(resultFor(out, "src/order.ts", "TS2322").feedback, "accepted");
            assert.equal(format.feedback, "rejected");
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );

      await t.step(
        "in a terminal, --apply asks before each verified fix: 'n' declines it (recorded), 'a' applies the rest",
        async () => {
          const other = await createUser();
          const dir = await copyFixture();
          try {
            const before = await readProject(dir);
            // util-linux `script` gives the CLI a terminal; the answers wait in the terminal's input buffer.
            const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
            const env: Record<string, string> = {
              ...Deno.env.toObject(),
              NO_COLOR: "1",
              SUPABASE_URL: gateway!.url,
              SUPABASE_KEY: other.token,
            };
            delete env.INIT_CWD;
            const child = new Deno.Command("script", {
              args: ["-qec", `${quote(Deno.execPath())} run -A ${quote(CLI)} --apply`, "/dev/null"],
              cwd: dir,
              env,
              clearEnv: true,
              stdin: "piped",
              stdout: "piped",
              stderr: "piped",
            }).spawn();
            const writer = child.stdin.getWriter();
            await writer.write(new TextEncoder().encode("n\na\n"));
            await writer.close();
            const watchdog = setTimeout(() => child.kill("SIGKILL"), 180_000);
            const { code, stdout } = await child.output().finally(() => clearTimeout(watchdog));
            const output = new TextDecoder().decode(stdout);
            assert.equal(code, 0, output);
            // format.ts comes first: declined; greet.ts is not verified (never asked); math.ts: "all".
            assert.equal((output.match(/Apply this fix\?/g) ?? []).length, 2, output);
            const after = await readProject(dir);
            assert.equal(after["src/format.ts"], before["src/format.ts"]);
            assert.notEqual(after["src/math.ts"], before["src/math.ts"]);
            assert.notEqual(
              after["src/order.ts"],
              before["src/order.ts"],
              "applied after 'all' without asking",
            );
            const feedback = await sql`
              select file_path, status from public.code_analysis where owner = ${other.id} and feedback_at is not null
              order by file_path`;
            assert.deepEqual(feedback.map((r) => `${r.file_path} ${r.status}`), [
              "src/format.ts rejected",
              "src/math.ts accepted",
              "src/order.ts accepted",
            ]);
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        },
      );

      await t.step("--no-feedback records nothing", async () => {
        const other = await createUser();
        const dir = await copyFixture();
        try {
          const run = await cli(dir, ["--apply", "--yes", "--no-feedback", "--json"], {
            ...env,
            SUPABASE_KEY: other.token,
          });
          assert.equal(run.code, 0, run.stderr);
          assert.equal(json<FixJson>(run).summary.applied, 2);
          const [row] = await sql`select count(*)::int as n from public.code_analysis
                                  where owner = ${other.id} and feedback_at is not null`;
          assert.equal(row.n, 0);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });
    } finally {
      await gateway?.stop();
      await fake?.close();
    }
  },
});

/** A stand-in for the project's functions whose fix-code-error calls every fix it returns verified. */
function lyingFunctions(fixFor: (file: string, code: string) => string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const name = new URL(req.url).pathname.split("/").at(-1);
    const body = await req.json();
    if (name !== "fix-code-error") return Response.json({ ok: true });
    return Response.json({
      success: true,
      fix: fixFor(body.file_path, body.code),
      verified: true,
      confidence: 1,
      source: "llm",
      error_code: body.error_code,
      error_message: body.error,
      similar: [],
      stored: null,
      model: "liar",
      provider: "lying-server",
      explanation: "Trust me.",
      verification: {
        reason: "every rule passed",
        rules: [],
        region: null,
        remaining: [],
        introduced: [],
        cheats: [],
      },
      reference: null,
      attempts: 1,
      tried: [],
      warnings: [],
    });
  });
}

Deno.test({
  name: "fix cli: a server that calls cheats verified gets none written: the CLI checks again, diff included",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const server = lyingFunctions((file, code) => {
      if (file === "src/order.ts") return code.replace('total: "12.50"', "total: 12.5"); // honest
      if (file === "src/format.ts") return "const fixed: number = 1;\n"; // the whole file replaced
      if (file === "src/math.ts") return cheatOn(code, "cast-unknown"); // `("2") as unknown as never`
      // greet.ts: a real fix, but the interface squeezed onto one line: its diff removes code lines.
      return code.replace("user.nmae", "user.name").replace(
        "interface User {\n  name: string;\n}",
        "interface User { name: string }",
      );
    });
    const dir = await copyFixture();
    try {
      const before = await readProject(dir);
      const env = { SUPABASE_URL: `http://127.0.0.1:${server.addr.port}`, SUPABASE_KEY: "any-key" };
      const run = await cli(dir, ["--apply", "--yes", "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      const out = json<FixJson>(run);
      assert.equal(resultFor(out, "src/order.ts", "TS2322").outcome, "applied");
      const format = resultFor(out, "src/format.ts", "TS2322");
      assert.equal(format.outcome, "refused");
      assert.match(
        format.reason!,
        /the CLI's own check refuses it: .*declarations-kept: .*`value format` is gone/,
      );
      const math = resultFor(out, "src/math.ts", "TS2345");
      assert.equal(math.outcome, "refused");
      assert.match(math.reason!, /the CLI's own check refuses it: .*no-unsafe-cast: /);
      const greet = resultFor(out, "src/greet.ts", "TS2339");
      assert.equal(greet.outcome, "refused");
      assert.match(
        greet.reason!,
        /its diff removes 2 more line\(s\) of code than it adds \(at most 0 for TS2339\)/,
      );
      const after = await readProject(dir);
      for (const file of ["src/format.ts", "src/math.ts", "src/greet.ts", "src/main.ts"]) {
        assert.equal(after[file], before[file], `${file} was not written`);
      }
      assert.equal(out.summary.applied, 1);
      assert.equal(out.summary.refused, 4, JSON.stringify(out.results.map((r) => [r.file, r.outcome])));

      assert.ok((await Deno.stat(join(dir, ".fix-undo.json"))).isFile, "the undo journal of the run");

      const human = await cli(dir, ["--apply", "--yes"], env);
      assert.match(
        human.stdout,
        /Refused \(not written\)\n {2}✘ src\/format\.ts:2:3 TS2322: the CLI's own check/,
      );
    } finally {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "fix cli: a lying model behind the functions: no class of cheat is ever applied",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await knowledgeBaseEmbedded();
    const files = ["src/format.ts", "src/greet.ts", "src/math.ts", "src/order.ts"];
    let round = 0;
    const fake = await startFakeLlmServer({
      reply: (req) => {
        const user = req.messages.find((m) => m.role === "user")?.content ?? "";
        const file = files.findIndex((f) => user.startsWith(`File: ${f}`));
        const kind = CHEAT_KINDS[(round * files.length + Math.max(0, file)) % CHEAT_KINDS.length];
        return "```ts\n" + cheatOn(promptCode(req.messages), kind) + "\n```\nFixed.";
      },
    });
    const gateway = startExtraGateway({
      LLM_PROVIDER: "openai-compatible",
      LLM_BASE_URL: fake.openaiBaseURL,
      LLM_API_KEY: "sk-test",
      LLM_MODEL: "fake-model",
      LLM_MAX_RETRIES: "0",
    });
    try {
      const user = await createUser();
      const env = { SUPABASE_URL: gateway.url, SUPABASE_KEY: user.token };
      // Four files a round, each with another class of cheat: every class is answered at least once.
      for (round = 0; round * files.length < CHEAT_KINDS.length; round++) {
        const dir = await copyFixture();
        try {
          const before = await readProject(dir);
          const run = await cli(dir, ["--apply", "--yes", "--json"], env);
          assert.equal(run.code, 0, run.stderr);
          const out = json<FixJson>(run);
          for (const r of out.results) {
            if (r.source === "llm") {
              assert.notEqual(r.outcome, "applied", `round ${round}: ${r.file} ${r.reason}`);
            }
          }
          const llmFiles = new Set(out.results.filter((r) => r.source === "llm").map((r) => r.file));
          const applied = new Set(out.results.filter((r) => r.outcome === "applied").map((r) => r.file));
          const after = await readProject(dir);
          for (const file of llmFiles) {
            if (!applied.has(file)) assert.equal(after[file], before[file], `round ${round}: ${file}`);
          }
          assert.ok(out.results.some((r) => r.source === "llm" && r.outcome === "refused"), `round ${round}`);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      }
    } finally {
      await gateway.stop();
      await fake.close();
    }
  },
});

Deno.test({
  name: "fix cli: --queue inserts pending rows owned by the user and --status shows them",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const user = await createUser();
    const env = { SUPABASE_URL, SUPABASE_KEY: user.token };
    const dir = await copyFixture();
    try {
      const queued = await cli(dir, ["--queue", "--json"], env);
      assert.equal(queued.code, 0, queued.stderr);
      const report = json<{ queued: number; skipped: number; ids: string[] }>(queued);
      assert.equal(report.queued, 5);
      assert.equal(report.skipped, 0);

      const rows = await sql`select owner, file_path, line, "column", error_code, status, code_snippet
                             from public.typescript_errors where owner = ${user.id} order by file_path, line`;
      assert.deepEqual(
        rows.map((r) => ({ file: r.file_path, line: r.line, column: r.column, code: r.error_code })),
        EXPECTED,
      );
      // Queued as pending (the insert policy allows nothing else); the cron job may have claimed them since.
      assert.ok(rows.every((r) => ["pending", "processing", "ai_suggested"].includes(r.status)));
      assert.equal(
        rows.find((r) => r.file_path === "src/order.ts")!.code_snippet,
        await Deno.readTextFile(join(dir, "src/order.ts")),
      );

      // Held as the batch worker holds errors it works on (a live lease), so that what follows does not depend on
      // how fast the cron job fixes them: errors pending or processing are the ones waiting.
      await sql`update public.typescript_errors
                set status = 'processing', claim_token = gen_random_uuid(), claimed_at = now(), heartbeat_at = now()
                where owner = ${user.id}`;
      const again = json<{ queued: number; skipped: number }>(await cli(dir, ["--queue", "--json"], env));
      assert.deepEqual([again.queued, again.skipped], [0, 5], "errors already waiting are not queued twice");

      const status = await cli(dir, ["--status", "--json"], env);
      assert.equal(status.code, 0, status.stderr);
      const listed = json<{ counts: Record<string, number>; errors: { id: string; file_path: string }[] }>(
        status,
      );
      assert.equal(Object.values(listed.counts).reduce((a, b) => a + b, 0), 5);
      assert.deepEqual(listed.errors.map((e) => e.id).sort(), [...report.ids].sort());

      const human = await cli(dir, ["--status"], env);
      assert.match(human.stdout, /Queued errors: 5 /);
      assert.match(human.stdout, /src\/order\.ts:6 +TS2322/);

      const stranger = await createUser();
      const theirs = json<{ errors: unknown[] }>(
        await cli(dir, ["--status", "--json"], { ...env, SUPABASE_KEY: stranger.token }),
      );
      assert.equal(theirs.errors.length, 0, "another user sees none of them");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("fix cli: a URL nobody answers on says the stack cannot be reached", async () => {
  const dir = await copyFixture();
  try {
    const url = `http://127.0.0.1:${freePort()}`;
    for (const args of [[], ["--queue"], ["--status"]]) {
      const run = await cli(dir, [...args, "--url", url, "--key", ANON_KEY]);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(
        run.stderr,
        new RegExp(
          `Cannot reach ${url.replace(/\./g, "\\.")}: is the stack running\\? \`npx -y deno@2 task start\``,
        ),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fix cli: a wrong key, the anon key or no key get clear errors", async () => {
  const dir = await copyFixture();
  try {
    const garbage = await cli(dir, ["--key", "not-a-jwt"], { SUPABASE_URL });
    assert.equal(garbage.code, 2);
    assert.match(garbage.stderr, /The key was refused by http:\/\/127\.0\.0\.1:\d+ \(401: Invalid JWT/);
    assert.match(garbage.stderr, /Pass a user's JWT or the service key with --key or SUPABASE_KEY/);

    const anon = await cli(dir, ["--queue"], { SUPABASE_URL, SUPABASE_KEY: ANON_KEY });
    assert.equal(anon.code, 2);
    assert.match(anon.stderr, /The key was refused by .* \(403/);

    const none = await cli(dir, [], { SUPABASE_URL });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /No key: pass --key or set SUPABASE_KEY/);

    const usage = await cli(dir, ["--queue", "--status"], { SUPABASE_URL });
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--queue and --status cannot be combined/);
  } finally {
    await Deno.remove(dir, { recursive: true });
    await sql.end();
  }
});

Deno.test("fix cli: unified diffs are the ones diff -u prints, and apply with patch", async () => {
  const cases: Array<[string, string]> = [
    ["a\nb\nc\nd\ne\nf\ng\nh\ni\n", "a\nb\nC\nd\ne\nf\ng\nh\ni\nj"],
    ["1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\neleven\n12\n"],
    ["", "new\n"],
    ["old\n", ""],
    ["x\ny", "x\ny\n"],
    ["keep\ndrop\nkeep\n", "keep\nkeep\nadd\n"],
  ];
  const dir = await Deno.makeTempDir();
  try {
    for (const [before, after] of cases) {
      await Deno.writeTextFile(join(dir, "a"), before);
      await Deno.writeTextFile(join(dir, "b"), after);
      const gnu = await new Deno.Command("diff", { args: ["-u", "a", "b"], cwd: dir, stdout: "piped" })
        .output();
      const expected = new TextDecoder().decode(gnu.stdout).split("\n").slice(2).join("\n");
      const ours = unifiedDiff(before, after, { fromFile: "a", toFile: "b" });
      assert.equal(ours.split("\n").slice(2).join("\n"), expected, JSON.stringify([before, after]));
      await Deno.writeTextFile(join(dir, "p"), ours);
      const patched = await new Deno.Command("patch", { args: ["-s", "a", "p"], cwd: dir }).output();
      assert.equal(patched.code, 0);
      assert.equal(await Deno.readTextFile(join(dir, "a")), after);
    }
    assert.equal(unifiedDiff("same\n", "same\n"), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fix cli: a fix keeps the file's final newline and CRLF, and a window is spliced back in place", () => {
  assert.equal(applyFix("const a = 1;\n", windowOf("const a = 1;\n", 1), "const a = 2;"), "const a = 2;\n");
  assert.equal(applyFix("x;\r\ny;\r\n", windowOf("x;\r\ny;\r\n", 1), "x;\ny = 1;"), "x;\r\ny = 1;\r\n");
  const big =
    Array.from({ length: 3_000 }, (_, i) => `export const v${i}: number = ${i}; // ${"x".repeat(20)}`)
      .join("\n") + "\n";
  const window = windowOf(big, 1_500);
  assert.equal(window.whole, false);
  assert.ok(window.code.length <= 50_000);
  assert.ok(window.code.includes("v1499:"));
  const fixed = applyFix(big, window, window.code.replace("v1499: number = 1499", "v1499: number = -1"));
  assert.equal(fixed, big.replace("v1499: number = 1499", "v1499: number = -1"));
});
