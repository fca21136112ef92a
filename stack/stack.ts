// The whole local stack as one handle: Postgres + base objects + migrations + seed + pg_net worker + gateway.
// `deno task start` and the test runner both start it through startStack().
import { join, resolve } from "node:path";
import { jwksOf, loadSigningKey, type SigningKey } from "./auth.ts";
import { dbUrl, platformEnv, ROOT, type StackConfig } from "./config.ts";
import { applyMigrations, bootstrap, writeVaultSecrets } from "./database.ts";
import { type Gateway, startGateway } from "./gateway.ts";
import { parseDotEnv } from "./function_workers.ts";
import { type ModelRunner, startModelRunner } from "./model_runner.ts";
import { type NetWorker, startNetWorker } from "./net_worker.ts";
import { clusterOf, ensureCluster, startCluster, stopCluster } from "./postgres.ts";
import { run } from "./process.ts";

export interface StackOptions {
  log: (line: string) => void;
  /** Restart function processes when their files change. */
  watch?: boolean;
}

export interface Stack {
  config: StackConfig;
  realPgNet: boolean;
  gateway: Gateway;
  /** Null when the real pg_net extension does the sending. */
  netWorker: NetWorker | null;
  /** Environment every function process gets (hosted's variables + the config's overrides). */
  functionsEnv: Record<string, string>;
  /** The model behind Supabase.ai.Session. */
  modelRunner: ModelRunner;
  /** The project's asymmetric signing key (its JWKS is served and given to the functions). */
  signingKey: SigningKey;
  stop(): Promise<void>;
}

/** Installs what is missing (a fast no-op when everything is there). */
export async function provision(): Promise<void> {
  await run("bash", [join(ROOT, "stack", "provision.sh")], { what: "stack/provision.sh" });
}

/** The model runner's settings a developer keeps in supabase/functions/.env (EMBEDDING_MODEL_DIR …). */
async function modelEnvFromDotEnv(): Promise<Record<string, string>> {
  const text = await Deno.readTextFile(join(ROOT, "supabase", "functions", ".env")).catch(() => "");
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseDotEnv(text))) {
    if (!MODEL_ENV.includes(name)) continue;
    env[name] = name === "EMBEDDING_MODEL_DIR" || name === "EMBEDDING_CACHE_DIR"
      ? resolve(ROOT, value)
      : value;
  }
  return env;
}

const MODEL_ENV = [
  "EMBEDDING_MODEL",
  "EMBEDDING_MODEL_DIR",
  "EMBEDDING_CACHE_DIR",
  "HF_ENDPOINT",
  "EMBEDDING_RUNNER_BATCH",
];

export async function startStack(config: StackConfig, options: StackOptions): Promise<Stack> {
  const { log } = options;
  await provision();
  await Deno.mkdir(config.stateDir, { recursive: true });
  const cluster = clusterOf(config);
  if (await ensureCluster(cluster, log)) log(`Created a Postgres cluster in ${cluster.dataDir}`);
  await startCluster(cluster);
  const cleanup: Array<() => Promise<void>> = [() => stopCluster(cluster)];
  const stopAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((e) => log(`stop: ${e.message}`));
  };
  try {
    const { realPgNet } = await bootstrap(config, log);
    await writeVaultSecrets(config); // before the seed, whose inserts wake workers through Vault's URL
    const migrated = await applyMigrations(config);
    for (const line of migrated.split("\n")) {
      if (/^(Applying|Seeding)/.test(line)) log(line);
    }

    const netWorker = realPgNet ? null : await startNetWorker(dbUrl(config), log);
    if (netWorker) cleanup.push(() => netWorker.stop());

    const modelEnv = config.readDotEnv
      ? { ...await modelEnvFromDotEnv(), ...config.modelEnv }
      : config.modelEnv;
    const modelRunner = await startModelRunner(modelEnv, log);
    cleanup.push(() => modelRunner.stop());
    const signingKey = await loadSigningKey(config.stateDir);
    const functionsEnv = { ...platformEnv(config, jwksOf(signingKey)), ...config.functionsEnv };
    const gateway = startGateway({
      port: config.apiPort,
      env: functionsEnv,
      readDotEnv: config.readDotEnv,
      aiUrl: modelRunner.url,
      signingKey,
      dbUrl: dbUrl(config),
      tmpDir: join(config.stateDir, "functions-tmp"),
      log,
      watch: options.watch,
      processesPerFunction: config.functionProcesses,
    });
    cleanup.push(() => gateway.stop());
    await gateway.prepare();
    return { config, realPgNet, gateway, netWorker, functionsEnv, modelRunner, signingKey, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
