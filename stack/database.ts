// Prepares the stack's database: Supabase's base objects, pg_net (real or stand-in), then the project's
// migrations and seed applied and tracked by the real Supabase CLI.
import { join } from "node:path";
import postgres from "postgres";
import { apiUrl, dbUrl, ROOT, SERVICE_ROLE_KEY, type StackConfig, SUPABASE_CLI } from "./config.ts";
import { CommandError, run } from "./process.ts";

const SQL_DIR = join(ROOT, "stack", "sql");

/** Runs a SQL file with psql, stopping at the first error. */
export async function psqlFile(config: StackConfig, file: string, database = "postgres"): Promise<void> {
  await run("psql", [
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-d",
    dbUrl(config).replace(/\/postgres$/, `/${database}`),
    "-f",
    file,
  ], {
    what: `psql -f ${file}`,
  });
}

export function connect(config: StackConfig, database = "postgres") {
  return postgres(dbUrl(config).replace(/\/postgres$/, `/${database}`), { max: 2, onnotice: () => {} });
}

/** Whether Postgres offers the real pg_net extension. */
export async function hasRealPgNet(config: StackConfig): Promise<boolean> {
  const sql = connect(config);
  try {
    const rows = await sql`select 1 from pg_available_extensions where name = 'pg_net'`;
    return rows.length > 0;
  } finally {
    await sql.end();
  }
}

/** Creates what Supabase's image provides (idempotent), and pg_net or its stand-in. */
export async function bootstrap(config: StackConfig): Promise<{ realPgNet: boolean }> {
  await psqlFile(config, join(SQL_DIR, "bootstrap.sql"));
  const realPgNet = await hasRealPgNet(config);
  if (realPgNet) {
    const sql = connect(config);
    try {
      await sql`create extension if not exists pg_net`;
    } finally {
      await sql.end();
    }
  } else {
    await psqlFile(config, join(SQL_DIR, "pg_net_standin.sql"));
  }
  return { realPgNet };
}

/** Runs the pinned Supabase CLI (from the npm registry) in the repository. */
export async function supabaseCli(args: string[], workdir = ROOT): Promise<string> {
  return await run("npx", ["-y", SUPABASE_CLI, ...args, "--workdir", workdir], {
    what: `supabase ${args[0]} ${args[1] ?? ""}`.trim(),
    cwd: workdir,
    env: { DO_NOT_TRACK: "1", SUPABASE_TELEMETRY_DISABLED: "1" },
    withStderr: true,
  });
}

/**
 * Applies pending migrations and the seed with `supabase db push --include-seed`, which records them in
 * supabase_migrations.schema_migrations and supabase_migrations.seed_files. A failing migration stops with
 * the CLI's message (file name and Postgres's error).
 */
export async function applyMigrations(config: StackConfig, workdir = ROOT): Promise<string> {
  try {
    return await supabaseCli(["db", "push", "--include-seed", "--yes", `--remote=${dbUrl(config)}`], workdir);
  } catch (error) {
    if (error instanceof CommandError) {
      const lines = error.output.split("\n").filter((l) => !/without TLS|^│$|^Target:/.test(l));
      throw new Error(`Migrations failed; the database was left as it is.\n${lines.join("\n")}`);
    }
    throw error;
  }
}

/** The Vault secrets that SQL reads to call functions through pg_net (see ARCHITECTURE.md). */
export async function writeVaultSecrets(config: StackConfig): Promise<void> {
  const sql = connect(config);
  try {
    const secrets: Record<string, string> = {
      project_url: apiUrl(config),
      service_role_key: SERVICE_ROLE_KEY,
    };
    for (const [name, value] of Object.entries(secrets)) {
      const [row] = await sql`select id from vault.secrets where name = ${name}`;
      if (row) await sql`select vault.update_secret(${row.id}, ${value})`;
      else await sql`select vault.create_secret(${value}, ${name}, 'set by the local stack')`;
    }
  } finally {
    await sql.end();
  }
}

/** Drops and recreates the `postgres` database, then rebuilds it from migrations + seed. */
export async function resetDatabase(config: StackConfig): Promise<string> {
  const admin = connect(config, "template1");
  try {
    await admin`drop database if exists postgres with (force)`;
    await admin`create database postgres`;
  } finally {
    await admin.end();
  }
  await bootstrap(config);
  await writeVaultSecrets(config);
  return await applyMigrations(config);
}
