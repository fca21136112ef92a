// The stack's Postgres cluster: created once in a git-ignored folder, started and stopped with pg_ctl.
// Postgres refuses to run as root, so as root every server command runs as the `postgres` system user.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { PG_BIN, type StackConfig } from "./config.ts";
import { run } from "./process.ts";

export interface Cluster {
  /** The bin folder of the PostgreSQL installation that runs it. */
  pgBin: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
  port: number;
}

export function clusterOf(config: StackConfig): Cluster {
  const base = join(config.stateDir, "pg");
  return {
    pgBin: config.pgBin ?? PG_BIN,
    dataDir: join(base, "data"),
    socketDir: join(base, "run"),
    logFile: join(base, "postgres.log"),
    port: config.dbPort,
  };
}

const asRoot = Deno.uid() === 0;

/** Runs a Postgres server binary, as the `postgres` user when we are root. */
function pgCommand(cluster: Cluster, binary: string, args: string[]): [string, string[]] {
  const path = join(cluster.pgBin, binary);
  return asRoot ? ["runuser", ["-u", "postgres", "--", path, ...args]] : [path, args];
}

async function pg(cluster: Cluster, binary: string, args: string[], what: string): Promise<string> {
  const [cmd, cmdArgs] = pgCommand(cluster, binary, args);
  return await run(cmd, cmdArgs, { what, cwd: "/" });
}

/**
 * As root, the `postgres` user must be able to reach the cluster folder: every folder above it needs search
 * (x) permission for it. A checkout in a private folder (mktemp -d, a 0700 home) lacks it; grant exactly that
 * bit, and say so.
 */
async function ensureReachableByPostgres(dir: string, log: (line: string) => void): Promise<void> {
  if (!asRoot) return;
  const ancestors: string[] = [];
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) ancestors.unshift(d);
  for (const d of ancestors) {
    const { code } = await new Deno.Command("runuser", {
      args: ["-u", "postgres", "--", "test", "-x", d],
      cwd: "/",
    })
      .output();
    if (code === 0) continue;
    await Deno.chmod(d, (Deno.statSync(d).mode ?? 0o700) & 0o7777 | 0o001);
    log(`Gave other users search permission (o+x) on ${d}, so that the postgres user can reach the cluster.`);
  }
}

/** Creates the cluster on first use (password `postgres`, UTF-8) and writes the stack's settings. */
export async function ensureCluster(
  cluster: Cluster,
  log: (line: string) => void = console.log,
): Promise<boolean> {
  const base = join(cluster.dataDir, "..");
  await Deno.mkdir(cluster.socketDir, { recursive: true });
  await ensureReachableByPostgres(base, log);
  if (existsSync(join(cluster.dataDir, "PG_VERSION"))) return false;
  const pwFile = join(base, "pwfile");
  await Deno.writeTextFile(pwFile, "postgres\n");
  if (asRoot) await run("chown", ["-R", "postgres:postgres", base], { what: "chown the cluster folder" });
  await pg(cluster, "initdb", [
    "-D",
    cluster.dataDir,
    "-U",
    "postgres",
    `--pwfile=${pwFile}`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C.UTF-8",
  ], "initdb");
  await Deno.remove(pwFile);
  return true;
}

/** Shared libraries to preload: pg_cron always, the real pg_net when this installation has it. */
function preloadLibraries(cluster: Cluster): string {
  const libs = ["pg_cron"];
  if (existsSync(join(cluster.pgBin, "..", "lib", "pg_net.so"))) libs.push("pg_net");
  return libs.join(",");
}

export function serverOptions(cluster: Cluster): string[] {
  return [
    `-p ${cluster.port}`,
    `-k ${cluster.socketDir}`,
    "-c listen_addresses=127.0.0.1",
    `-c shared_preload_libraries=${preloadLibraries(cluster)}`,
    "-c cron.database_name=postgres",
    // pg_cron runs jobs in background workers: no libpq connection and no password needed.
    "-c cron.use_background_workers=on",
    "-c max_worker_processes=32",
    "-c max_connections=200",
    "-c shared_buffers=256MB",
    "-c maintenance_work_mem=512MB",
    "-c fsync=on",
  ];
}

export async function isRunning(cluster: Cluster): Promise<boolean> {
  if (!existsSync(join(cluster.dataDir, "postmaster.pid"))) return false;
  const [cmd, args] = pgCommand(cluster, "pg_ctl", ["-D", cluster.dataDir, "status"]);
  const { code } = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
  return code === 0;
}

export async function startCluster(cluster: Cluster): Promise<void> {
  if (await isRunning(cluster)) {
    // Left over from a stack that was killed: restart it with this stack's settings.
    await stopCluster(cluster);
  }
  if (asRoot) await run("chown", ["-R", "postgres:postgres", join(cluster.dataDir, "..")], { what: "chown" });
  try {
    await pg(cluster, "pg_ctl", [
      "-D",
      cluster.dataDir,
      "-l",
      cluster.logFile,
      "-w",
      "-t",
      "60",
      "-o",
      serverOptions(cluster).join(" "),
      "start",
    ], "pg_ctl start");
  } catch (error) {
    const log = existsSync(cluster.logFile) ? (await Deno.readTextFile(cluster.logFile)).split("\n") : [];
    throw new Error(
      `${(error as Error).message}\nLast lines of ${cluster.logFile}:\n${log.slice(-15).join("\n")}`,
    );
  }
}

export async function stopCluster(cluster: Cluster): Promise<void> {
  if (!(await isRunning(cluster))) return;
  await pg(cluster, "pg_ctl", ["-D", cluster.dataDir, "-m", "fast", "-w", "-t", "60", "stop"], "pg_ctl stop");
}
