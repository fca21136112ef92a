-- Automatic embeddings (migration 20261125150100): registration and its validation, the triggers that queue
-- and clear, the worker API (claim, complete with the stale-write guard, fail with backoff and dead letters,
-- reclaim after the visibility timeout), disabling, and who may do what.
--
-- Everything runs in one transaction that is rolled back. now() is the transaction's start time throughout, so
-- backoffs and visibility deadlines are compared exactly and "time passing" is simulated by moving run_after
-- into the past.
--
-- The stack's embed-worker may be embedding the seed's knowledge base while this file runs. So that its jobs
-- do not mix with this file's, every job already queued is deferred (run_after 'infinity') inside this
-- transaction, and never by waiting for a row the worker holds (skip locked): a job the worker holds is
-- already claimed (processing, not ready), and waiting for it could deadlock with the worker's write-back.
begin;
select plan(103);

update ai.embedding_jobs set run_after = 'infinity'
where id in (select id from ai.embedding_jobs for update skip locked);

-- Fixtures ---------------------------------------------------------------------------------------------------
create schema pgtap_embed;
create table pgtap_embed.docs (
  id int primary key,
  title text,
  body text,
  note text,
  embedding extensions.vector(384)
);
create view pgtap_embed.docs_view as select * from pgtap_embed.docs;
create table pgtap_embed.no_pk (body text, embedding extensions.vector(384));
create table pgtap_embed.composite_pk (a int, b int, body text, embedding extensions.vector(384), primary key (a, b));
create table pgtap_embed.existing (id text primary key, body text, embedding extensions.vector(384));
insert into pgtap_embed.existing values ('e1', 'one', null), ('e2', 'two', null), ('e3', 'three', null),
  ('e4', null, null), ('e5', 'five', array_fill(0.5::real, array[384])::extensions.vector);

-- A 384-dimension vector (and its JSON form, as the worker sends it) filled with one value.
create function pg_temp.vec(fill real) returns extensions.vector
language sql immutable as $$ select array_fill(fill, array[384])::extensions.vector $$;
create function pg_temp.vec_json(fill real) returns jsonb
language sql immutable as $$ select to_jsonb(array_fill(fill, array[384])) $$;
-- The queue entry of a row of pgtap_embed.docs.
create function pg_temp.job(doc_id int) returns setof ai.embedding_jobs
language sql stable as $$
  select j.* from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
  where t.source = 'pgtap_embed.docs'::regclass and j.row_id = $1::text
$$;
-- The worker's results array for the claimed jobs of the given rows: every result carries the claim's
-- token and hash and a vector filled with `fill`.
create function pg_temp.results(claims regclass, row_ids text[], fill real) returns jsonb
language plpgsql as $$
declare
  out jsonb;
begin
  execute format(
    'select jsonb_agg(jsonb_build_object(''job_id'', job_id, ''claim_token'', claim_token,
                                        ''content_hash'', content_hash, ''embedding'', $2))
     from %s where row_id = any ($1)', claims)
  into out using row_ids, case when fill is null then 'null'::jsonb else pg_temp.vec_json(fill) end;
  return out;
end
$$;

insert into auth.users (id, email) values
  ('a0000000-0000-4000-8000-00000000000a', 'embed-a@example.test');

-- Registration: validation fails early and says what is wrong ------------------------------------------------
select throws_ok($$select ai.enable_embeddings('pgtap_embed.docs_view', 'body')$$,
  'P0001', 'pgtap_embed.docs_view is not a table', 'A view cannot be registered.');
select throws_ok($$select ai.enable_embeddings('pgtap_embed.docs', 'body', 'missing_column')$$,
  'P0001', 'table pgtap_embed.docs has no column missing_column', 'A missing embedding column is named.');
select throws_ok($$select ai.enable_embeddings('pgtap_embed.docs', 'body', 'note')$$,
  'P0001', 'column pgtap_embed.docs.note is text, not a vector', 'An embedding column that is not a vector is refused.');
select throws_ok($$select ai.enable_embeddings('pgtap_embed.no_pk', 'body')$$,
  'P0001', 'table pgtap_embed.no_pk needs a single-column primary key for automatic embeddings',
  'A table without a primary key is refused.');
select throws_ok($$select ai.enable_embeddings('pgtap_embed.composite_pk', 'body')$$,
  'P0001', 'table pgtap_embed.composite_pk needs a single-column primary key for automatic embeddings',
  'A table with a composite primary key is refused.');
select throws_like($$select ai.enable_embeddings('pgtap_embed.docs', 'body || no_such_column')$$,
  'content expression "body || no_such_column" is not valid for table pgtap_embed.docs:%',
  'A content expression that does not evaluate against the table is refused with the reason.');
select is_empty($$select from ai.embedding_targets where source::text like 'pgtap_embed.%'$$,
  'A refused registration leaves nothing behind.');

-- Registration ------------------------------------------------------------------------------------------------
select isnt(ai.enable_embeddings('pgtap_embed.docs', $$coalesce(title || E'\n\n', '') || body$$, 'embedding', 3),
  null, 'enable_embeddings registers a table and returns the target id.');
select set_eq(
  $$select tgname::text from pg_trigger where tgrelid = 'pgtap_embed.docs'::regclass and not tgisinternal$$,
  array['ai_embed_embedding_update', 'ai_embed_embedding_insert', 'ai_embed_embedding_delete', 'ai_embed_embedding_wake'],
  'Registration creates the update, insert, delete and wake triggers.');
select is(ai.enable_embeddings('pgtap_embed.docs', $$coalesce(title || E'\n\n', '') || body$$, 'embedding', 3),
  (select id from ai.embedding_targets where source = 'pgtap_embed.docs'::regclass),
  'Calling enable_embeddings again with the same arguments returns the same target.');
select is((select count(*)::int from pg_trigger where tgrelid = 'pgtap_embed.docs'::regclass and not tgisinternal), 4,
  'The repeated call creates no second set of triggers.');
select throws_like($$select ai.enable_embeddings('pgtap_embed.docs', 'body')$$,
  'embeddings are already enabled for pgtap_embed.docs.embedding with content %',
  'Registering the same column with other content is refused.');
select throws_like(
  $$select ai.enable_embeddings('pgtap_embed.docs', $e$coalesce(title || E'\n\n', '') || body$e$, 'embedding', 5)$$,
  'embeddings are already enabled for pgtap_embed.docs.embedding%',
  'Registering the same column with other settings is refused.');

-- Insert --------------------------------------------------------------------------------------------------------
insert into pgtap_embed.docs (id, title, body, embedding) values
  (1, 'One', 'first body', null),
  (2, null, 'second body', null),
  (3, 'Three', null, null),                             -- no text: nothing to embed
  (4, 'Four', 'fourth body', pg_temp.vec(0.4)),         -- inserted with its vector
  (5, 'Five', 'fifth body', pg_temp.vec(0.5)),
  (6, 'Six', 'sixth body', null);

select set_eq($$select row_id from pg_temp.job(1) union all select row_id from pg_temp.job(2)
               union all select row_id from pg_temp.job(3) union all select row_id from pg_temp.job(4)
               union all select row_id from pg_temp.job(5) union all select row_id from pg_temp.job(6)$$,
  array['1', '2', '6'], 'An insert queues one job per row with text and no vector.');
select is((select count(*)::int from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
           where t.source = 'pgtap_embed.docs'::regclass), 3,
  'No job for a row without text nor for a row inserted with its vector.');
select is((select count(*)::int
           from (select * from pg_temp.job(1) union all select * from pg_temp.job(2) union all select * from pg_temp.job(6)) j
           where status = 'pending' and attempts = 0 and claim_token is null and run_after = now()), 3,
  'New jobs are pending, unattempted and ready now.');

-- Update ------------------------------------------------------------------------------------------------------
update pgtap_embed.docs set body = 'fourth body, edited' where id = 4;
select is((select embedding from pgtap_embed.docs where id = 4), null,
  'Changing the text clears the stale vector in the same statement.');
select results_eq($$select status, attempts from pg_temp.job(4)$$, $$values ('pending', 0)$$,
  'Changing the text queues the row.');

update pgtap_embed.docs set note = 'only a note' where id = 5;
update pgtap_embed.docs set title = 'Five' where id = 5;
select is((select embedding from pgtap_embed.docs where id = 5), pg_temp.vec(0.5),
  'An update that leaves the text unchanged keeps the vector.');
select is_empty($$select from pg_temp.job(5)$$, 'An update that leaves the text unchanged queues nothing.');

update pgtap_embed.docs set embedding = null where id = 5;
select results_eq($$select status from pg_temp.job(5)$$, $$values ('pending')$$,
  'Clearing the vector of unchanged text queues the row for a fresh vector.');
delete from ai.embedding_jobs j using pg_temp.job(5) k where j.id = k.id;
update pgtap_embed.docs set embedding = pg_temp.vec(0.5) where id = 5;
select is_empty($$select from pg_temp.job(5)$$, 'Setting a vector on unchanged text queues nothing.');

update pgtap_embed.docs set body = 'fifth body, edited', embedding = pg_temp.vec(0.55) where id = 5;
select is((select embedding from pgtap_embed.docs where id = 5), pg_temp.vec(0.55),
  'Setting the text and the vector together keeps the given vector.');
select is_empty($$select from pg_temp.job(5)$$, 'Setting the text and the vector together queues nothing.');

update pgtap_embed.docs set body = 'fifth body, again', embedding = null where id = 5;
select results_eq($$select status from pg_temp.job(5)$$, $$values ('pending')$$,
  'Changing the text while clearing the vector explicitly queues the row.');

update pgtap_embed.docs set body = null where id = 2;
select is_empty($$select from pg_temp.job(2)$$, 'A row whose text becomes null has nothing to embed: its job goes.');

update pgtap_embed.docs set title = 'One!' where id = 1;
select is((select count(*)::int from pg_temp.job(1)), 1,
  'Changing another column the expression reads requeues the row, still as one job.');

-- Delete ------------------------------------------------------------------------------------------------------
delete from pgtap_embed.docs where id = 6;
select is_empty($$select from pg_temp.job(6)$$, 'Deleting a row removes its pending job.');

-- Backfill and disable on a table with rows ----------------------------------------------------------------------
select ai.enable_embeddings('pgtap_embed.existing', 'body');
select set_eq($$select j.row_id from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
               where t.source = 'pgtap_embed.existing'::regclass$$,
  array['e1', 'e2', 'e3'], 'Registering a table with rows queues every row with text and no vector (backfill).');

select ai.disable_embeddings('pgtap_embed.existing');
select is_empty($$select from pg_trigger where tgrelid = 'pgtap_embed.existing'::regclass and not tgisinternal$$,
  'disable_embeddings drops the triggers.');
select is_empty($$select from ai.embedding_jobs where row_id like 'e_'$$, 'disable_embeddings drops the queued jobs.');
select is_empty($$select from ai.embedding_targets where source = 'pgtap_embed.existing'::regclass$$,
  'disable_embeddings removes the registration.');
insert into pgtap_embed.existing values ('e6', 'six', null);
select is_empty($$select from ai.embedding_jobs where row_id = 'e6'$$, 'After disabling, inserts queue nothing.');
select throws_ok($$select ai.disable_embeddings('pgtap_embed.existing')$$,
  'P0001', 'embeddings are not enabled for pgtap_embed.existing.embedding', 'Disabling twice says it is not enabled.');

-- Claim -----------------------------------------------------------------------------------------------------------
create temp table claim1 as select * from ai.claim_embedding_jobs(10);
select set_eq($$select row_id from claim1$$, array['1', '4', '5'], 'A claim returns every ready job.');
select results_eq($$select row_id, content, content_hash from claim1 where row_id in ('1', '4') order by row_id$$,
  $$values ('1', E'One!\n\nfirst body', md5(E'One!\n\nfirst body')),
           ('4', E'Four\n\nfourth body, edited', md5(E'Four\n\nfourth body, edited'))$$,
  'A claim returns each row''s current text and its md5 hash.');
select is((select count(*)::int from ai.embedding_jobs j join claim1 c on c.job_id = j.id
           where j.status = 'processing' and j.claim_token = c.claim_token and j.attempts = 1
             and j.run_after = now() + interval '5 minutes'), 3,
  'Claimed jobs are processing under their claim token until the visibility deadline, attempt 1.');
select is((select count(distinct claim_token)::int from claim1 where claim_token is not null), 3,
  'Every claimed job has its own claim token.');
select is_empty($$select * from ai.claim_embedding_jobs(10)$$, 'Jobs held by a live claim are not claimed again.');
select throws_ok($$select * from ai.claim_embedding_jobs(0)$$, 'P0001', 'batch_size must be between 1 and 1000, got 0',
  'A batch size out of range is refused.');

-- Complete ----------------------------------------------------------------------------------------------------
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim1', array['1'], 0.1))$$,
  $$values (1, 0)$$, 'complete_embedding_jobs writes a vector and says so.');
select is((select embedding from pgtap_embed.docs where id = 1), pg_temp.vec(0.1), 'The vector is in the row.');
select is_empty($$select from pg_temp.job(1)$$, 'A completed job leaves the queue.');

-- The stale-write guard: the text changes while the worker embeds the old text.
update pgtap_embed.docs set body = 'fourth body, edited again' where id = 4;
select results_eq($$select status, claim_token from pg_temp.job(4)$$, $$values ('pending', null::uuid)$$,
  'A text change during a claim re-queues the job and voids the claim.');
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim1', array['4'], 0.4))$$,
  $$values (0, 1)$$, 'Completing with the old text''s hash writes nothing and reports it stale.');
select is((select embedding from pgtap_embed.docs where id = 4), null, 'No stale vector was written.');
select results_eq($$select status, run_after <= now() from pg_temp.job(4)$$, $$values ('pending', true)$$,
  'The job is still pending and ready for the new text.');

-- A claim token that does not hold the job.
select is((select written from ai.complete_embedding_jobs(jsonb_build_array(jsonb_build_object(
            'job_id', (select job_id from claim1 where row_id = '5'), 'claim_token', gen_random_uuid(),
            'content_hash', (select content_hash from claim1 where row_id = '5'), 'embedding', pg_temp.vec_json(0.9))))),
  0, 'Completing with a wrong claim token writes nothing.');
select results_eq($$select embedding is null, status, claim_token from pg_temp.job(5) join pgtap_embed.docs d on d.id = 5$$,
  $$select true, 'processing', claim_token from claim1 where row_id = '5'$$,
  'The job stays with the claim that holds it.');
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim1', array['5'], 0.5))$$,
  $$values (1, 0)$$, 'The holder of the claim completes it.');

-- The hash also catches a text changed with the triggers off (no re-queue, the claim still holds the job).
create temp table claim2 as select * from ai.claim_embedding_jobs(10);
alter table pgtap_embed.docs disable trigger ai_embed_embedding_update;
update pgtap_embed.docs set body = 'changed behind the trigger''s back' where id = 4;
alter table pgtap_embed.docs enable trigger ai_embed_embedding_update;
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim2', array['4'], 0.4))$$,
  $$values (0, 1)$$, 'A text changed without its trigger is caught by the content hash.');
select results_eq($$select status, attempts, claim_token, last_error from pg_temp.job(4)$$,
  $$values ('pending', 0, null::uuid, 'the text changed while it was being embedded; queued again')$$,
  'Such a job is queued again with the reason.');

-- A job whose row is gone comes back with no content; a null embedding finishes it.
insert into ai.embedding_jobs (target_id, row_id)
select id, '999' from ai.embedding_targets where source = 'pgtap_embed.docs'::regclass;
create temp table claim3 as select * from ai.claim_embedding_jobs(10);
select results_eq($$select content, content_hash from claim3 where row_id = '999'$$, $$values (null::text, null::text)$$,
  'A job whose row is gone is returned with content null.');
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim3', array['999'], null))$$,
  $$values (0, 0)$$, 'Completing it with a null embedding writes nothing and is not stale.');
select is_empty($$select from pg_temp.job(999)$$, 'The null completion removes the job.');

-- Failures: backoff, dead letter, retry ------------------------------------------------------------------------
select is(ai.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
    'job_id', (select job_id from claim3 where row_id = '4'), 'claim_token', gen_random_uuid(), 'error', 'forged'))),
  0, 'A failure reported without the claim token changes nothing.');
select is(ai.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
    'job_id', (select job_id from claim3 where row_id = '4'), 'claim_token', (select claim_token from claim3 where row_id = '4'),
    'error', 'model timed out (1)'))),
  1, 'fail_embedding_jobs records a failure.');
select results_eq($$select status, attempts, run_after - now(), last_error, claim_token from pg_temp.job(4)$$,
  $$values ('pending', 1, interval '10 seconds', 'model timed out (1)', null::uuid)$$,
  'The first failure is retried after 10 seconds, with its error kept.');
select is_empty($$select from ai.claim_embedding_jobs(10) where row_id = '4'$$,
  'A job in backoff is not claimed before its time.');

update ai.embedding_jobs set run_after = now() - interval '1 second' where id = (select id from pg_temp.job(4));
create temp table claim4 as select * from ai.claim_embedding_jobs(10);
select ai.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
  'job_id', job_id, 'claim_token', claim_token, 'error', 'model timed out (2)'))) from claim4 where row_id = '4';
select results_eq($$select status, attempts, run_after - now() from pg_temp.job(4)$$,
  $$values ('pending', 2, interval '20 seconds')$$, 'The second failure backs off twice as long.');

update ai.embedding_jobs set run_after = now() - interval '1 second' where id = (select id from pg_temp.job(4));
create temp table claim5 as select * from ai.claim_embedding_jobs(10);
select ai.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
  'job_id', job_id, 'claim_token', claim_token, 'error', 'model timed out (3)'))) from claim5 where row_id = '4';
select results_eq($$select status, attempts, last_error from pg_temp.job(4)$$,
  $$values ('failed', 3, 'model timed out (3)')$$, 'After max_attempts the job is dead-lettered with its last error.');
select results_eq(
  $$select pending, in_flight, failed, last_failure from ai.embedding_status where source = 'pgtap_embed.docs'$$,
  $$values (0::bigint, 0::bigint, 1::bigint, 'model timed out (3)')$$,
  'ai.embedding_status shows the dead letter and its last failure.');
update ai.embedding_jobs set run_after = now() - interval '1 hour' where id = (select id from pg_temp.job(4));
select is_empty($$select from ai.claim_embedding_jobs(10) where row_id = '4'$$, 'A dead letter is never claimed.');
select is(ai.retry_failed_embeddings('pgtap_embed.docs'), 1, 'retry_failed_embeddings puts the dead letter back.');
select results_eq($$select status, attempts, claim_token, run_after from pg_temp.job(4)$$,
  $$values ('pending', 0, null::uuid, now())$$, 'A retried job is pending with fresh attempts, ready now.');

-- Reclaim after the visibility timeout -------------------------------------------------------------------------
create temp table claim6 as select * from ai.claim_embedding_jobs(10, '30 seconds');
select results_eq($$select status, run_after - now() from pg_temp.job(4)$$, $$values ('processing', interval '30 seconds')$$,
  'The visibility timeout sets the claim''s deadline.');
-- The worker died: the deadline passes.
update ai.embedding_jobs set run_after = now() - interval '1 millisecond' where id = (select id from pg_temp.job(4));
select is((select expired_claims from ai.embedding_status where source = 'pgtap_embed.docs'), 1::bigint,
  'ai.embedding_status counts the expired claim.');
create temp table claim7 as select * from ai.claim_embedding_jobs(10);
select results_eq($$select job_id from claim7 where row_id = '4'$$, $$select job_id from claim6 where row_id = '4'$$,
  'A claim past its visibility deadline is claimed again.');
select isnt((select claim_token from claim7 where row_id = '4'), (select claim_token from claim6 where row_id = '4'),
  'The new claim has a new token.');
select is((select attempts from pg_temp.job(4)), 2, 'The reclaim counts as another attempt.');
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim6', array['4'], 0.6))$$,
  $$values (0, 1)$$, 'The expired claim''s late completion is ignored.');
select results_eq($$select status, claim_token from pg_temp.job(4)$$,
  $$select 'processing', claim_token from claim7 where row_id = '4'$$, 'The job stays with the new claim.');
select results_eq($$select written, stale from ai.complete_embedding_jobs(pg_temp.results('claim7', array['4'], 0.7))$$,
  $$values (1, 0)$$, 'The new claim completes it.');
select is((select embedding from pgtap_embed.docs where id = 4), pg_temp.vec(0.7), 'with the new claim''s vector.');

-- An expired claim that used its last attempt is a dead letter.
insert into pgtap_embed.docs (id, title, body) values (7, 'Seven', 'seventh body');
update ai.embedding_jobs
set status = 'processing', attempts = 3, claim_token = gen_random_uuid(), run_after = now() - interval '1 second',
    last_error = 'model timed out'
where id = (select id from pg_temp.job(7));
select is_empty($$select from ai.claim_embedding_jobs(10) where row_id = '7'$$,
  'An expired claim that used its last attempt is not handed out again.');
select results_eq($$select status, claim_token, last_error from pg_temp.job(7)$$,
  $$values ('failed', null::uuid, 'no result within the visibility timeout after 3 attempts; last error: model timed out')$$,
  'It is dead-lettered with the reason.');

-- A registered table that is dropped must not break the queue of the others.
create table pgtap_embed.doomed (id int primary key, body text, embedding extensions.vector(384));
select ai.enable_embeddings('pgtap_embed.doomed', 'body');
insert into pgtap_embed.doomed values (1, 'soon gone', null);
drop table pgtap_embed.doomed;
insert into pgtap_embed.docs (id, title, body) values (8, 'Eight', 'eighth body');
select results_eq($$select row_id from ai.claim_embedding_jobs(10)$$, $$values ('8')$$,
  'Dropping a registered table does not break claims for the other tables.');
select is((select count(*)::int from ai.embedding_targets where source::text !~ '[a-z]'), 0,
  'The dropped table''s registration and jobs are cleaned up.');

-- Users' writes queue jobs through the triggers though users cannot see the queue ---------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
insert into public.code_snippets (id, content) values ('5a000000-0000-4000-8000-000000000001', 'const x: number = 1;');
reset role;
select results_eq($$select j.status from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
                    where t.source = 'public.code_snippets'::regclass and j.row_id = '5a000000-0000-4000-8000-000000000001'$$,
  $$values ('pending')$$, 'A signed-in user''s insert queues a job.');
set local role service_role;
insert into public.code_snippets (id, content) values ('5a000000-0000-4000-8000-000000000002', 'let y = 2;');
reset role;
select results_eq($$select j.status from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
                    where t.source = 'public.code_snippets'::regclass and j.row_id = '5a000000-0000-4000-8000-000000000002'$$,
  $$values ('pending')$$, 'A service_role insert queues a job.');

-- Roles ---------------------------------------------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a0000000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
select throws_ok($$select * from ai.claim_embedding_jobs(10)$$, '42501', null, 'authenticated cannot claim jobs.');
select throws_ok($$select * from ai.complete_embedding_jobs('[]')$$, '42501', null, 'authenticated cannot complete jobs.');
select throws_ok($$select ai.fail_embedding_jobs('[]')$$, '42501', null, 'authenticated cannot fail jobs.');
select throws_ok($$select ai.retry_failed_embeddings()$$, '42501', null, 'authenticated cannot retry dead letters.');
select throws_ok($$select ai.enable_embeddings('public.code_snippets', 'content')$$, '42501', null,
  'authenticated cannot register tables.');
select throws_ok($$select * from ai.embedding_jobs$$, '42501', null, 'authenticated cannot read the queue.');
select throws_ok($$select * from ai.embedding_targets$$, '42501', null, 'authenticated cannot read the registry.');
select throws_ok($$select * from ai.embedding_status$$, '42501', null, 'authenticated cannot read the status view.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select throws_ok($$select * from ai.claim_embedding_jobs(10)$$, '42501', null, 'anon cannot claim jobs.');
select throws_ok($$select * from ai.complete_embedding_jobs('[]')$$, '42501', null, 'anon cannot complete jobs.');
select throws_ok($$select * from ai.embedding_jobs$$, '42501', null, 'anon cannot read the queue.');
select throws_ok($$select * from ai.embedding_status$$, '42501', null, 'anon cannot read the status view.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select lives_ok($$select * from ai.claim_embedding_jobs(1)$$, 'service_role (the worker) can claim jobs.');
select lives_ok($$select * from ai.complete_embedding_jobs('[]')$$, 'service_role can complete jobs.');
select lives_ok($$select ai.fail_embedding_jobs('[]')$$, 'service_role can fail jobs.');
select isnt_empty($$select * from ai.embedding_status$$, 'service_role can read the status view.');
select isnt_empty($$select * from ai.embedding_jobs$$, 'service_role can read the queue.');
select throws_ok($$select ai.enable_embeddings('public.code_snippets', 'content')$$, '42501', null,
  'service_role cannot register tables (only the database owner can).');
select throws_ok($$select ai.disable_embeddings('public.code_snippets')$$, '42501', null,
  'service_role cannot unregister tables.');
reset role;

-- Disable -------------------------------------------------------------------------------------------------------
select ai.disable_embeddings('pgtap_embed.docs');
select is_empty($$select from pg_trigger where tgrelid = 'pgtap_embed.docs'::regclass and not tgisinternal$$,
  'Disabling drops every trigger of the table.');
select is_empty($$select from ai.embedding_jobs j where not exists (select from ai.embedding_targets t where t.id = j.target_id)$$,
  'Disabling drops the table''s jobs.');
insert into pgtap_embed.docs (id, title, body) values (9, 'Nine', 'ninth body');
update pgtap_embed.docs set body = 'fifth body, edited after disabling' where id = 5;
select is((select embedding from pgtap_embed.docs where id = 5), pg_temp.vec(0.5),
  'After disabling, a text change no longer clears the vector.');
select is((select count(*)::int from ai.embedding_jobs where row_id in ('5', '9')), 0,
  'After disabling, writes queue nothing.');

select * from finish();
rollback;
