// One data folder, started with and without a pg_net extension installed: the stack switches `net` between
// the stand-in and the extension (created in schema `extensions`, as on hosted Supabase) and keeps the data —
// tables, queued requests, recorded responses, request ids.
//
// The extension here is a private PostgreSQL installation (tests/_pg_install.ts) that offers the test double in
// tests/fixtures/fake_pg_net/ — pg_net's catalog shape without its worker, because the real pg_net cannot be
// installed where CI runs. Set LOCAL_STACK_PG_BIN to the bin folder of an installation with the real pg_net to
// run the same test against it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, type StackConfig, STATE_ROOT } from "../stack/config.ts";
import { connect } from "../stack/database.ts";
import { freePort } from "../stack/function_workers.ts";
import { run } from "../stack/process.ts";
import { type Stack, startStack } from "../stack/stack.ts";
import { TEST_MODEL_ENV } from "../stack/test_model.ts";
import { privatePostgres } from "./_pg_install.ts";
import { eventually } from "./_stack.ts";

async function installationWithPgNet(dir: string): Promise<string> {
  const fromEnv = Deno.env.get("LOCAL_STACK_PG_BIN");
  if (fromEnv) return fromEnv;
  const fixtures = join(ROOT, "tests", "fixtures", "fake_pg_net");
  const extension: Record<string, string> = {};
  for (const entry of Deno.readDirSync(fixtures)) {
    extension[entry.name] = await Deno.readTextFile(join(fixtures, entry.name));
  }
  return await privatePostgres(dir, { extension });
}

function startEchoServer() {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    paths.push(new URL(req.url).pathname);
    return Response.json({ ok: true });
  });
  return { paths, url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

Deno.test({
  name: "a data folder switches between the pg_net stand-in and the extension both ways, keeping its data",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const stateDir = join(STATE_ROOT, `pg-net-switch-${Date.now()}-${Deno.pid}`);
    const withoutPgNet: StackConfig = {
      stateDir,
      dbPort: freePort(),
      apiPort: freePort(),
      functionsEnv: {},
      readDotEnv: false,
      modelEnv: TEST_MODEL_ENV,
    };
    const echo = startEchoServer();
    let stack: Stack | null = null;
    try {
      const withPgNet: StackConfig = {
        ...withoutPgNet,
        pgBin: await installationWithPgNet(join(stateDir, "pg-with-pg_net")),
      };
      const logged: string[] = [];
      const log = (line: string) => void logged.push(line);

      // 1. The stand-in: a table, a response recorded, and a request left in the queue.
      stack = await startStack(withoutPgNet, { log });
      assert.equal(stack.realPgNet, false);
      let sql = connect(withoutPgNet);
      await sql`create table public.keep_me (note text)`;
      await sql`insert into public.keep_me values ('still here')`;
      const [{ id: answered }] = await sql`select net.http_post(${echo.url + "/answered"}) as id`;
      await eventually(
        async () => (await sql`select 1 from net._http_response where id = ${answered}`)[0],
        "a response",
      );
      await stack.netWorker!.stop(); // nothing sends now: the next request stays queued
      const [{ id: queued }] = await sql`select net.http_post(${echo.url + "/queued"}) as id`;
      await sql.end();
      await stack.stop();
      stack = null;

      // 2. The same folder where PostgreSQL offers pg_net: the extension, in schema extensions.
      stack = await startStack(withPgNet, { log });
      assert.equal(stack.realPgNet, true);
      assert.ok(logged.some((l) => /Replaced the pg_net stand-in/.test(l)), "the switch is reported");
      sql = connect(withPgNet);
      const [ext] =
        await sql`select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace
                              where e.extname = 'pg_net'`;
      assert.equal(ext?.nspname, "extensions");
      const [{ member }] = await sql`
        select exists (select from pg_depend d join pg_extension e on e.oid = d.refobjid
                       where e.extname = 'pg_net' and d.deptype = 'e'
                         and d.objid = 'net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure) as member`;
      assert.equal(member, true, "net.http_post is the extension's now");
      assert.deepEqual((await sql`select note from public.keep_me`).map((r) => r.note), ["still here"]);
      const kept = await sql`select id from net._http_response where id = ${answered}`;
      assert.equal(kept.length, 1, "the recorded response was kept");
      const [{ seen }] = await sql`
        select exists (select from net.http_request_queue where id = ${queued})
            or exists (select from net._http_response where id = ${queued}) as seen`;
      assert.equal(seen, true, "the queued request was kept (or, with the real pg_net, sent)");
      const [{ id: later }] = await sql`select net.http_post(${echo.url + "/later"}) as id`;
      assert.ok(BigInt(later) > BigInt(queued), "request ids go on after the stand-in's");
      await sql.end();
      await stack.stop();
      stack = null;

      // 3. Back without pg_net: the stand-in again, and it sends what the extension left queued.
      stack = await startStack(withoutPgNet, { log });
      assert.equal(stack.realPgNet, false);
      sql = connect(withoutPgNet);
      assert.equal((await sql`select 1 from pg_extension where extname = 'pg_net'`).length, 0);
      assert.deepEqual((await sql`select note from public.keep_me`).map((r) => r.note), ["still here"]);
      await stack.netWorker!.idle();
      const responses =
        await sql`select id from net._http_response where id in (${answered}, ${queued}, ${later})`;
      assert.equal(responses.length, 3, "every request has its response");
      assert.ok(echo.paths.includes("/queued") && echo.paths.includes("/later"));
      await sql.end();
    } finally {
      await stack?.stop();
      await echo.close();
      await run("bash", ["-c", `rm -rf "${stateDir}"`], { what: "clean up" });
    }
  },
});
