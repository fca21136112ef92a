// The whole local stack as one handle: Postgres + base objects + migrations + seed + pg_net worker + gateway.
// `deno task start` and the test runner both start it through startStack().
import { join } from "node:path";
import { dbUrl, platformEnv, ROOT, type StackConfig } from "./config.ts";
import { applyMigrations, bootstrap, writeVaultSecrets } from "./database.ts";
import { type Gateway, startGateway } from "./gateway.ts";
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
  /** Environment every function process gets (on top of supabase/functions/.env). */
  functionsEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Installs what is missing (a fast no-op when everything is there). */
export async function provision(): Promise<void> {
  await run("bash", [join(ROOT, "stack", "provision.sh")], { what: "stack/provision.sh" });
}

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

    const functionsEnv = { ...platformEnv(config), ...config.functionsEnv };
    const gateway = startGateway({ port: config.apiPort, env: functionsEnv, log, watch: options.watch });
    cleanup.push(() => gateway.stop());
    return { config, realPgNet, gateway, netWorker, functionsEnv, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
