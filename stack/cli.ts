// deno task start | stop | status | db:reset | test | bench — the Docker-free local Supabase stack.
//
//   start [--detach]   Postgres :54322 + migrations + seed + pg_net + functions gateway :54321, in the
//                      foreground (Ctrl-C stops it; data is kept in .stack/dev). --detach runs it in the
//                      background, logging to .stack/dev/stack.log; `deno task stop` stops it. Either way a
//                      start that fails before "ready" exits non-zero at once, saying why.
//   stop               Stops a running stack (foreground or detached).
//   status             Prints URLs and keys of the running stack.
//   db-reset           Rebuilds the database from supabase/migrations + seed (running stack or not).
//   test [args]        Runs every test on a fresh, throw-away stack (see stack/test_runner.ts).
//   bench [args]       Runs the benchmarks on a fresh, throw-away stack (see bench/).
//   token [--email e]  Creates (or reuses) a user of the running stack and prints an access token for it
//         [--anonymous] (an anonymous sign-in instead), with how to use it.
//
// LOCAL_STACK_DIR, LOCAL_STACK_DB_PORT and LOCAL_STACK_API_PORT run start/stop/status on another folder and
// ports than the dev stack's (tests of this CLI use them; so can a second stack beside the dev one).
// LOCAL_STACK_FUNCTION_PROCESSES=N lets a busy function run up to N processes (default 1; start, test, bench).
import { existsSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { JWT_EXPIRY_SECONDS, loadSigningKey, mintUserToken, signingKeyFile } from "./auth.ts";
import {
  ANON_KEY,
  apiUrl,
  dbUrl,
  DEV_STACK,
  functionProcessesFromEnv,
  JWT_SECRET,
  PUBLISHABLE_KEY,
  ROOT,
  SECRET_KEY,
  SERVICE_ROLE_KEY,
  type StackConfig,
} from "./config.ts";
import { resetDatabase } from "./database.ts";
import { clusterOf, ensureCluster, isRunning, startCluster, stopCluster } from "./postgres.ts";
import { provision, startStack } from "./stack.ts";
import { runBenchmarks } from "./bench_runner.ts";
import { runTests } from "./test_runner.ts";

/** The dev stack, or the one LOCAL_STACK_DIR / LOCAL_STACK_DB_PORT / LOCAL_STACK_API_PORT name. */
const STACK: StackConfig = {
  ...DEV_STACK,
  stateDir: Deno.env.get("LOCAL_STACK_DIR") || DEV_STACK.stateDir,
  dbPort: Number(Deno.env.get("LOCAL_STACK_DB_PORT") || DEV_STACK.dbPort),
  apiPort: Number(Deno.env.get("LOCAL_STACK_API_PORT") || DEV_STACK.apiPort),
  functionProcesses: functionProcessesFromEnv(),
};
const PID_FILE = join(STACK.stateDir, "stack.pid");
const LOG_FILE = join(STACK.stateDir, "stack.log");
const STATUS_FILE = join(STACK.stateDir, "status.txt");

export function statusBlock(config: StackConfig, realPgNet: boolean): string {
  const rows: Array<[string, string]> = [
    ["API URL", apiUrl(config)],
    ["Functions URL", `${apiUrl(config)}/functions/v1`],
    ["DB URL", dbUrl(config)],
    ["JWKS URL", `${apiUrl(config)}/auth/v1/.well-known/jwks.json`],
    ["JWT secret", `${JWT_SECRET} (legacy HS256 keys only; functions never get it)`],
    ["anon key", ANON_KEY],
    ["service_role key", SERVICE_ROLE_KEY],
    ["Publishable key", PUBLISHABLE_KEY],
    ["Secret key", SECRET_KEY],
    ["pg_net", realPgNet ? "extension" : "local stand-in (stack/net_worker.ts)"],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padStart(width)}: ${v}`).join("\n");
}

function runningPid(): number | null {
  if (!existsSync(PID_FILE)) return null;
  const pid = Number(Deno.readTextFileSync(PID_FILE).trim());
  try {
    Deno.kill(pid, "SIGCONT");
    return pid;
  } catch {
    return null;
  }
}

async function start(args: string[]): Promise<number> {
  const pid = runningPid();
  if (pid !== null) {
    console.error(`The local stack is already running (pid ${pid}). Stop it with: npx -y deno@2 task stop`);
    return 1;
  }
  await Deno.remove(PID_FILE).catch(() => {});
  await Deno.remove(STATUS_FILE).catch(() => {});
  if (args.includes("--detach")) return await startDetached();
  await Deno.mkdir(STACK.stateDir, { recursive: true });
  const log = (line: string) => console.log(line);
  log("Starting the local stack ...");
  const stack = await startStack(STACK, { log, watch: true });
  const status = statusBlock(STACK, stack.realPgNet);
  await Deno.writeTextFile(PID_FILE, String(Deno.pid));
  await Deno.writeTextFile(STATUS_FILE, status);
  log(`\nLocal stack is ready.\n\n${status}\n\nStop with Ctrl-C.\n`);
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, () => resolve());
  });
  log(`Stopping the local stack (data is kept in ${STACK.stateDir}) ...`);
  await stack.stop();
  await Deno.remove(PID_FILE).catch(() => {});
  await Deno.remove(STATUS_FILE).catch(() => {});
  log("Stopped.");
  return 0;
}

/**
 * Runs `start` in its own session, logging to LOG_FILE, and waits for one of two things: it is ready (its
 * status file appears), or it exited — then the log, which ends with the reason, goes to stderr and the exit
 * is non-zero. Nothing is guessed from the log's words.
 */
async function startDetached(): Promise<number> {
  await Deno.mkdir(STACK.stateDir, { recursive: true });
  const child = new Deno.Command("bash", {
    args: ["-c", 'exec "$0" run -A stack/cli.ts start >"$1" 2>&1 </dev/null', Deno.execPath(), LOG_FILE],
    cwd: ROOT,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const state: { exited?: Deno.CommandStatus } = {};
  const done = child.status.then((status) => state.exited = status);
  while (true) {
    await Promise.race([done, new Promise((r) => setTimeout(r, 300))]);
    const exited = state.exited;
    if (exited) {
      const text = existsSync(LOG_FILE) ? await Deno.readTextFile(LOG_FILE) : "";
      console.error(text.trimEnd());
      console.error(`\nThe local stack did not start (exit ${exited.code}); the log is in ${LOG_FILE}.`);
      return 1;
    }
    if (runningPid() === child.pid && existsSync(STATUS_FILE)) {
      console.log(`Local stack is ready.\n\n${await Deno.readTextFile(STATUS_FILE)}\n`);
      console.log(`Running in the background (log: ${LOG_FILE}). Stop with: npx -y deno@2 task stop`);
      child.unref();
      return 0;
    }
  }
}

async function stop(): Promise<number> {
  const pid = runningPid();
  if (pid === null) {
    const cluster = clusterOf(STACK);
    if (await isRunning(cluster)) await stopCluster(cluster);
    console.log("The local stack is not running.");
    return 0;
  }
  Deno.kill(pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (runningPid() !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  console.log(runningPid() === null ? "Stopped." : `pid ${pid} did not stop within 60 s`);
  return runningPid() === null ? 0 : 1;
}

async function dbReset(): Promise<number> {
  const cluster = clusterOf(STACK);
  const running = await isRunning(cluster);
  if (!running) {
    await provision();
    await Deno.mkdir(STACK.stateDir, { recursive: true });
    await ensureCluster(cluster);
    await startCluster(cluster);
  }
  try {
    const out = await resetDatabase(STACK);
    for (const line of out.split("\n")) if (/^(Applying|Seeding)/.test(line)) console.log(line);
    console.log("Database reset: rebuilt from supabase/migrations and the seed.");
    return 0;
  } finally {
    if (!running) await stopCluster(cluster);
  }
}

/**
 * `deno task token [--email you@example.com] [--anonymous]`: a user of the running dev stack and an access token
 * for it. Beside a test or bench stack (STACK_STATE_DIR, SUPABASE_URL and SUPABASE_DB_URL set by their runner) it
 * serves that stack instead.
 */
async function token(args: string[]): Promise<number> {
  const stateDir = Deno.env.get("STACK_STATE_DIR") ?? DEV_STACK.stateDir;
  const url = Deno.env.get("STACK_STATE_DIR") ? Deno.env.get("SUPABASE_URL")! : apiUrl(DEV_STACK);
  const databaseUrl = Deno.env.get("STACK_STATE_DIR") ? Deno.env.get("SUPABASE_DB_URL")! : dbUrl(DEV_STACK);
  if ((!Deno.env.get("STACK_STATE_DIR") && runningPid() === null) || !existsSync(signingKeyFile(stateDir))) {
    console.error("The local stack is not running. Start it with: npx -y deno@2 task start --detach");
    return 1;
  }
  const emailArg = args.find((a) => a.startsWith("--email"));
  const email = emailArg?.includes("=")
    ? emailArg.split("=")[1]
    : emailArg
    ? args[args.indexOf(emailArg) + 1]
    : undefined;
  const anonymous = args.includes("--anonymous");
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const key = await loadSigningKey(stateDir);
    const { user, token } = await mintUserToken(sql, key, `${url}/auth/v1`, { email, anonymous });
    console.error(
      `${
        anonymous ? "Anonymous user" : `User ${user.email}`
      } (id ${user.id}); the access token below is valid for ` +
        `${
          JWT_EXPIRY_SECONDS / 60
        } minutes, signed with the stack's ES256 key (JWKS: ${url}/auth/v1/.well-known/jwks.json).\n\n` +
        `  curl:         TOKEN=$(npx -y deno@2 task token 2>/dev/null)\n` +
        `                curl ${url}/functions/v1/fix-code-error -H "Authorization: Bearer $TOKEN" \\\n` +
        `                  -H 'content-type: application/json' -d '{"error": "TS2322: …", "code": "…"}'\n` +
        `  supabase-js:  createClient("${url}", "${PUBLISHABLE_KEY}", { global: { headers: { Authorization: \`Bearer \${TOKEN}\` } } })\n` +
        `  MCP configs:  "Authorization": "Bearer <token>" (README, "MCP")\n` +
        `  (supabase-js's auth.signUp / signInWithPassword work against ${url} too)\n`,
    );
    console.log(token);
    return 0;
  } finally {
    await sql.end();
  }
}

async function main(): Promise<number> {
  const [command, ...args] = Deno.args;
  switch (command) {
    case "start":
      return await start(args);
    case "stop":
      return await stop();
    case "status": {
      if (runningPid() === null) {
        console.log("The local stack is not running. Start it with: npx -y deno@2 task start");
        return 1;
      }
      console.log(await Deno.readTextFile(STATUS_FILE));
      return 0;
    }
    case "db-reset":
      return await dbReset();
    case "token":
      return await token(args);
    case "test":
      return await runTests(args);
    case "bench":
      return await runBenchmarks(args);
    default:
      console.error(
        "usage: deno run -A stack/cli.ts start [--detach] | stop | status | db-reset | test | bench | token",
      );
      return 2;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
