-- Waking the workers (migration 20261125150200): ai.wake_embedding_worker (pg_cron's embed-worker job) and the
-- statement trigger on registered tables send one pg_net request to /functions/v1/embed-worker with the
-- service key from Vault when there is work, and nothing when there is none; a missing Vault secret is an
-- error where pg_cron can show it, never a failed user insert. Also the cron schedule and ai.housekeeping().
--
-- The queue must look empty to this transaction. The stack's embed-worker may still be embedding the seed when
-- this file starts, so the test first waits until it is done (nothing in flight, nothing ready or, without a
-- worker, ready jobs nobody takes; and more than 5 s since the last wake-up, after which the worker stops
-- polling: EMBED_LINGER_MS, 3 s by default), then defers what is left (failed jobs, future retries) inside the
-- transaction, skipping rows a worker holds rather than waiting for them. Requests are counted from the last
-- request id seen at that point: no one else queues any while the queue is idle and this file's jobs are
-- uncommitted. Vault secrets are "removed" by renaming them inside the transaction.
begin;
select plan(31);

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
end
$$;
update ai.embedding_jobs set run_after = 'infinity'
where id in (select id from ai.embedding_jobs for update skip locked);

create temp table request_baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
create function pg_temp.requests() returns setof net.http_request_queue
language sql stable as $$ select * from net.http_request_queue where id > (select id from request_baseline) order by id $$;
create function pg_temp.hide_secret(secret_name text) returns void
language sql as $$ update vault.secrets set name = name || ':hidden-by-pgtap' where name = $1 $$;
create function pg_temp.restore_secrets() returns void
language sql as $$ update vault.secrets set name = replace(name, ':hidden-by-pgtap', '') where name like '%:hidden-by-pgtap' $$;

-- wake_embedding_worker ------------------------------------------------------------------------------------------
select is(ai.embedding_work_ready(), false, 'With nothing ready, embedding_work_ready() is false.');
select is(ai.wake_embedding_worker(), null, 'wake_embedding_worker is a no-op on an empty queue: it returns null.');
select is_empty($$select from pg_temp.requests()$$, 'and queues no request.');

-- A ready job (queued directly: the insert triggers would wake the worker themselves).
insert into ai.embedding_jobs (target_id, row_id)
select id, 'd1000000-0000-4000-8000-000000000000' from ai.embedding_targets where source = 'public.code_snippets'::regclass;
select is(ai.embedding_work_ready(), true, 'A pending job makes embedding_work_ready() true.');
create temp table wake1 as select ai.wake_embedding_worker() as request_id;
select is((select count(*)::int from pg_temp.requests()), 1, 'With work ready, wake_embedding_worker queues exactly one request.');
select results_eq(
  $$select id, method::text, url, headers ->> 'Authorization', headers ->> 'Content-Type', convert_from(body, 'UTF8')::jsonb
    from pg_temp.requests()$$,
  $$select (select request_id from wake1), 'POST',
           (select decrypted_secret from vault.decrypted_secrets where name = 'project_url') || '/functions/v1/embed-worker',
           'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'),
           'application/json', '{}'::jsonb$$,
  'It POSTs to /functions/v1/embed-worker with the service key from Vault and returns the request id.');
select is((select last_wake from ai.worker_wakeups where worker = 'embed-worker'), now(), 'The wake-up is recorded.');

set local role service_role;
select is(ai.embedding_work_ready(), true, 'service_role (the workers) may ask whether work is ready.');
select throws_ok($$select ai.wake_embedding_worker()$$, '42501', null, 'service_role cannot send wake-ups itself.');
select throws_ok($$select ai.invoke_edge_function('embed-worker')$$, '42501', null,
  'service_role cannot call invoke_edge_function (it reads Vault).');
reset role;

-- invoke_edge_function and Vault -------------------------------------------------------------------------------------
select throws_ok($$select ai.invoke_edge_function('../admin')$$, 'P0001', 'invalid function name "../admin"',
  'A function name that is not a plain slug is refused.');
select pg_temp.hide_secret('service_role_key');
select throws_ok($$select ai.invoke_edge_function('embed-worker')$$, 'P0001', 'Vault secret service_role_key is missing',
  'A missing service_role_key secret is named.');
select pg_temp.hide_secret('project_url');
select throws_ok($$select ai.invoke_edge_function('embed-worker')$$, 'P0001', 'Vault secret project_url is missing',
  'A missing project_url secret is named.');
select throws_ok($$select ai.wake_embedding_worker()$$, 'P0001', 'Vault secret project_url is missing',
  'The cron wake-up fails visibly (in cron.job_run_details) when Vault is not set up.');
select pg_temp.restore_secrets();
select isnt(ai.invoke_edge_function('embed-worker', '{"wait": true}', 1234), null, 'With both secrets back it works.');
select results_eq($$select convert_from(body, 'UTF8')::jsonb, timeout_milliseconds from pg_temp.requests() order by id desc limit 1$$,
  $$values ('{"wait": true}'::jsonb, 1234)$$, 'The body and the timeout are passed on.');
delete from net.http_request_queue where id in (select id from pg_temp.requests());

-- The wake trigger on registered tables --------------------------------------------------------------------------------
update ai.worker_wakeups set last_wake = '-infinity' where worker = 'embed-worker';
insert into public.code_snippets (content) values ('export const one = 1;');
select is((select count(*)::int from pg_temp.requests() where url like '%/functions/v1/embed-worker'), 1,
  'An insert that queues a job wakes the worker.');
insert into public.code_snippets (content) values ('export const two = 2;');
update public.code_snippets set content = 'export const two = 2 as const;' where content = 'export const two = 2;';
select is((select count(*)::int from pg_temp.requests()), 1,
  'Writes within the next 2 seconds do not wake it again (debounced).');
update ai.worker_wakeups set last_wake = now() - interval '3 seconds' where worker = 'embed-worker';
insert into public.code_snippets (content) values ('export const three = 3;');
select is((select count(*)::int from pg_temp.requests()), 2, 'After 2 seconds a write wakes it again.');
delete from net.http_request_queue where id in (select id from pg_temp.requests());

-- Without Vault secrets a user's insert still succeeds (the wake only warns; pg_cron retries).
update ai.worker_wakeups set last_wake = '-infinity' where worker = 'embed-worker';
select pg_temp.hide_secret('project_url');
insert into auth.users (id, email) values ('a8888888-8888-4888-8888-888888888888', 'wake@example.test');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a8888888-8888-4888-8888-888888888888", "role": "authenticated"}', true);
select lives_ok($$insert into public.code_snippets (id, content) values ('d1000000-0000-4000-8000-000000000004', 'export const four = 4;')$$,
  'A missing Vault secret does not fail the user''s insert.');
reset role;
select isnt_empty($$select from ai.embedding_jobs where row_id = 'd1000000-0000-4000-8000-000000000004'$$,
  'The insert''s job is queued all the same.');
select is_empty($$select from pg_temp.requests()$$, 'No request was queued.');
select pg_temp.restore_secrets();

-- A row inserted with its vector queues nothing, and wakes nothing when nothing else is ready.
delete from ai.embedding_jobs where row_id = 'd1000000-0000-4000-8000-000000000000'
  or row_id in (select id::text from public.code_snippets);
update ai.worker_wakeups set last_wake = '-infinity' where worker = 'embed-worker';
insert into public.code_snippets (content, embedding)
values ('export const five = 5;', array_fill(0.1::real, array[384])::extensions.vector);
select is_empty($$select from pg_temp.requests()$$, 'An insert that brings its own vector wakes nothing.');

-- The worker's own write-backs do not wake it again.
insert into public.code_snippets (id, content) values ('d1000000-0000-4000-8000-000000000006', 'export const six = 6;');
delete from net.http_request_queue where id in (select id from pg_temp.requests());
update ai.worker_wakeups set last_wake = '-infinity' where worker = 'embed-worker';
select is((select written from ai.complete_embedding_jobs((
  select jsonb_agg(jsonb_build_object('job_id', job_id, 'claim_token', claim_token, 'content_hash', content_hash,
                                      'embedding', to_jsonb(array_fill(0.2::real, array[384]))))
  from ai.claim_embedding_jobs(10) where row_id = 'd1000000-0000-4000-8000-000000000006'))), 1,
  'The worker writes a vector back.');
select is_empty($$select from pg_temp.requests()$$, 'Its write-back does not wake the worker.');

-- The schedule ------------------------------------------------------------------------------------------------------
select results_eq(
  $$select jobname::text collate "default", schedule::text collate "default", command::text collate "default" from cron.job
    where jobname in ('embed-worker', 'process-ts-errors', 'ai-housekeeping') order by jobname$$,
  $$values ('ai-housekeeping', '17 3 * * *', 'select ai.housekeeping()'),
           ('embed-worker', '* * * * *', 'select ai.wake_embedding_worker()'),
           ('process-ts-errors', '* * * * *', 'select public.process_typescript_errors_batch()')$$,
  'pg_cron runs embed-worker and process-ts-errors every minute and ai-housekeeping daily.');

-- Housekeeping --------------------------------------------------------------------------------------------------------
insert into ai.worker_runs (worker, started_at, finished_at) values
  ('pgtap-worker', now() - interval '31 days', now() - interval '31 days'),
  ('pgtap-worker', now() - interval '29 days', now() - interval '29 days');
insert into ai.rate_limit_counters (key, window_start, count) values
  ('pgtap:old', now() - interval '2 days', 1), ('pgtap:new', now() - interval '1 hour', 1);
insert into cron.job_run_details (jobid, username, command, status, start_time, end_time) values
  (0, 'postgres', 'select pgtap_old', 'succeeded', now() - interval '8 days', now() - interval '8 days'),
  (0, 'postgres', 'select pgtap_new', 'succeeded', now() - interval '6 days', now() - interval '6 days');
create temp table housekeeping as select ai.housekeeping() as result;
select ok((select (result ->> 'cron_runs')::int >= 1 and (result ->> 'worker_runs')::int >= 1
                  and (result ->> 'rate_limit_windows')::int >= 1 from housekeeping),
  'housekeeping reports what it deleted.');
select results_eq($$select command from cron.job_run_details where command like 'select pgtap_%'$$,
  $$values ('select pgtap_new')$$, 'It deletes cron run details older than 7 days.');
select results_eq($$select finished_at from ai.worker_runs where worker = 'pgtap-worker'$$,
  $$values (now() - interval '29 days')$$, 'It deletes worker runs older than 30 days.');
select results_eq($$select key from ai.rate_limit_counters where key like 'pgtap:%'$$,
  $$values ('pgtap:new')$$, 'It deletes rate-limit windows older than a day.');

set local role service_role;
select throws_ok($$select ai.housekeeping()$$, '42501', null, 'service_role cannot run housekeeping.');
reset role;

select * from finish();
rollback;
