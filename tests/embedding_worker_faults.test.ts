// The embedding worker under faults: while a batch is worked on, its claims are renewed (a 1-second lease
// outlives a write-back held up for 3 seconds, and nobody else can claim those jobs), and a write-back whose
// connection is cut (the backend killed, as when Postgres restarts) is written again after reconnecting, not
// dropped to wait for the claims to expire.
//
// The worker is a gateway of its own (1-second lease, no lingering); pg_net's wake-ups go nowhere and pg_cron's
// embed-worker job is paused meanwhile, so only the calls here drain the queue.
import assert from "node:assert/strict";
import { call, embeddingsSettled, eventually, startTestGateway, withoutCronWakeups } from "./_functions.ts";
import { db, SERVICE_ROLE_KEY } from "./_stack.ts";

const sql = db();

Deno.test({
  name: "embed-worker: leases renewed while working; a write-back cut by a lost connection is retried",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const worker = startTestGateway({ EMBED_VISIBILITY_SECONDS: "1", EMBED_LINGER_MS: "0" });
    await embeddingsSettled(sql);
    // Only the worker called here drains: no cron or trigger wake-up, none still on its way, no drain lingering.
    try {
      await withoutCronWakeups(sql, async () => {
        const locker = db({ max: 1 });
        try {
          await sql`create schema if not exists faults`;
          await sql`create table faults.docs (id int primary key, body text, embedding extensions.vector(384))`;
          await sql`select ai.enable_embeddings('faults.docs', 'body')`;
          await sql`insert into faults.docs select g, 'fault document ' || g from generate_series(1, 20) g`;

          // A long transaction holds every row: the worker's write-back waits for it.
          const held = locker.begin(async (tx) => {
            await tx`select id from faults.docs for update`;
            await new Promise((r) => setTimeout(r, 3_000)); // 3 leases long
            // Meanwhile: the connection of the write-back is cut.
            const killed = await sql`
          select pg_terminate_backend(pid) as done from pg_stat_activity
          where application_name = 'supabase-ai' and query like '%complete_embedding_jobs%' and state = 'active'`;
            assert.ok(
              killed.length >= 1 && killed.every((k) => k.done),
              "a write-back was waiting, and was cut",
            );
          });
          const report = call<Record<string, number>>(worker.url, "embed-worker", {
            token: SERVICE_ROLE_KEY,
            body: { wait: true },
          });

          // While the write-back waits, another worker keeps claiming with a 1-second lease: it must get none.
          const stolen: string[] = [];
          const until = Date.now() + 2_500;
          await eventually(
            async () =>
              (await sql`select 1 from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
                               where t.source = 'faults.docs'::regclass and j.status = 'processing'`).length >
                0,
            "the worker's claim",
          );
          while (Date.now() < until) {
            const rows = await sql`
          select c.row_id from ai.claim_embedding_jobs(1000, interval '1 second') c
          join ai.embedding_targets t on t.id = c.target_id where t.source = 'faults.docs'::regclass`;
            stolen.push(...rows.map((r) => r.row_id));
            await new Promise((r) => setTimeout(r, 100));
          }
          await held;
          const answer = await report;
          assert.deepEqual(stolen, [], "nobody took over the claims being worked on");
          assert.equal(answer.status, 200, JSON.stringify(answer.body));
          assert.equal(answer.body.succeeded, 20, JSON.stringify(answer.body));
          assert.equal(answer.body.error, undefined, JSON.stringify(answer.body));
          const [{ embedded }] = await sql`select count(embedding)::int as embedded from faults.docs`;
          assert.equal(embedded, 20, "every vector was written after reconnecting");
          const [{ left }] = await sql`select count(*)::int as left from ai.embedding_jobs j
                                   join ai.embedding_targets t on t.id = j.target_id
                                   where t.source = 'faults.docs'::regclass`;
          assert.equal(left, 0, "no job is left to wait for its claim to expire");
        } finally {
          await locker.end();
          await sql`select ai.disable_embeddings('faults.docs')`.catch(() => {});
          await sql`drop schema if exists faults cascade`;
        }
      }, { triggers: false });
    } finally {
      await worker.stop();
      await sql.end();
    }
  },
});
