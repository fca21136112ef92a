// ts-error-worker and the cron batch end to end: pending typescript_errors → process_typescript_errors_batch()
// (what pg_cron's process-ts-errors runs) → pg_net → the worker, on a gateway whose LLM is a fake server (Vault's
// project_url points pg_net there during these steps) → fixes stored, statuses written back. Overlapping batches
// and duplicate wake-ups fix each error once; expired claims are refused; a claim being worked on is renewed
// (heartbeat); a failing LLM is retried with backoff, retrieval answers only on the last attempt (marked).
import assert from "node:assert/strict";
import {
  CHEAT_KINDS,
  type FakeInferenceRequest,
  lyingReply,
  startFakeLlmServer,
} from "./fakes/llm_server.ts";
import {
  assertServiceRoleOnly,
  call,
  createUser,
  eventually,
  knowledgeBaseEmbedded,
  openAiCompatibleEnv,
  pointWakeUpsAt,
  snippetOf,
  startTestGateway,
  type TestUser,
} from "./_functions.ts";
import { db, SERVICE_ROLE_KEY } from "./_stack.ts";

const sql = db();
const NAME = "ts-error-worker";
const MESSAGE = "Type 'number' is not assignable to type 'string'.";

/** The fake model's fix: every `: string = <digits>` becomes `String(<digits>)`. */
const stringify = (code: string) => code.replace(/: string = (\d+);/g, ": string = String($1);");
function fixNumbers(req: FakeInferenceRequest): string {
  return "```ts\n" + stringify(snippetOf(req.messages)) + "\n```\nUsed a string.";
}

/** Queues one TS2322 error per marker for `user`; returns the ids in marker order. */
async function queueErrors(user: TestUser, markers: string[], maxAttempts = 3): Promise<string[]> {
  const ids: string[] = [];
  for (const marker of markers) {
    // Neither the compiler's code fixes nor a knowledge-base fix fixes it: the model is asked.
    const code = `const ${marker}: string = ${ids.length + 7};\nconsole.log(${marker});\n`;
    const [row] = await sql`
      insert into public.typescript_errors (owner, file_path, line, "column", error_code, error_message,
                                            code_snippet, max_attempts)
      values (${user.id}, ${`src/${marker}.ts`}, 1, 7, 'TS2322', ${MESSAGE}, ${code}, ${maxAttempts})
      returning id`;
    ids.push(row.id);
  }
  return ids;
}

async function errorsOf(ids: string[]) {
  return await sql`select * from public.typescript_errors where id = any (${ids}) order by file_path`;
}

async function allSettled(ids: string[], status = "ai_suggested", timeoutMs = 30_000) {
  return await eventually(
    async () => {
      const rows = await errorsOf(ids);
      return rows.every((r) => r.status === status) ? rows : null;
    },
    `${ids.length} error(s) to become ${status}`,
    timeoutMs,
  );
}

interface Report {
  status: string;
  claimed: number;
  succeeded: number;
  failed: number;
  stale: number;
  batches: number;
}

function work(baseUrl: string, body: Record<string, unknown>) {
  return call<Report>(baseUrl, NAME, { token: SERVICE_ROLE_KEY, body: { wait: true, ...body } });
}

Deno.test({
  name: "ts-error-worker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fake = await startFakeLlmServer({ reply: fixNumbers });
    const failing = await startFakeLlmServer({});
    // A 1-second lease (renewed every ~330 ms while the worker works) for the worker's own claims.
    const llm = startTestGateway(
      openAiCompatibleEnv(fake.openaiBaseURL, { RATE_LIMIT_PER_MINUTE: "0", TS_ERROR_STALE_SECONDS: "1" }),
    );
    const broken = startTestGateway(
      openAiCompatibleEnv(failing.openaiBaseURL, { LLM_MAX_RETRIES: "0", RATE_LIMIT_PER_MINUTE: "0" }),
    );
    // The schedule stays out of the way: these steps run the batch themselves.
    const [cronJob] = await sql`select jobid from cron.job where jobname = 'process-ts-errors'`;
    await sql`select cron.alter_job(${cronJob.jobid}, active := false)`;
    let restoreWakeUps: (() => Promise<void>) | null = null;
    try {
      await knowledgeBaseEmbedded(sql);
      // Errors other test files queued and left (the stack is shared, then thrown away) would be claimed first:
      // park them, so that every claim below holds only this file's errors.
      await sql`update public.typescript_errors set status = 'failed', claim_token = null,
                  last_error = 'parked by tests/functions_ts_error_worker.test.ts'
                where status in ('pending', 'processing')`;

      await t.step(
        "only the service role may call it: a user and the anon key get 403, no token 401",
        async () => {
          await assertServiceRoleOnly(sql, NAME, [{ claim_token: "x" }]);
        },
      );

      await t.step(
        "the time budget is checked per error: what was not started goes back untouched, the worker wakes itself",
        async () => {
          const user = await createUser(sql);
          fake.reset().setReply(fixNumbers).setResponseDelay(400);
          const [{ since }] = await sql`select clock_timestamp() as since`;
          try {
            const ids = await queueErrors(user, ["budget_a", "budget_b", "budget_c"]);
            // A 100 ms budget: the first error (a 400 ms model call) uses it up; the other two are released.
            const first = await work(llm.url, { budget_ms: 100, batch_size: 10 });
            const report = first.body as Report & { released: number; more: boolean };
            assert.equal(first.status, 200, JSON.stringify(report));
            assert.deepEqual([report.claimed, report.succeeded, report.released, report.more], [
              3,
              1,
              2,
              true,
            ]);
            // Nobody calls the worker again: its own follow-up requests fix the rest. One attempt each: a
            // released error spent none.
            const rows = await allSettled(ids, "ai_suggested", 60_000);
            assert.ok(rows.every((r) => r.attempts === 1), JSON.stringify(rows.map((r) => r.attempts)));
            // The worker's own slices end once nothing is left (so the next steps' errors are theirs alone).
            await eventually(async () => {
              const [last] = await sql`select details, finished_at from ai.worker_runs
                                       where worker = 'ts-error-worker' and started_at >= ${since}
                                       order by id desc limit 1`;
              return last && !last.details?.more && Date.now() - last.finished_at.getTime() > 1_000;
            }, "the worker's last slice to end");
          } finally {
            fake.setResponseDelay(0);
          }
        },
      );

      await t.step("an empty queue: the batch is a no-op and sends nothing", async () => {
        const [{ result }] = await sql`select public.process_typescript_errors_batch() as result`;
        assert.deepEqual(result, { claimed: 0 });
      });

      restoreWakeUps = await pointWakeUpsAt(sql, llm.url);

      await t.step(
        "pending errors → the batch → pg_net → the worker: fixes stored, statuses ai_suggested",
        async () => {
          const user = await createUser(sql);
          fake.reset().setReply(fixNumbers);
          const ids = await queueErrors(user, ["alpha", "bravo", "charlie", "delta"]);
          const [{ result }] = await sql`select public.process_typescript_errors_batch() as result`;
          assert.equal(result.claimed, 4);
          assert.match(result.claim_token, /^[0-9a-f-]{36}$/);
          assert.ok(Number.isInteger(result.request_id));

          const rows = await allSettled(ids);
          const sources: string[] = [];
          for (const [i, row] of rows.entries()) {
            assert.equal(row.attempts, 1);
            assert.equal(row.last_error, null);
            assert.equal(row.claim_token, null);
            assert.ok(row.processed_at instanceof Date);
            assert.match(row.suggested_fix, new RegExp(`: string = String\\(${i + 7}\\);`));
            const [analysis] = await sql`select * from public.code_analysis where id = ${row.analysis_id}`;
            assert.equal(analysis.owner, user.id);
            assert.equal(analysis.verified, true);
            assert.equal(analysis.suggested_fix, row.suggested_fix);
            assert.equal(analysis.file_path, row.file_path);
            sources.push(analysis.metadata.source);
            assert.equal(
              row.fix_source,
              analysis.metadata.source,
              "the queue row says where its fix came from",
            );
            if (analysis.metadata.source === "llm") assert.equal(analysis.llm_model, "fake-model");
            else assert.equal(analysis.metadata.source, "retrieval"); // adapted from this user's earlier fix
          }
          // The first error goes to the model; the next ones may be fixed by adapting its fix (no model call).
          assert.equal(sources[0], "llm");
          const calls =
            await sql`select function_name, status from public.llm_responses where owner = ${user.id}`;
          assert.equal(calls.length, sources.filter((s) => s === "llm").length);
          assert.ok(calls.every((c) => c.function_name === NAME && c.status === "success"));
          const [run] =
            await sql`select * from ai.worker_runs where worker = ${NAME} order by id desc limit 1`;
          assert.deepEqual([run.claimed, run.succeeded, run.failed, run.stale], [4, 4, 0, 0]);
        },
      );

      await t.step(
        "overlapping batches and duplicate wake-ups: every error is fixed exactly once",
        async () => {
          const user = await createUser(sql);
          fake.reset().setReply(fixNumbers).setResponseDelay(100);
          const markers = ["echo", "foxtrot", "golf", "hotel", "india", "juliett"];
          const ids = await queueErrors(user, markers);
          // Two cron runs at once, on two connections: their claims never overlap.
          const [a, b] = await Promise.all([
            sql`select public.process_typescript_errors_batch(batch_size => 3) as result`,
            sql`select public.process_typescript_errors_batch(batch_size => 3) as result`,
          ]);
          const claims = [a[0].result, b[0].result];
          assert.deepEqual(claims.map((c) => c.claimed).sort(), [3, 3]);
          assert.notEqual(claims[0].claim_token, claims[1].claim_token);
          // Besides pg_net's two wake-ups, each claim is delivered once more, concurrently.
          const reports = await Promise.all(claims.map((c) => work(llm.url, { claim_token: c.claim_token })));
          for (const report of reports) assert.equal(report.status, 200, JSON.stringify(report.body));

          const rows = await allSettled(ids);
          assert.ok(rows.every((r) => r.attempts === 1), "no error was claimed twice");
          for (const marker of markers) {
            const [{ calls }] = await sql`select count(*)::int as calls from public.llm_responses
                                        where owner = ${user.id} and prompt -> 1 ->> 'content' like ${`File: src/${marker}.ts%`}`;
            assert.ok(calls <= 1, `${marker} went to the model ${calls} times`);
            const [{ fixes }] = await sql`select count(*)::int as fixes from public.code_analysis
                                        where owner = ${user.id} and code_snippet like ${`const ${marker}:%`}`;
            assert.equal(fixes, 1, `${marker} was stored ${fixes} times`);
          }
          fake.setResponseDelay(0);
        },
      );

      await t.step(
        "a claim that expired while its error was being fixed: the late result is refused (stale)",
        async () => {
          const user = await createUser(sql);
          fake.reset().setReply(fixNumbers).stallNext({ ms: 2_000 });
          const [id] = await queueErrors(user, ["kilo"]);
          const [first] = await sql`select claim_token::text from ai.claim_typescript_errors(10)`;
          const late = work(llm.url, { claim_token: first.claim_token }); // its model call stalls for 2 s
          await eventually(
            () => Promise.resolve(fake.inferenceRequests().length === 1),
            "the first model call",
          );
          // Meanwhile the claim is taken over as stale (stale_after 0) under a new token.
          const [second] =
            await sql`select claim_token::text, attempts from ai.claim_typescript_errors(10, interval '0 seconds')`;
          assert.notEqual(second.claim_token, first.claim_token);
          assert.equal(second.attempts, 1, "the first worker's attempt (counted when it started)");
          const fresh = work(llm.url, { claim_token: second.claim_token });
          const [lateReport, freshReport] = await Promise.all([late, fresh]);
          const reports = [lateReport.body, freshReport.body];
          assert.equal(reports.reduce((n, r) => n + r.stale, 0), 1, JSON.stringify(reports));
          assert.equal(reports.reduce((n, r) => n + r.succeeded, 0), 1, JSON.stringify(reports));
          const [row] = await allSettled([id]);
          assert.equal(row.attempts, 2);
        },
      );

      await t.step("a lying model: no class of cheat is stored as a verified fix", async () => {
        const user = await createUser(sql);
        // Each model call gets the next class of cheat (two attempts per error): every class is answered.
        let n = 0;
        fake.reset().setReply((req) => lyingReply(CHEAT_KINDS[n++ % CHEAT_KINDS.length], stringify)(req));
        const markers = CHEAT_KINDS.map((_, i) => `liar${i}`);
        const ids = await queueErrors(user, markers);
        const [{ result }] =
          await sql`select public.process_typescript_errors_batch(batch_size => 20) as result`;
        assert.equal(result.claimed, markers.length);
        await allSettled(ids, "ai_suggested", 120_000);
        assert.ok(n >= CHEAT_KINDS.length, `${n} model calls`);
        const rows = await errorsOf(ids);
        assert.equal(rows.length, CHEAT_KINDS.length);
        for (const row of rows) {
          assert.ok(row.analysis_id, `${row.file_path}: ${row.status} ${row.last_error}`);
          const [analysis] =
            await sql`select verified, metadata from public.code_analysis where id = ${row.analysis_id}`;
          // Verified only when honest: the cheats are stored as unverified suggestions.
          const honestFix = stringify(row.code_snippet).trimEnd();
          if (analysis.verified) assert.equal(row.suggested_fix.trimEnd(), honestFix, row.file_path);
          else assert.notEqual(row.suggested_fix.trimEnd(), honestFix, row.file_path);
        }
      });

      await t.step(
        "a claim is renewed while its error is worked on: a 1 s lease outlives a 2.5 s model call",
        async () => {
          const user = await createUser(sql);
          fake.reset().setReply(fixNumbers).stallNext({ ms: 2_500 });
          const [id] = await queueErrors(user, ["mike"]);
          const [claim] =
            await sql`select claim_token::text from ai.claim_typescript_errors(10, interval '1 second')`;
          const working = work(llm.url, { claim_token: claim.claim_token });
          // Another worker keeps claiming with the same 1-second lease while the model call stalls.
          const stolen: string[] = [];
          const until = Date.now() + 3_000;
          while (Date.now() < until) {
            for (const row of await sql`select id from ai.claim_typescript_errors(10, interval '1 second')`) {
              stolen.push(row.id);
            }
            await new Promise((r) => setTimeout(r, 100));
          }
          const report = await working;
          assert.deepEqual(stolen, [], "nobody took over the claim being worked on");
          assert.deepEqual([report.body.succeeded, report.body.stale], [1, 0], JSON.stringify(report.body));
          const [row] = await allSettled([id]);
          assert.equal(row.attempts, 1);
        },
      );

      await t.step(
        "an LLM failure is a retry with backoff; retrieval answers only on the last attempt, marked as such",
        async () => {
          const user = await createUser(sql);
          failing.reset().failNext({
            status: 500,
            times: 100,
            message: "model unavailable at http://10.0.0.7",
          });
          // TS2322 has fixes in the knowledge base: retrieval could answer at once, but must not before the last attempt.
          const [id] = await queueErrors(user, ["november"], 2);
          const [claim] = await sql`select claim_token::text from ai.claim_typescript_errors(10)`;
          const first = await work(broken.url, { claim_token: claim.claim_token });
          assert.deepEqual([first.body.failed, first.body.succeeded], [1, 0], JSON.stringify(first.body));
          const [after] = await errorsOf([id]);
          assert.deepEqual([after.status, after.attempts, after.suggested_fix], ["pending", 1, null]);
          assert.ok(after.run_after > new Date(Date.now() + 10_000), "the retry waits out a backoff");
          assert.match(after.last_error, /^the LLM call failed \(error id [0-9a-f-]{36}\)/);
          assert.doesNotMatch(
            after.last_error,
            /model unavailable|10\.0\.0\.7/,
            "no upstream text for the user",
          );

          await sql`update public.typescript_errors set run_after = now() where id = ${id}`;
          const [again] = await sql`select claim_token::text from ai.claim_typescript_errors(10)`;
          const last = await work(broken.url, { claim_token: again.claim_token });
          assert.deepEqual([last.body.failed, last.body.succeeded], [0, 1], JSON.stringify(last.body));
          const [row] = await errorsOf([id]);
          assert.deepEqual([row.status, row.attempts, row.fix_source], [
            "ai_suggested",
            2,
            "retrieval_fallback",
          ]);
          assert.match(
            row.last_error,
            /^the LLM call failed \(error id [0-9a-f-]{36}\); answered from retrieval$/,
          );
          const [reference] =
            await sql`select shared from public.code_analysis where id = ${row.analysis_id}`;
          assert.equal(reference.shared, true, "the fallback is the nearest knowledge-base fix");
        },
      );

      await t.step("a failing LLM: pending with last_error, then failed after max_attempts", async () => {
        const user = await createUser(sql);
        failing.reset().failNext({ status: 500, times: 100, message: "model unavailable" });
        // TS2362 has no fix in the knowledge base, so retrieval cannot stand in for the model.
        const [row] = await sql`
          insert into public.typescript_errors (owner, file_path, error_code, error_message, code_snippet, max_attempts)
          values (${user.id}, 'src/minus.ts', 'TS2362',
            'The left-hand side of an arithmetic operation must be of type ''any'', ''number'', ''bigint'' or an enum type.',
            ${'const label = "total";\nconst result = label - 1;\n'}, 2)
          returning id`;
        for (const expected of [["pending", 1], ["failed", 2]] as const) {
          await sql`update public.typescript_errors set run_after = now() where id = ${row.id}`; // (the backoff)
          const [claim] = await sql`select claim_token::text from ai.claim_typescript_errors(10)`;
          const report = await work(broken.url, { claim_token: claim.claim_token });
          assert.equal(report.status, 200, JSON.stringify(report.body));
          assert.deepEqual([report.body.claimed, report.body.failed, report.body.succeeded], [1, 1, 0]);
          const [after] = await errorsOf([row.id]);
          assert.deepEqual([after.status, after.attempts], expected);
          assert.match(after.last_error, /the LLM call failed \(error id [0-9a-f-]{36}\)/);
          assert.doesNotMatch(
            after.last_error,
            /model unavailable/,
            "the upstream's text goes to the log only",
          );
          if (expected[0] === "failed") assert.match(after.last_error, /no fix found/);
          assert.equal(after.suggested_fix, null);
        }
        const calls =
          await sql`select status, http_status from public.llm_responses where owner = ${user.id}`;
        assert.deepEqual(calls.map((c) => [c.status, c.http_status]), [["error", 500], ["error", 500]]);
        const [{ result }] = await sql`select public.process_typescript_errors_batch() as result`;
        assert.equal(result.claimed, 0, "a failed error is not claimed again");
      });

      await restoreWakeUps();
      restoreWakeUps = null;

      await t.step(
        "with no LLM (the stack's gateway, woken by pg_net) an error gets a retrieval answer",
        async () => {
          const user = await createUser(sql);
          const [id] = await queueErrors(user, ["lima"]);
          const [{ result }] = await sql`select public.process_typescript_errors_batch() as result`;
          assert.equal(result.claimed, 1);
          const [row] = await allSettled([id]);
          const [reference] =
            await sql`select shared, suggested_fix from public.code_analysis where id = ${row.analysis_id}`;
          assert.equal(reference.shared, true, "the reference is a knowledge-base fix");
          assert.equal(row.suggested_fix, reference.suggested_fix);
          assert.equal((await sql`select 1 from public.llm_responses where owner = ${user.id}`).length, 0);
        },
      );
    } finally {
      await restoreWakeUps?.();
      await sql`select cron.alter_job(${cronJob.jobid}, active := true)`;
      await llm.stop();
      await broken.stop();
      await Promise.all([fake.close(), failing.close()]);
      await sql.end();
    }
  },
});
