// `deno task test`: every test against a fresh stack on its own ports and data folder (a running dev stack
// is never touched), removed afterwards. pgTAP files in supabase/tests/database run with pg_prove; the Deno
// tests in tests/ get the stack's URLs and keys through the environment (see tests/_stack.ts).
// The last line printed is `N passed, M failed`, counting pgTAP and Deno tests together.
//
//   deno task test                       everything
//   deno task test --only=pgtap          only the pgTAP files        (--only=deno: only the Deno tests)
//   deno task test tests/x.test.ts       only these Deno test files (and no pgTAP unless --only=pgtap,deno)
//   deno task test --keep                leave the stack's folder (.stack/test-*) for inspection
//
// The closing line is `N passed, M failed, K skipped`: planned pgTAP assertions that never ran count as failed,
// `# SKIP` as skipped; a part that cannot run (no pg_prove: PG_PROVE names another binary) counts as one
// failure, says why, and the other parts run anyway. Tests of this counting: tests/test_runner.test.ts.
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  ANON_KEY,
  apiUrl,
  dbUrl,
  functionProcessesFromEnv,
  ROOT,
  SERVICE_ROLE_KEY,
  type StackConfig,
  STATE_ROOT,
} from "./config.ts";
import { connect } from "./database.ts";
import { freePort } from "./function_workers.ts";
import { type Stack, startStack } from "./stack.ts";
import { prepareTestModel } from "./test_model.ts";

/** What one run (pgTAP or Deno) amounted to; `problems` say why something counted as failed without a test. */
export interface Counts {
  passed: number;
  failed: number;
  /** pgTAP `# SKIP` and failing `# TODO` assertions; Deno's ignored tests. */
  skipped: number;
  /** Deno tests left out by --filter. */
  filtered: number;
  problems: string[];
}

const none = (): Counts => ({ passed: 0, failed: 0, skipped: 0, filtered: 0, problems: [] });

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, echoing its output live, and returns stdout and stderr apart. */
async function tee(cmd: string, args: string[], env: Record<string, string>): Promise<Output> {
  // NO_COLOR keeps the summary lines free of escape codes.
  const child = new Deno.Command(cmd, {
    args,
    env: { ...env, NO_COLOR: "1" },
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    let text = "";
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
    return text + decoder.decode();
  };
  const [stdout, stderr] = await Promise.all([
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  const { code } = await child.status;
  return { code, stdout, stderr };
}

/**
 * pg_prove --verbose's stdout, file by file: each `ok`/`not ok` line counts, `# SKIP` (and a failing
 * `# TODO`) as skipped; assertions a file planned (`1..N`) but never ran count as failed, and a file that dies
 * before its plan counts as one failure. A non-zero exit with nothing failed is a failure too.
 */
export function countTap({ code, stdout }: Pick<Output, "code" | "stdout">): Counts {
  const counts = none();
  const files: Array<{ name: string; lines: string[] }> = [];
  for (const line of stdout.split("\n")) {
    // A file's header: "<path> ....." (an assertion whose description ends in "..." is not one).
    const header = /^\s*(not )?ok\b/.test(line) ? null : line.match(/^(\S.*?) \.{2,} ?$/);
    if (header) files.push({ name: header[1], lines: [] });
    else if (/^(Test Summary Report|Files=\d+)/.test(line)) break;
    else files.at(-1)?.lines.push(line);
  }
  for (const file of files) {
    let planned: number | null = null;
    let ran = 0;
    for (const line of file.lines) {
      const plan = line.match(/^\s*1\.\.(\d+)/);
      if (plan) planned = Number(plan[1]);
      const result = line.match(/^\s*(not )?ok \d+\b(.*)$/);
      if (!result) continue;
      ran++;
      const directive = result[2].match(/#\s*(SKIP|TODO)\b/i)?.[1].toUpperCase();
      if (directive === "SKIP" || (directive === "TODO" && result[1])) counts.skipped++;
      else if (result[1]) counts.failed++;
      else counts.passed++;
    }
    if (planned === null) {
      counts.failed++;
      counts.problems.push(`${file.name}: no plan and no assertions (it died before its first test)`);
    } else if (ran < planned) {
      counts.failed += planned - ran;
      counts.problems.push(`${file.name}: planned ${planned} assertions, ran ${ran}`);
    }
  }
  if (code !== 0 && counts.failed === 0) {
    counts.failed = 1;
    counts.problems.push(`pg_prove exited with code ${code} and no failed assertion`);
  }
  return counts;
}

/**
 * Deno's summary line on stdout, the last one (a test may print anything before it):
 * `ok | 12 passed (3 steps) | 0 failed | 1 ignored | 5 filtered out (2s)`. No summary, or a non-zero exit
 * with nothing failed, is a failure with the reason in `problems`.
 */
export function countDeno({ code, stdout }: Pick<Output, "code" | "stdout">): Counts {
  const counts = none();
  const summary = [
    ...stdout.matchAll(
      /^(?:ok|FAILED) \| (\d+) passed[^|\n]*\| (\d+) failed[^|\n]*(?:\| (\d+) ignored[^|\n]*)?(?:\| (\d+) filtered out)?/gm,
    ),
  ].pop();
  if (!summary) {
    counts.failed = 1;
    counts.problems.push(`deno test printed no summary (exit code ${code})`);
    return counts;
  }
  counts.passed = Number(summary[1]);
  counts.failed = Number(summary[2]);
  counts.skipped = Number(summary[3] ?? 0);
  counts.filtered = Number(summary[4] ?? 0);
  if (code !== 0 && counts.failed === 0) {
    counts.failed = 1;
    counts.problems.push(`deno test exited with code ${code} and no failed test`);
  }
  return counts;
}

/** The closing line CI reads: `N passed, M failed, K skipped`. */
export function verdict(total: Counts): string {
  return `${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`;
}

async function pgTap(stack: Stack): Promise<Counts> {
  const dir = join(ROOT, "supabase", "tests", "database");
  const files = existsSync(dir)
    ? [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".sql")).map((e) => join(dir, e.name)).sort()
    : [];
  if (files.length === 0) return none();
  const sql = connect(stack.config);
  await sql`create extension if not exists pgtap with schema extensions`;
  await sql.end();
  const { port } = { port: stack.config.dbPort };
  const env = { ...Deno.env.toObject(), PGPASSWORD: "postgres" };
  const args = [
    "--verbose",
    "--ext",
    ".sql",
    "-h",
    "127.0.0.1",
    "-p",
    String(port),
    "-U",
    "postgres",
    "-d",
    "postgres",
  ];
  console.log(`\n== pgTAP: ${files.length} files ==`);
  return countTap(await tee(Deno.env.get("PG_PROVE") || "pg_prove", [...args, ...files], env));
}

/** What tests and benchmarks learn about the stack they run on (read by tests/_stack.ts). */
export function stackEnv(stack: Stack): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    ...stack.config.modelEnv,
    STACK_STATE_DIR: stack.config.stateDir,
    STACK_AI_URL: stack.modelRunner.url,
    STACK_DB_PORT: String(stack.config.dbPort),
    STACK_API_PORT: String(stack.config.apiPort),
    SUPABASE_URL: apiUrl(stack.config),
    SUPABASE_DB_URL: dbUrl(stack.config),
    SUPABASE_ANON_KEY: ANON_KEY,
    SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
  };
}

/** A fresh stack on free ports in its own folder, with the test model; removed by the returned cleanup. */
export async function throwawayStack(
  prefix: string,
): Promise<{ stack: Stack; cleanup: () => Promise<void> }> {
  const config: StackConfig = {
    stateDir: join(STATE_ROOT, `${prefix}-${Date.now()}-${Deno.pid}`),
    dbPort: freePort(),
    apiPort: freePort(),
    functionsEnv: {},
    readDotEnv: false,
    modelEnv: await prepareTestModel(),
    // Another PostgreSQL installation, e.g. one with the real pg_net (README, "The local stack, precisely").
    pgBin: Deno.env.get("LOCAL_STACK_PG_BIN") || undefined,
    functionProcesses: functionProcessesFromEnv(),
  };
  const logFile = await Deno.open(join(STATE_ROOT, `${prefix}-last.log`), {
    create: true,
    write: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  const log = (line: string) => void logFile.write(encoder.encode(line + "\n")).catch(() => {});
  console.log(
    `Starting a ${prefix} stack in ${config.stateDir} (db :${config.dbPort}, api :${config.apiPort}); log: .stack/${prefix}-last.log`,
  );
  await Deno.mkdir(STATE_ROOT, { recursive: true });
  let stack: Stack;
  try {
    stack = await startStack(config, { log });
  } catch (error) {
    logFile.close();
    await Deno.remove(config.stateDir, { recursive: true }).catch(() => {});
    throw error;
  }
  return {
    stack,
    async cleanup() {
      await stack.stop();
      logFile.close();
      await Deno.remove(config.stateDir, { recursive: true }).catch(() => {});
    },
  };
}

async function denoTests(stack: Stack, files: string[], extra: string[]): Promise<Counts> {
  const env = stackEnv(stack);
  console.log("\n== Deno tests ==");
  const args = ["test", "-A", "--no-prompt", ...extra, ...(files.length ? files : ["tests/"])];
  return countDeno(await tee(Deno.execPath(), args, env));
}

export async function runTests(args: string[]): Promise<number> {
  const keep = args.includes("--keep");
  const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
  const files = args.filter((a) => !a.startsWith("--"));
  const extra = args.filter((a) => a.startsWith("--filter"));
  const runPgTap = only ? only.includes("pgtap") : files.length === 0;
  const runDeno = only ? only.includes("deno") : true;

  const total = none();
  const add = (counts: Counts) => {
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
    total.filtered += counts.filtered;
    total.problems.push(...counts.problems);
  };
  /** One part failing to run (no pg_prove, a broken stack) is one failure; the other parts still run. */
  const part = async (name: string, counts: () => Promise<Counts>) => {
    try {
      add(await counts());
    } catch (error) {
      add({ ...none(), failed: 1, problems: [`${name}: ${error instanceof Error ? error.message : error}`] });
    }
  };
  const held: { cleanup?: () => Promise<void> } = {};
  await part("stack", async () => {
    const throwaway = await throwawayStack("test");
    held.cleanup = keep ? () => throwaway.stack.stop() : throwaway.cleanup;
    const { stack } = throwaway;
    if (runPgTap) await part("pgTAP", () => pgTap(stack));
    if (runDeno) await part("Deno tests", () => denoTests(stack, files, extra));
    return none();
  });
  await part("stopping the stack", async () => {
    await held.cleanup?.();
    return none();
  });
  console.log("");
  for (const problem of total.problems) console.log(`counted as failed: ${problem}`);
  if (total.filtered > 0) console.log(`${total.filtered} Deno tests filtered out (--filter)`);
  console.log(verdict(total));
  return total.failed === 0 && total.passed > 0 ? 0 : 1;
}
