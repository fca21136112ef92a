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

type Tx = postgres.TransactionSql<Record<string, never>>;

/**
 * Switches `net` between pg_net's two providers in one transaction, keeping what is in it: the queued requests
 * and recorded responses are copied out (as plain columns, so nothing depends on the old types), the old
 * provider is dropped, the new one created, the rows copied back, and request ids go on after the old ones.
 * A failure rolls everything back and leaves the database as it was.
 */
async function switchPgNet(tx: Tx, dropOld: string, createNew: () => Promise<unknown>): Promise<number> {
  await tx`create temp table moved_requests on commit drop as
           select id, method::text as method, url, headers, body, timeout_milliseconds from net.http_request_queue`;
  await tx`create temp table moved_responses on commit drop as select * from net._http_response`;
  const [seq] = await tx`select last_value, is_called from net.http_request_queue_id_seq`;
  await tx.unsafe(dropOld);
  await createNew();
  await tx`insert into net.http_request_queue (id, method, url, headers, body, timeout_milliseconds)
           select id, method, url, headers, body, timeout_milliseconds from moved_requests`;
  await tx`insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg,
                                          created)
           select id, status_code, content_type, headers, content, timed_out, error_msg, created
           from moved_responses`;
  await tx`select setval('net.http_request_queue_id_seq', ${seq.last_value}, ${seq.is_called})`;
  const [{ n }] = await tx`select count(*)::int as n from moved_requests`;
  return n;
}

/**
 * pg_net as hosted Supabase has it: the real extension, in schema `extensions`, when this PostgreSQL offers it;
 * otherwise the stand-in (stack/sql/pg_net_standin.sql, served by stack/net_worker.ts). A database that had the
 * other one (the same data folder started with and without the real pg_net installed) is switched over with
 * its queued requests and responses.
 */
async function ensurePgNet(config: StackConfig, log: (line: string) => void): Promise<boolean> {
  const sql = connect(config);
  const standin = await Deno.readTextFile(join(SQL_DIR, "pg_net_standin.sql"));
  try {
    const [{ available, schema, net }] = await sql`
      select exists (select from pg_available_extensions where name = 'pg_net') as available,
             (select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
              where e.extname = 'pg_net') as schema,
             to_regnamespace('net') is not null as net`;
    const createReal = (tx: Tx) => tx`create extension pg_net with schema extensions`;
    if (available) {
      if (schema === "extensions") return true;
      await sql.begin(async (tx) => {
        if (schema !== null) {
          // Created elsewhere by an older stack (pg_net cannot be moved: it is not relocatable).
          const n = await switchPgNet(tx, "drop extension pg_net", () => createReal(tx));
          log(`Moved the pg_net extension from schema ${schema} to extensions (${n} queued requests kept).`);
        } else if (net) {
          const n = await switchPgNet(tx, "drop schema net cascade", () => createReal(tx));
          log(`Replaced the pg_net stand-in with the real pg_net extension (${n} queued requests kept).`);
        } else {
          await createReal(tx);
        }
      });
      // The real worker sleeps until woken (net.wake() is pg_net >= 0.19's).
      await sql`do $$ begin if to_regprocedure('net.wake()') is not null then perform net.wake(); end if; end $$`;
      return true;
    }
    await sql.begin(async (tx) => {
      if (schema !== null) {
        // The real extension is in the database but this PostgreSQL no longer offers it.
        const n = await switchPgNet(tx, "drop extension pg_net", () => tx.unsafe(standin));
        log(
          `The real pg_net is not installed: replaced it with the local stand-in (${n} queued requests kept).`,
        );
      } else {
        await tx.unsafe(standin); // idempotent
      }
    });
    return false;
  } finally {
    await sql.end();
  }
}

/** Creates what Supabase's image provides (idempotent), and pg_net or its stand-in. */
export async function bootstrap(
  config: StackConfig,
  log: (line: string) => void = () => {},
): Promise<{ realPgNet: boolean }> {
  try {
    await psqlFile(config, join(SQL_DIR, "bootstrap.sql"));
    return { realPgNet: await ensurePgNet(config, log) };
  } catch (error) {
    throw new Error(`Database setup failed: ${(error as Error).message}`, { cause: error });
  }
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
