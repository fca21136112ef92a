// `deno task test`: every test against a fresh stack on its own ports and data folder (a running dev stack
// is never touched), removed afterwards. pgTAP files in supabase/tests/database run with pg_prove; the Deno
// tests in tests/ get the stack's URLs and keys through the environment (see tests/_stack.ts).
// The last line printed is `N passed, M failed`, counting pgTAP and Deno tests together.
//
//   deno task test                       everything
//   deno task test --only=pgtap          only the pgTAP files        (--only=deno: only the Deno tests)
//   deno task test tests/x.test.ts       only these Deno test files (and no pgTAP unless --only=pgtap,deno)
//   deno task test --keep                leave the stack's folder (.stack/test-*) for inspection
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ANON_KEY, apiUrl, dbUrl, ROOT, SERVICE_ROLE_KEY, type StackConfig, STATE_ROOT } from "./config.ts";
import { connect } from "./database.ts";
import { freePort } from "./function_workers.ts";
import { type Stack, startStack } from "./stack.ts";
import { prepareTestModel } from "./test_model.ts";

interface Counts {
  passed: number;
  failed: number;
}

/** Runs a command, echoing its output live, and returns everything it printed. */
async function tee(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  // NO_COLOR keeps the summary lines free of escape codes.
  const child = new Deno.Command(cmd, {
    args,
    env: { ...env, NO_COLOR: "1" },
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let out = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      out += new TextDecoder().decode(chunk);
      await sink.write(chunk);
    }
  };
  await Promise.all([pump(child.stdout, Deno.stdout), pump(child.stderr, Deno.stderr)]);
  const { code } = await child.status;
  return { code, out };
}

/** TAP lines of pg_prove --verbose: `ok N` / `not ok N`; a file that dies counts as one failure. */
export function countTap(out: string, code: number): Counts {
  const passed = (out.match(/^\s*ok \d+/gm) ?? []).length;
  const failed = (out.match(/^\s*not ok \d+/gm) ?? []).length;
  return { passed, failed: failed === 0 && code !== 0 ? 1 : failed };
}

/** Deno's summary line: `ok | 12 passed (3 steps) | 0 failed` or `FAILED | 3 passed | 1 failed`. */
export function countDeno(out: string, code: number): Counts {
  const match = [...out.matchAll(/\|\s*(\d+) passed[^|]*\|\s*(\d+) failed/g)].pop();
  if (!match) return { passed: 0, failed: code === 0 ? 0 : 1 };
  const counts = { passed: Number(match[1]), failed: Number(match[2]) };
  return { passed: counts.passed, failed: counts.failed === 0 && code !== 0 ? 1 : counts.failed };
}

async function pgTap(stack: Stack): Promise<Counts> {
  const dir = join(ROOT, "supabase", "tests", "database");
  const files = existsSync(dir)
    ? [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".sql")).map((e) => join(dir, e.name)).sort()
    : [];
  if (files.length === 0) return { passed: 0, failed: 0 };
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
  const { code, out } = await tee("pg_prove", [...args, ...files], env);
  return countTap(out, code);
}

/** What tests and benchmarks learn about the stack they run on (read by tests/_stack.ts). */
export function stackEnv(stack: Stack): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    ...stack.functionsEnv,
    STACK_STATE_DIR: stack.config.stateDir,
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
    functionsEnv: await prepareTestModel(),
    // Another PostgreSQL installation, e.g. one with the real pg_net (README, "The local stack, precisely").
    pgBin: Deno.env.get("LOCAL_STACK_PG_BIN") || undefined,
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
  const { code, out } = await tee(Deno.execPath(), args, env);
  return countDeno(out, code);
}

export async function runTests(args: string[]): Promise<number> {
  const keep = args.includes("--keep");
  const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
  const files = args.filter((a) => !a.startsWith("--"));
  const extra = args.filter((a) => a.startsWith("--filter"));
  const runPgTap = only ? only.includes("pgtap") : files.length === 0;
  const runDeno = only ? only.includes("deno") : true;

  const total: Counts = { passed: 0, failed: 0 };
  let cleanup: (() => Promise<void>) | null = null;
  try {
    const throwaway = await throwawayStack("test");
    cleanup = keep ? () => throwaway.stack.stop() : throwaway.cleanup;
    const { stack } = throwaway;
    for (
      const counts of [
        runPgTap ? await pgTap(stack) : null,
        runDeno ? await denoTests(stack, files, extra) : null,
      ]
    ) {
      if (!counts) continue;
      total.passed += counts.passed;
      total.failed += counts.failed;
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    total.failed += 1;
  } finally {
    await cleanup?.();
  }
  console.log(`${total.passed} passed, ${total.failed} failed`);
  return total.failed === 0 && total.passed > 0 ? 0 : 1;
}
