// `deno task start` as users run it: a start that cannot finish ends with a non-zero exit and the reason on
// the terminal, in the foreground and with --detach, and leaves nothing running. Each run uses its own folder
// and ports (LOCAL_STACK_DIR, LOCAL_STACK_DB_PORT, LOCAL_STACK_API_PORT); the dev stack is never touched.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, STATE_ROOT } from "../stack/config.ts";
import { freePort } from "../stack/function_workers.ts";
import { clusterOf, isRunning } from "../stack/postgres.ts";
import { run } from "../stack/process.ts";

/** A hang guard, not a speed limit: the old --detach waited 10 minutes before giving up. */
const HANG_GUARD_MS = 180_000;

async function cliStart(args: string[], env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "stack/cli.ts", "start", ...args],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const guard = setTimeout(() => child.kill("SIGKILL"), HANG_GUARD_MS);
  const { code, signal, stdout, stderr } = await child.output();
  clearTimeout(guard);
  assert.equal(signal, null, `start hung: killed after ${HANG_GUARD_MS} ms`);
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

for (const mode of ["foreground", "--detach"]) {
  for (const taken of ["db", "api"] as const) {
    Deno.test({
      name: `start (${mode}) exits non-zero with the reason when the ${taken} port is taken`,
      sanitizeResources: false,
      async fn() {
        const stateDir = join(STATE_ROOT, `cli-start-${Date.now()}-${Deno.pid}`);
        const dbPort = freePort();
        const apiPort = freePort();
        const blocker = Deno.listen({ hostname: "127.0.0.1", port: taken === "db" ? dbPort : apiPort });
        try {
          const { code, stdout, stderr } = await cliStart(mode === "foreground" ? [] : ["--detach"], {
            LOCAL_STACK_DIR: stateDir,
            LOCAL_STACK_DB_PORT: String(dbPort),
            LOCAL_STACK_API_PORT: String(apiPort),
          });
          assert.notEqual(code, 0);
          assert.doesNotMatch(stdout, /ready/i);
          assert.match(stderr, /already in use/i, `the reason is on the terminal:\n${stderr}`);
          const cluster = clusterOf({
            stateDir,
            dbPort,
            apiPort,
            functionsEnv: {},
            readDotEnv: false,
            modelEnv: {},
          });
          assert.equal(await isRunning(cluster), false, "no Postgres is left running");
        } finally {
          blocker.close();
          await run("bash", ["-c", `rm -rf "${stateDir}"`], { what: "clean up" });
        }
      },
    });
  }
}
