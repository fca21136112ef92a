-- Two claimers never get the same job: ai.claim_embedding_jobs and ai.claim_typescript_errors take rows with
-- `for update skip locked`, so a second session claiming while the first still holds its claim (an open
-- transaction) gets other rows, and does not wait for the first.
--
-- How this is tested honestly with one pgTAP session: a second connection is opened with dblink. That session
-- cannot see rows this test's transaction inserts (they are uncommitted), so the data both sessions claim is
-- prepared and COMMITTED by the second session first: a scratch table registered for embeddings (its 10 rows
-- queued by the backfill, which wakes no worker) and 6 pending TypeScript errors, all dated a day back so that
-- they are the oldest work and therefore the first claimed. The second session then opens a transaction and
-- claims; this session claims while that transaction is still open; the results must be disjoint and together
-- cover every prepared row. Claims of this session are rolled back with the test; the second session's with
-- its transaction. The committed preparation is removed after the test's rollback, at the end of this file
-- (it cannot be removed inside the test's transaction, which holds row locks on it).
--
-- A third claimer would spoil the counts: the stack's own embed-worker, which claims every ready job while it
-- drains (it may still be embedding the seed's knowledge base when this file starts) and keeps polling an
-- empty queue for EMBED_LINGER_MS (3 s by default) after each wake-up. So the test first waits until that
-- worker is done: nothing in flight, nothing ready (or, without a worker, ready jobs nobody takes), and more
-- than 5 s since the last wake-up recorded in ai.worker_wakeups; then it keeps clear of the minute boundary
-- where pg_cron's wake-ups fire. The preparation wakes no worker itself (a backfill and plain inserts), and
-- the prepared rows are claimed within a second.
begin;
select plan(16);
set local lock_timeout = '5s';  -- a claim that waited for the other session's locks would fail, not hang

do $$
declare
  deadline timestamptz := clock_timestamp() + interval '30 seconds';
  state text;
  previous text;
  unchanged_since timestamptz := clock_timestamp();
begin
  -- (clock_timestamp(), not now(): now() stands still in this transaction)
  loop
    select string_agg(id || status || attempts, ',' order by id) into state
    from ai.embedding_jobs where status = 'processing' or run_after <= clock_timestamp();
    if state is distinct from previous then
      previous := state;
      unchanged_since := clock_timestamp();
    end if;
    exit when clock_timestamp() > deadline
      or (clock_timestamp() > (select last_wake from ai.worker_wakeups where worker = 'embed-worker') + interval '5 seconds'
          and not exists (select from ai.embedding_jobs where status = 'processing' and run_after > clock_timestamp())
          and (state is null or clock_timestamp() - unchanged_since > interval '3 seconds'));
    perform pg_sleep(0.2);
  end loop;
  while extract(second from clock_timestamp()) >= 57 or extract(second from clock_timestamp()) < 1 loop
    perform pg_sleep(0.25);
  end loop;
end
$$;

create extension if not exists dblink with schema extensions;

-- The second session: over the server's Unix socket (trusted locally), or over TCP with the local password.
do $$
begin
  begin
    perform extensions.dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
      split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), current_database(),
      current_user));
  exception when others then
    perform extensions.dblink_connect('other', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
      current_setting('port'), current_database()));
  end;
end
$$;
select extensions.dblink_exec('other', $$set lock_timeout = '5s'$$);

-- Preparation, committed by the second session (one implicit transaction). A run that died half-way may have
-- left its preparation behind: remove it first.
select extensions.dblink_exec('other', $prep$
  delete from public.typescript_errors where file_path like 'pgtap_claims/%';
  select ai.disable_embeddings(t.source, t.embedding_column) from ai.embedding_targets t
  where t.source::text = 'pgtap_claims.docs';
  drop schema if exists pgtap_claims cascade;

  create schema pgtap_claims;
  create table pgtap_claims.docs (id int primary key, body text, embedding extensions.vector(384));
  insert into pgtap_claims.docs select g, 'document ' || g, null from generate_series(1, 10) g;
  select ai.enable_embeddings('pgtap_claims.docs', 'body');
  update ai.embedding_jobs j set run_after = now() - interval '1 day'
  from ai.embedding_targets t where t.id = j.target_id and t.source = 'pgtap_claims.docs'::regclass;

  insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, created_at, run_after)
  select 'pgtap_claims/' || g || '.ts', 'TS2322', 'Type ''string'' is not assignable to type ''number''.',
         'const n: number = "' || g || '";', now() - interval '1 day' + g * interval '1 second',
         now() - interval '1 day' + g * interval '1 second'
  from generate_series(1, 6) g;
$prep$);

select is((select count(*)::int from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
           where t.source = 'pgtap_claims.docs'::regclass and j.status = 'pending'), 10,
  'The other session''s 10 embedding jobs are committed and visible here.');
select is((select count(*)::int from public.typescript_errors where file_path like 'pgtap_claims/%' and status = 'pending'), 6,
  'The other session''s 6 TypeScript errors are committed and visible here.');

-- Embedding jobs ------------------------------------------------------------------------------------------------
select extensions.dblink_exec('other', 'begin');
create temp table other_jobs as
select * from extensions.dblink('other', 'select job_id, row_id, claim_token from ai.claim_embedding_jobs(5)')
  as t(job_id bigint, row_id text, claim_token uuid);
create temp table my_jobs as select job_id, row_id, claim_token from ai.claim_embedding_jobs(5);

select is((select count(*)::int from other_jobs), 5, 'The other session claims 5 jobs and keeps its transaction open.');
select is((select count(*)::int from my_jobs), 5, 'This session claims 5 jobs meanwhile, without waiting.');
select is_empty($$select job_id from other_jobs intersect select job_id from my_jobs$$,
  'No embedding job is claimed by both sessions.');
select results_eq($$select row_id::int from (select row_id from other_jobs union all select row_id from my_jobs) r order by 1$$,
  $$select generate_series(1, 10)$$, 'Together they claimed every prepared job exactly once.');
select is_empty($$select from ai.claim_embedding_jobs(1000) c
                  where c.job_id in (select job_id from other_jobs union all select job_id from my_jobs)$$,
  'A third claim gets none of the jobs either session holds.');

select extensions.dblink_exec('other', 'rollback');
select set_eq($$select c.job_id from ai.claim_embedding_jobs(1000) c join other_jobs o on o.job_id = c.job_id$$,
  $$select job_id from other_jobs$$, 'When the other session rolls back, its jobs can be claimed again.');

-- TypeScript errors ---------------------------------------------------------------------------------------------
select extensions.dblink_exec('other', 'begin');
create temp table other_errors as
select * from extensions.dblink('other', 'select id, claim_token from ai.claim_typescript_errors(3)')
  as t(id uuid, claim_token uuid);
create temp table my_errors as select id, claim_token from ai.claim_typescript_errors(3);

select is((select count(*)::int from other_errors), 3, 'The other session claims 3 TypeScript errors and keeps its transaction open.');
select is((select count(*)::int from my_errors), 3, 'This session claims 3 TypeScript errors meanwhile, without waiting.');
select is_empty($$select id from other_errors intersect select id from my_errors$$,
  'No TypeScript error is claimed by both sessions.');
select set_eq($$select id from other_errors union all select id from my_errors$$,
  $$select id from public.typescript_errors where file_path like 'pgtap_claims/%'$$,
  'Together they claimed every prepared error exactly once.');
select is((select count(distinct claim_token)::int from other_errors) + (select count(distinct claim_token)::int from my_errors), 2,
  'Each claim hands out one claim token for its batch.');
select isnt((select min(claim_token::text) from other_errors), (select min(claim_token::text) from my_errors),
  'The two claims have different tokens.');
select is_empty($$select from ai.claim_typescript_errors(500) c
                  where c.id in (select id from other_errors union all select id from my_errors)$$,
  'A third claim gets none of the errors either session holds.');

select extensions.dblink_exec('other', 'rollback');
select set_eq($$select c.id from ai.claim_typescript_errors(500) c join other_errors o on o.id = c.id$$,
  $$select id from other_errors$$, 'When the other session rolls back, its errors can be claimed again.');

select extensions.dblink_disconnect('other');

select * from finish();
rollback;

-- Remove the second session's committed preparation (outside the test: it is not a test).
set client_min_messages = warning;
delete from public.typescript_errors where file_path like 'pgtap_claims/%';
select ai.disable_embeddings('pgtap_claims.docs');
drop schema pgtap_claims cascade;
