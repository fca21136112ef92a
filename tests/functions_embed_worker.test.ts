// embed-worker and the automatic-embedding path end to end: an insert is embedded with no call of ours (the
// trigger wakes the worker through pg_net), a changed text is cleared at once and re-embedded, a vector for old
// text is never written (stale), a model that cannot load leaves visible failures, and only the service role
// may call the worker.
import assert from "node:assert/strict";
import {
  assertServiceRoleOnly,
  call,
  cosine,
  createUser,
  embeddingsSettled,
  eventually,
  parseVector,
  startTestGateway,
  startTestGatewayWithModel,
  withoutCronWakeups,
} from "./_functions.ts";
import { db, SERVICE_ROLE_KEY, SUPABASE_URL } from "./_stack.ts";

const sql = db();
const NAME = "embed-worker";

interface Report {
  worker: string;
  status: string;
  claimed: number;
  succeeded: number;
  failed: number;
  stale: number;
  batches: number;
  ms: number;
  embed_ms: number;
}

async function embeddingOf(text: string): Promise<number[]> {
  const answer = await call<{ embedding: number[] }>(SUPABASE_URL, "generate-embedding", {
    token: SERVICE_ROLE_KEY,
    body: { input: text },
  });
  assert.equal(answer.status, 200);
  return answer.body.embedding;
}

async function vectorOf(id: string, table = "public.code_snippets"): Promise<number[] | null> {
  const [row] = await sql`select embedding::text as v from ${sql.unsafe(table)} where id = ${id}`;
  return parseVector(row.v);
}

function drain(baseUrl = SUPABASE_URL, body: Record<string, unknown> = {}) {
  return call<Report>(baseUrl, NAME, { token: SERVICE_ROLE_KEY, body: { wait: true, ...body } });
}

/** Inserts snippets without waking the worker (as its own write-backs do). */
async function insertQuietly(texts: string[]): Promise<string[]> {
  return await sql.begin(async (tx) => {
    await tx`select set_config('ai.embedding_worker', 'on', true)`;
    const rows = await tx`insert into public.code_snippets (content)
                          select unnest(${texts}::text[]) returning id`;
    return rows.map((r) => r.id as string);
  }) as string[];
}

Deno.test({
  name: "embed-worker",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const emptyModelDir = await Deno.makeTempDir({ prefix: "no-model-" });
    const broken = await startTestGatewayWithModel({}, {
      EMBEDDING_MODEL_DIR: emptyModelDir,
      EMBEDDING_MODEL: Deno.env.get("EMBEDDING_MODEL")!,
    });
    try {
      await embeddingsSettled(sql);

      await t.step(
        "only the service role may call it: a user and the anon key get 403, no token 401",
        async () => {
          await assertServiceRoleOnly(sql, NAME, [{ batch_size: 0 }, { url: "x" }]);
        },
      );

      await t.step("a wake-up without wait is answered 202 at once", async () => {
        const answer = await call<Report>(SUPABASE_URL, NAME, { token: SERVICE_ROLE_KEY, body: {} });
        assert.equal(answer.status, 202);
        assert.equal(answer.body.worker, NAME);
        assert.ok(["started", "already_running"].includes(answer.body.status), answer.body.status);
      });

      await t.step(
        "an inserted snippet gets its vector with no call of ours (pg_net wakes the worker)",
        async () => {
          const user = await createUser(sql);
          const content = "export function greet(name: string): string { return `Hello, ${name}`; }";
          const [{ runs }] =
            await sql`select count(*)::int as runs from ai.worker_runs where worker = ${NAME}`;
          const id = await sql.begin(async (tx) => {
            await tx`select set_config('role', 'authenticated', true),
                          set_config('request.jwt.claims', ${
              JSON.stringify({ sub: user.id, role: "authenticated" })
            }, true)`;
            const [row] =
              await tx`insert into public.code_snippets (content) values (${content}) returning id, owner`;
            assert.equal(row.owner, user.id);
            return row.id as string;
          }) as string;
          const vector = await eventually(() => vectorOf(id), "the snippet's vector", 30_000);
          assert.equal(vector.length, 384);
          assert.ok(
            cosine(vector, await embeddingOf(content)) > 0.9999,
            "the vector is the text's embedding",
          );
          await eventually(async () => {
            const [after] =
              await sql`select count(*)::int as runs from ai.worker_runs where worker = ${NAME}`;
            return after.runs > runs;
          }, "the worker's record of its run");
        },
      );

      await t.step(
        "a write soon after a wake-up sends none (debounce), yet is embedded by that wake-up's drain",
        async () => {
          await withoutCronWakeups(sql, async () => {
            // The debounce, by the database's clock alone: the write is in the transaction that records a
            // wake-up, so it is 0 s after it however slow this machine is. No request may be queued.
            const requestSeq = async () =>
              (await sql`select last_value::text as v from net.http_request_queue_id_seq`)[0].v;
            const before = await requestSeq();
            const [quiet] = await sql.begin(async (tx) => {
              await tx`update ai.worker_wakeups set last_wake = now() where worker = ${NAME}`;
              return await tx`insert into public.code_snippets (content) values ('let quiet = 0;') returning id`;
            });
            assert.equal(await requestSeq(), before, "a write within the debounce window sent no request");

            // The drain a wake-up starts keeps watching the queue (EMBED_LINGER_MS) for such writes. Wait for
            // the state this needs — the first vector is written and that drain has not ended — rather than
            // for a time; a drain that ended before the second write (a slow machine) makes the attempt void.
            for (let attempt = 1;; attempt++) {
              await eventually(async () => {
                const [{ due }] = await sql`select last_wake < now() - interval '2 seconds' as due
                                            from ai.worker_wakeups where worker = ${NAME}`;
                return due;
              }, "the debounce window to pass");
              const [{ woken }] = await sql`select now() as woken`;
              const [first] = await sql`
                insert into public.code_snippets (content) values (${`let first = ${attempt};`}) returning id`;
              await eventually(() => vectorOf(first.id), "the first vector");
              const [second] = await insertQuietly([`let second = ${attempt};`]);
              const [{ written }] = await sql`select now() as written`;
              const outcome = await eventually(async () => {
                if (await vectorOf(second)) return "embedded";
                const [{ ended }] = await sql`
                  select exists (select from ai.worker_runs where worker = ${NAME} and started_at >= ${woken}
                                 and finished_at < ${written}) as ended`;
                return ended ? "void" : null;
              }, "the second vector, or the drain's end");
              if (outcome === "embedded") {
                const vector = (await vectorOf(second))!;
                assert.ok(cosine(vector, await embeddingOf(`let second = ${attempt};`)) > 0.9999);
                break;
              }
              assert.ok(attempt < 5, "in 5 attempts the drain never lingered until the second write");
            }
            await eventually(() => vectorOf(quiet.id), "the debounced write's vector");
          });
        },
      );

      await t.step(
        "changing the text clears the vector in the same statement, then re-embeds the new text",
        async () => {
          const [id] = await insertQuietly(["const total = items.reduce((a, b) => a + b, 0);"]);
          await drain();
          const old = (await vectorOf(id))!;
          assert.ok(old);
          const next = "SELECT id, email FROM auth.users WHERE created_at > now() - interval '1 day';";
          const [updated] = await sql`update public.code_snippets set content = ${next} where id = ${id}
                                    returning embedding`;
          assert.equal(updated.embedding, null, "the stale vector is gone at once");
          const vector = await eventually(() => vectorOf(id), "the new vector", 30_000);
          const expected = await embeddingOf(next);
          assert.ok(cosine(vector, expected) > 0.9999, "the vector is the new text's embedding");
          assert.ok(cosine(vector, old) < 0.99, "not the old text's vector");
        },
      );

      await t.step("an update that keeps the text keeps the vector and queues nothing", async () => {
        const [id] = await insertQuietly(["let unchanged = true;"]);
        await drain();
        const before = await vectorOf(id);
        await sql`update public.code_snippets set metadata = '{"tag": "x"}', content = content where id = ${id}`;
        assert.deepEqual(await vectorOf(id), before);
        const [{ jobs }] =
          await sql`select count(*)::int as jobs from ai.embedding_jobs where row_id = ${id}`;
        assert.equal(jobs, 0);
      });

      await t.step(
        "{wait: true} drains and reports claimed, succeeded, failed, stale, batches and ms",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql);
            await drain(); // joins (and outlasts) any drain a wake-up started: the next one is ours alone
            const ids = await insertQuietly(Array.from({ length: 7 }, (_, i) => `const value${i} = ${i};`));
            const answer = await drain(SUPABASE_URL, { batch_size: 3 });
            assert.equal(answer.status, 200, JSON.stringify(answer.body));
            const report = answer.body;
            assert.equal(report.worker, NAME);
            assert.equal(report.status, "drained");
            assert.deepEqual(
              [report.claimed, report.succeeded, report.failed, report.stale, report.batches],
              [7, 7, 0, 0, 3],
            );
            assert.ok(report.ms >= 0 && report.embed_ms >= 0 && report.embed_ms <= report.ms);
            for (const id of ids) assert.ok(await vectorOf(id));
            const [run] =
              await sql`select * from ai.worker_runs where worker = ${NAME} order by id desc limit 1`;
            assert.deepEqual([run.claimed, run.succeeded, run.failed], [7, 7, 0]);
            assert.equal(run.details.batches, 3);
            const empty = await drain();
            assert.deepEqual(
              [empty.body.claimed, empty.body.batches],
              [0, 0],
              "an empty queue is a cheap no-op",
            );
          });
        },
      );

      await t.step(
        "a vector computed for a text that changed meanwhile is refused and reported stale",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql); // so that the one job claimed below is ours
            const [id] = await insertQuietly(["function oldText(): number { return 1; }"]);
            const [job] = await sql`select job_id, claim_token::text, content, content_hash
                                    from ai.claim_embedding_jobs(1, interval '5 minutes')`;
            assert.equal(job?.content, "function oldText(): number { return 1; }");
            const oldVector = await embeddingOf(job.content);
            const next = "function newText(): string { return 'two'; }";
            await sql`update public.code_snippets set content = ${next} where id = ${id}`; // re-queues, voids the claim
            const [result] = await sql`select written, stale from ai.complete_embedding_jobs(${
              sql.json([{ ...job, embedding: oldVector }])
            })`;
            assert.deepEqual([result.written, result.stale], [0, 1]);
            assert.equal(await vectorOf(id), null, "the old text's vector was not written");
            await drain();
            assert.ok(cosine((await vectorOf(id))!, await embeddingOf(next)) > 0.9999);
          });
        },
      );

      await t.step(
        "a text changed with triggers off is caught by its hash: refused, queued again",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql);
            const [id] = await insertQuietly(["const hashed = 'before';"]);
            const [job] = await sql`select job_id, claim_token::text, content, content_hash
                                  from ai.claim_embedding_jobs(1, interval '5 minutes')`;
            assert.equal(job.content, "const hashed = 'before';");
            const next = "const hashed = 'after';";
            await sql.begin(async (tx) => {
              await tx`set local session_replication_role = replica`;
              await tx`update public.code_snippets set content = ${next} where id = ${id}`;
            });
            const [result] = await sql`select written, stale from ai.complete_embedding_jobs(${
              sql.json([{ ...job, embedding: await embeddingOf(job.content) }])
            })`;
            assert.deepEqual([result.written, result.stale], [0, 1]);
            const [queued] = await sql`select status, last_error from ai.embedding_jobs where row_id = ${id}`;
            assert.equal(queued.status, "pending");
            assert.match(queued.last_error, /text changed while it was being embedded/);
            await drain();
            assert.ok(cosine((await vectorOf(id))!, await embeddingOf(next)) > 0.9999);
          });
        },
      );

      await t.step(
        "a text changed while the worker embeds its batch is reported stale and re-embedded",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql);
            const texts = Array.from(
              { length: 3_000 },
              (_, i) =>
                `// snippet ${i}\n${"const value: number = compute(input, options) + offset; ".repeat(12)}`,
            );
            const ids = await insertQuietly(texts);
            const draining = drain(SUPABASE_URL, { batch_size: 500 });
            let changed: { id: string; text: string } | null = null;
            while (!changed) {
              // The next row whose job is claimed right now; changed only while that claim still holds.
              const [claimed] = await sql`
              select j.row_id from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
              where t.source = 'public.code_snippets'::regclass and j.status = 'processing'
                and j.row_id = any (${ids}) order by j.id desc limit 1`;
              if (!claimed) {
                const [{ left }] =
                  await sql`select count(*)::int as left from ai.embedding_jobs where row_id = any (${ids})`;
                assert.ok(left > 0, "the worker finished before a row could be changed mid-batch");
                await new Promise((r) => setTimeout(r, 5));
                continue;
              }
              const text = `const changedWhileEmbedding = "${claimed.row_id}";`;
              const rows = await sql`
              update public.code_snippets s set content = ${text} where s.id = ${claimed.row_id}
                and exists (select from ai.embedding_jobs j where j.row_id = s.id::text and j.status = 'processing')
              returning id`;
              if (rows.length === 1) changed = { id: claimed.row_id, text };
            }
            const report = (await draining).body;
            assert.ok(report.stale >= 1, `expected a stale write-back in ${JSON.stringify(report)}`);
            await embeddingsSettled(sql);
            const vector = (await vectorOf(changed.id))!;
            assert.ok(
              cosine(vector, await embeddingOf(changed.text)) > 0.9999,
              "the vector is the new text's",
            );
            const [{ missing }] = await sql`select count(*)::int as missing from public.code_snippets
                                          where id = any (${ids}) and embedding is null`;
            assert.equal(missing, 0);
            await sql`delete from public.code_snippets where id = any (${ids})`;
          });
        },
      );

      await t.step(
        "a drain works in short slices and wakes itself for the rest (hosted's CPU limit per request)",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql);
            const sliced = startTestGateway({ EMBED_SLICE_MS: "1", EMBED_BATCH_SIZE: "10" });
            try {
              const [{ since }] = await sql`select clock_timestamp() as since`;
              const ids = await insertQuietly(
                Array.from({ length: 60 }, (_, i) => `const sliced${i} = ${i};`),
              );
              const first = await drain(sliced.url);
              assert.equal(first.status, 200, JSON.stringify(first.body));
              assert.equal(first.body.claimed, 10, "one slice: one batch of 10, then the slice is over");
              assert.equal((first.body as unknown as { more: boolean }).more, true, "work was left");
              // Nobody calls the worker again: it wakes itself, slice after slice, until the queue is empty.
              await eventually(
                async () => {
                  const [{ missing }] = await sql`select count(*)::int as missing from public.code_snippets
                                                where id = any (${ids}) and embedding is null`;
                  return missing === 0;
                },
                "every row embedded by the worker's own follow-up slices",
                60_000,
              );
              const runs = await sql`select claimed, details from ai.worker_runs
                                     where worker = 'embed-worker' and started_at >= ${since} order by id`;
              assert.ok(runs.length >= 6, `${runs.length} slices for 60 rows in batches of 10`);
              assert.ok(runs.every((r) => r.claimed <= 10), JSON.stringify(runs));
              await sql`delete from public.code_snippets where id = any (${ids})`;
            } finally {
              await sliced.stop();
            }
          }, { triggers: false });
        },
      );

      await t.step(
        "a model that cannot load: retried, then failed, with the reason in ai.embedding_status",
        async () => {
          await withoutCronWakeups(sql, async () => {
            await embeddingsSettled(sql); // the broken worker takes whatever is ready: only our job
            await sql`create table public.scratch_embed (id bigint generated always as identity primary key,
                                                       body text, embedding extensions.vector(384))`;
            try {
              await sql`select ai.enable_embeddings('public.scratch_embed', 'body', 'embedding', max_attempts => 2)`;
              const [row] = await sql.begin(async (tx) => {
                await tx`select set_config('ai.embedding_worker', 'on', true)`;
                return await tx`insert into public.scratch_embed (body) values ('needs a model') returning id`;
              });
              const first = await drain(broken.url);
              assert.equal(first.status, 200, JSON.stringify(first.body));
              assert.deepEqual([first.body.claimed, first.body.succeeded, first.body.failed], [1, 0, 1]);
              const [job] = await sql`select status, attempts, last_error, run_after > now() as backing_off
                                    from ai.embedding_jobs where row_id = ${String(row.id)}`;
              assert.deepEqual([job.status, job.attempts, job.backing_off], ["pending", 1, true]);
              assert.match(job.last_error, /Embedding model "supabase-ai\/tiny-test-embedder"/);
              assert.match(job.last_error, /EMBEDDING_MODEL_DIR/);
              assert.equal((await drain(broken.url)).body.claimed, 0, "not retried before its backoff ends");

              await sql`update ai.embedding_jobs set run_after = now() where row_id = ${String(row.id)}`;
              const second = await drain(broken.url);
              assert.deepEqual([second.body.claimed, second.body.failed], [1, 1]);
              const [status] =
                await sql`select pending::int, failed::int, last_failure from ai.embedding_status
                                       where source = 'scratch_embed'`;
              assert.deepEqual([status.pending, status.failed], [0, 1]);
              assert.match(status.last_failure, /could not be loaded/);
              assert.match(status.last_failure, new RegExp(emptyModelDir));

              const [{ retried }] =
                await sql`select ai.retry_failed_embeddings('public.scratch_embed') as retried`;
              assert.equal(retried, 1);
              assert.equal((await drain()).body.succeeded, 1, "a working model finishes it");
              assert.ok(await vectorOf(String(row.id), "public.scratch_embed"));
            } finally {
              await sql`select ai.disable_embeddings('public.scratch_embed')`.catch(() => {});
              await sql`drop table if exists public.scratch_embed`;
            }
          });
        },
      );
    } finally {
      await broken.stop();
      await Deno.remove(emptyModelDir, { recursive: true });
      await sql.end();
    }
  },
});
