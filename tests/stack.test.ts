// The local stack itself: provisioning is idempotent, migrations are applied once and tracked by the
// Supabase CLI, data survives a restart, and db reset rebuilds from migrations + seed.
import assert from "node:assert/strict";
import { TEST_MODEL_ENV } from "../stack/test_model.ts";
import { join } from "node:path";
import { ROOT, type StackConfig, STATE_ROOT } from "../stack/config.ts";
import { applyMigrations, connect, resetDatabase, supabaseCli } from "../stack/database.ts";
import { freePort } from "../stack/function_workers.ts";
import { run } from "../stack/process.ts";
import { startStack } from "../stack/stack.ts";
import { db, SUPABASE_DB_URL } from "./_stack.ts";

function migrationVersions(): string[] {
  return [...Deno.readDirSync(join(ROOT, "supabase", "migrations"))]
    .map((e) => e.name.match(/^(\d{14})_.*\.sql$/)?.[1])
    .filter((v): v is string => Boolean(v))
    .sort();
}

Deno.test("provisioning is a quiet no-op when everything is installed", async () => {
  for (let i = 0; i < 2; i++) {
    const child = await new Deno.Command("bash", { args: [join(ROOT, "stack", "provision.sh")] }).output();
    assert.equal(child.code, 0);
    assert.equal(new TextDecoder().decode(child.stderr), "", "nothing to install, nothing printed");
  }
});

Deno.test("the extensions the project needs are installed at the required versions", async () => {
  const sql = db();
  try {
    const rows = await sql`select name, default_version from pg_available_extensions
                           where name in ('vector', 'pg_cron', 'pgtap')`;
    const versions = Object.fromEntries(rows.map((r) => [r.name, r.default_version]));
    assert.ok(versions.vector, "pgvector is available");
    const [major, minor] = versions.vector.split(".").map(Number);
    assert.ok(major > 0 || minor >= 8, `pgvector ${versions.vector} >= 0.8`);
    assert.ok(versions.pg_cron);
    assert.ok(versions.pgtap);
    const [{ preload }] = await sql`select current_setting('shared_preload_libraries') as preload`;
    assert.match(preload, /pg_cron/);
    const [{ db: cronDb }] = await sql`select current_setting('cron.database_name') as db`;
    assert.equal(cronDb, "postgres");
  } finally {
    await sql.end();
  }
});

Deno.test("no extension lives in public: pg_cron in pg_catalog, pg_net in extensions, as on hosted", async () => {
  const sql = db();
  try {
    const rows = await sql`select e.extname, n.nspname from pg_extension e
                           join pg_namespace n on n.oid = e.extnamespace order by 1`;
    const schemaOf = Object.fromEntries(rows.map((r) => [r.extname, r.nspname]));
    assert.deepEqual(rows.filter((r) => r.nspname === "public").map((r) => r.extname), []);
    assert.equal(schemaOf.pg_cron, "pg_catalog");
    assert.equal(schemaOf.vector, "extensions");
    // The real pg_net when this PostgreSQL has it (the stand-in is a plain schema, not an extension).
    if (schemaOf.pg_net) assert.equal(schemaOf.pg_net, "extensions");
  } finally {
    await sql.end();
  }
});

Deno.test("every migration is applied once and tracked in supabase_migrations.schema_migrations", async () => {
  const sql = db();
  try {
    const tracked = (await sql`select version from supabase_migrations.schema_migrations order by version`)
      .map((r) => r.version);
    assert.deepEqual(tracked, migrationVersions());
    const seeds = await sql`select path from supabase_migrations.seed_files order by path`;
    assert.ok(seeds.some((s) => s.path === "supabase/seed.sql"), "the seed is tracked");
    // Pushing again changes nothing.
    const out = await supabaseCli(["db", "push", "--include-seed", "--yes", `--remote=${SUPABASE_DB_URL}`]);
    assert.match(out, /up to date/i);
    const again = await sql`select version from supabase_migrations.schema_migrations order by version`;
    assert.deepEqual(again.map((r) => r.version), tracked);
  } finally {
    await sql.end();
  }
});

Deno.test({
  name:
    "a second start keeps the data; db reset rebuilds from migrations + seed; a broken migration stops start",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const config: StackConfig = {
      stateDir: join(STATE_ROOT, `restart-test-${Date.now()}`),
      dbPort: freePort(),
      apiPort: freePort(),
      functionsEnv: {},
      readDotEnv: false,
      modelEnv: TEST_MODEL_ENV,
    };
    const log = () => {};
    try {
      let stack = await startStack(config, { log });
      let sql = connect(config);
      await sql`create table public.keep_me (note text)`;
      await sql`insert into public.keep_me values ('still here')`;
      await sql.end();
      await stack.stop();

      stack = await startStack(config, { log });
      sql = connect(config);
      assert.deepEqual((await sql`select note from public.keep_me`).map((r) => r.note), ["still here"]);
      await sql.end();

      await resetDatabase(config);
      sql = connect(config);
      const [{ exists }] = await sql`select to_regclass('public.keep_me') is not null as exists`;
      assert.equal(exists, false, "db reset dropped what no migration creates");
      const tracked = await sql`select version from supabase_migrations.schema_migrations order by version`;
      assert.deepEqual(tracked.map((r) => r.version), migrationVersions());
      const [{ n }] =
        await sql`select count(*)::int as n from vault.secrets where name in ('project_url', 'service_role_key')`;
      assert.equal(n, 2, "the Vault secrets the SQL needs are set again");
      await sql.end();
      await stack.stop();
    } finally {
      await run("bash", ["-c", `rm -rf "${config.stateDir}"`], { what: "clean up" });
    }
  },
});

Deno.test("a broken migration fails with the file name and Postgres's error", async () => {
  const config: StackConfig = {
    stateDir: join(STATE_ROOT, `broken-test-${Date.now()}`),
    dbPort: freePort(),
    apiPort: freePort(),
    functionsEnv: {},
    readDotEnv: false,
    modelEnv: TEST_MODEL_ENV,
  };
  // A copy of the project with one broken migration added: the repository is never touched.
  const project = await Deno.makeTempDir({ prefix: "broken-project-" });
  const stack = await startStack(config, { log: () => {} });
  try {
    await run("cp", ["-r", join(ROOT, "supabase"), project], { what: "copy the project" });
    await Deno.writeTextFile(
      join(project, "supabase", "migrations", "29991231235959_broken_on_purpose.sql"),
      "create table broken (id int;\n",
    );
    const error = await applyMigrations(config, project).then(() => null, (e: Error) => e);
    assert.ok(error, "db push failed");
    assert.match(error.message, /29991231235959_broken_on_purpose\.sql/);
    assert.match(error.message, /syntax error/);
  } finally {
    await stack.stop();
    await Deno.remove(project, { recursive: true });
    await run("bash", ["-c", `rm -rf "${config.stateDir}"`], { what: "clean up" });
  }
});
