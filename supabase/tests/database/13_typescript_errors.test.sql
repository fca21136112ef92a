-- typescript_errors: row-level security per role, and the batch fixer's queue (migration
-- 20261125150700): process_typescript_errors_batch claims and wakes ts-error-worker through pg_net,
-- record_typescript_error_result writes outcomes back only for the claim that holds the row, failures are
-- retried with backoff then failed, expired leases are reclaimed, attempts count when work starts.
--
-- REPEATABLE READ: requests other sessions queue meanwhile (pg_cron's wake-ups) stay invisible, so the
-- requests counted in net.http_request_queue are this test's own. Errors queued by anything else are deleted
-- inside the transaction (rolled back at the end; skip locked: never waiting for a row a worker holds, which
-- is claimed and so out of the way anyway). Ages and due times are set explicitly (as postgres: they are the
-- queue's columns, which users cannot write): now() is constant here.
begin isolation level repeatable read;
select plan(47);

delete from public.typescript_errors where id in (select id from public.typescript_errors for update skip locked);
create temp table request_baseline as select coalesce(max(id), 0) as id from net.http_request_queue;
-- Requests this test queued.
create function pg_temp.requests() returns setof net.http_request_queue
language sql stable as $$ select * from net.http_request_queue where id > (select id from request_baseline) $$;

insert into auth.users (id, email) values
  ('a3333333-3333-4333-8333-333333333333', 'ts-a@example.test'),
  ('b4444444-4444-4444-8444-444444444444', 'ts-b@example.test');

-- RLS ------------------------------------------------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a3333333-3333-4333-8333-333333333333", "role": "authenticated"}', true);
select lives_ok($$insert into public.typescript_errors (id, file_path, line, "column", error_code, error_message, code_snippet)
                  values ('e0000000-0000-4000-8000-000000000001', 'src/a.ts', 3, 7, 'TS2322',
                          'Type ''string'' is not assignable to type ''number''.', 'const n: number = "1";')$$,
  'A user can queue an error (owner defaults to the user, status pending).');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, status)
                   values ('src/a.ts', 'TS2322', 'm', 'x', 'ai_suggested')$$,
  '42501', 'permission denied for table typescript_errors',
  'A user cannot queue an error in any state but pending.');
select throws_ok($$insert into public.typescript_errors (owner, file_path, error_code, error_message, code_snippet)
                   values ('b4444444-4444-4444-8444-444444444444', 'src/a.ts', 'TS2322', 'm', 'x')$$,
  '42501', 'permission denied for table typescript_errors',
  'A user cannot queue an error for someone else.');
reset role;
update public.typescript_errors set created_at = now() - interval '3 minutes', run_after = now() - interval '3 minutes'
where id = 'e0000000-0000-4000-8000-000000000001';

insert into public.typescript_errors (id, owner, file_path, error_code, error_message, code_snippet, created_at, run_after) values
  ('e0000000-0000-4000-8000-000000000002', 'a3333333-3333-4333-8333-333333333333', 'src/b.ts', 'TS2339',
   'Property ''x'' does not exist on type ''{}''.', 'const o = {}; o.x;', now() - interval '2 minutes', now() - interval '2 minutes'),
  ('e0000000-0000-4000-8000-000000000003', 'b4444444-4444-4444-8444-444444444444', 'src/c.ts', 'TS2304',
   'Cannot find name ''foo''.', 'foo();', now() - interval '1 minute', now() - interval '1 minute');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a3333333-3333-4333-8333-333333333333", "role": "authenticated"}', true);
select set_eq($$select id from public.typescript_errors$$,
  array['e0000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000002']::uuid[],
  'A user reads only their own queued errors.');
select is_empty($$update public.typescript_errors set status = 'resolved' where id = 'e0000000-0000-4000-8000-000000000003' returning id$$,
  'A user cannot change another user''s error.');
select is_empty($$delete from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000003' returning id$$,
  'A user cannot delete another user''s error.');
select throws_ok($$select public.process_typescript_errors_batch()$$, '42501', null,
  'A user cannot run the batch.');
select throws_ok($$select * from ai.claim_typescript_errors()$$, '42501', null, 'A user cannot claim errors.');
select throws_ok($$select ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000001', gen_random_uuid(), 'x')$$,
  '42501', null, 'A user cannot record results.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select is_empty($$select from public.typescript_errors$$, 'anon reads no errors.');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet)
                   values ('src/a.ts', 'TS2322', 'm', 'x')$$,
  '42501', 'permission denied for table typescript_errors', 'anon cannot queue errors.');
select throws_ok($$select public.process_typescript_errors_batch()$$, '42501', null, 'anon cannot run the batch.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*)::int from public.typescript_errors where id::text like 'e0000000-%'), 3,
  'service_role reads every user''s errors.');
reset role;

-- The batch ------------------------------------------------------------------------------------------------------
-- Nothing pending: a no-op that sends nothing.
update public.typescript_errors set status = 'resolved' where id::text like 'e0000000-%';
set local role service_role;
select is(public.process_typescript_errors_batch(), '{"claimed": 0}'::jsonb, 'An empty queue claims nothing.');
reset role;
select is_empty($$select from pg_temp.requests()$$, 'An empty queue sends no request.');
update public.typescript_errors set status = 'pending' where id::text like 'e0000000-%';

set local role service_role;
create temp table batch1 as select public.process_typescript_errors_batch(batch_size => 2) as result;
reset role;
select is((select (result ->> 'claimed')::int from batch1), 2, 'The batch reports how many errors it claimed.');
select set_eq($$select id from public.typescript_errors where status = 'processing'$$,
  array['e0000000-0000-4000-8000-000000000001', 'e0000000-0000-4000-8000-000000000003']::uuid[],
  'Each owner''s oldest due error is claimed first (one owner''s turn after another''s), at most batch_size.');
select is((select count(*)::int from public.typescript_errors
           where status = 'processing' and attempts = 0 and claimed_at = now() and heartbeat_at = now()
             and claim_token = (select (result ->> 'claim_token')::uuid from batch1)), 2,
  'Claimed errors carry the batch''s claim token; the attempt is not counted yet.');
select is((select count(*)::int from pg_temp.requests()), 1, 'The batch queues exactly one request.');
select results_eq(
  $$select method::text, url, headers ->> 'Authorization', convert_from(body, 'UTF8')::jsonb, timeout_milliseconds
    from pg_temp.requests()$$,
  $$select 'POST', (select decrypted_secret from vault.decrypted_secrets where name = 'project_url') || '/functions/v1/ts-error-worker',
           'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'),
           jsonb_build_object('claim_token', (select result ->> 'claim_token' from batch1)), 10000$$,
  'It POSTs the claim token to ts-error-worker with the service key from Vault.');
select is((select (result ->> 'request_id')::bigint from batch1), (select id from pg_temp.requests()),
  'The batch returns pg_net''s request id.');
select is((select last_wake from ai.worker_wakeups where worker = 'ts-error-worker'), now(),
  'The wake-up is recorded.');

-- Results ---------------------------------------------------------------------------------------------------------
insert into public.code_analysis (id, owner, error_code, error_message, code_snippet, suggested_fix)
values ('c1000000-0000-4000-8000-000000000001', 'a3333333-3333-4333-8333-333333333333', 'TS2322', 'm',
        'const n: number = "1";', 'const n: number = 1;');

set local role service_role;
select results_eq($$select attempts, max_attempts from ai.start_typescript_error('e0000000-0000-4000-8000-000000000001',
                      (select (result ->> 'claim_token')::uuid from batch1))$$,
  $$values (1, 3)$$, 'Starting work on a claimed error counts its attempt.');
select is_empty($$select from ai.start_typescript_error('e0000000-0000-4000-8000-000000000002', gen_random_uuid())$$,
  'Work cannot start under a claim token that does not hold the error.');
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000001', gen_random_uuid(), 'forged'), null,
  'A result under a claim token that does not hold the error is ignored.');
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000001',
            (select (result ->> 'claim_token')::uuid from batch1), 'const n: number = 1;', 'c1000000-0000-4000-8000-000000000001'),
  'ai_suggested', 'A successful result stores the fix.');
reset role;
select results_eq($$select status, suggested_fix, analysis_id, last_error, claim_token, processed_at
                    from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000001'$$,
  $$values ('ai_suggested', 'const n: number = 1;', 'c1000000-0000-4000-8000-000000000001'::uuid, null::text, null::uuid, now())$$,
  'The error has the fix and its analysis, and is released.');
set local role service_role;
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000001',
            (select (result ->> 'claim_token')::uuid from batch1), 'again'), null,
  'A second result for the same claim is ignored.');
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000003',
            (select (result ->> 'claim_token')::uuid from batch1), error => 'the model timed out'),
  'pending', 'A failure with attempts left puts the error back to pending.');
reset role;
select results_eq($$select status, attempts, last_error, claim_token, run_after from public.typescript_errors
                    where id = 'e0000000-0000-4000-8000-000000000003'$$,
  $$values ('pending', 0, 'the model timed out', null::uuid, now() + interval '30 seconds')$$,
  'with its error recorded and a backoff before it is due again.');
select is_empty($$select from ai.claim_typescript_errors(10) where id = 'e0000000-0000-4000-8000-000000000003'$$,
  'An error is not claimed again before its backoff ends.');

-- The last attempt fails: failed.
update public.typescript_errors set max_attempts = 2, attempts = 1, run_after = now() - interval '1 second'
where id = 'e0000000-0000-4000-8000-000000000003';
update public.typescript_errors set status = 'resolved' where id = 'e0000000-0000-4000-8000-000000000002';
create temp table claim2 as select * from ai.claim_typescript_errors(10);
select results_eq($$select id from claim2$$, $$values ('e0000000-0000-4000-8000-000000000003'::uuid)$$,
  'A pending error is claimed again once due.');
select results_eq($$select attempts from ai.start_typescript_error('e0000000-0000-4000-8000-000000000003', (select claim_token from claim2))$$,
  $$values (2)$$, 'for its next attempt.');
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000003',
            (select claim_token from claim2), error => 'the model timed out again'),
  'failed', 'A failure on the last attempt marks the error failed.');
select results_eq($$select status, last_error from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000003'$$,
  $$values ('failed', 'the model timed out again')$$, 'A failed error keeps its last error.');
select is_empty($$select from ai.claim_typescript_errors(10) where id = 'e0000000-0000-4000-8000-000000000003'$$,
  'A failed error is not claimed again.');

-- Expired leases ---------------------------------------------------------------------------------------------------
-- Error 3's claim was last renewed 20 minutes ago by a worker that died (attempt 1 of 3); error 4, as long ago,
-- used its last attempt; error 5 is pending and due before both, so a batch of 1 takes it and leaves 3 pending;
-- error 6 was claimed 20 minutes ago but its heartbeat is a minute old (a live worker).
update public.typescript_errors
set status = 'processing', attempts = 1, max_attempts = 3, claim_token = 'f0000000-0000-4000-8000-000000000003',
    claimed_at = now() - interval '20 minutes', heartbeat_at = now() - interval '20 minutes'
where id = 'e0000000-0000-4000-8000-000000000003';
insert into public.typescript_errors (id, owner, file_path, error_code, error_message, code_snippet, status, attempts,
                                      max_attempts, claim_token, claimed_at, heartbeat_at, created_at, run_after) values
  ('e0000000-0000-4000-8000-000000000004', 'b4444444-4444-4444-8444-444444444444', 'src/d.ts', 'TS2304', 'm', 'x',
   'processing', 3, 3, 'f0000000-0000-4000-8000-000000000004', now() - interval '20 minutes', null,
   now() - interval '1 hour', now() - interval '1 hour'),
  ('e0000000-0000-4000-8000-000000000005', 'b4444444-4444-4444-8444-444444444444', 'src/e.ts', 'TS2304', 'm', 'x',
   'pending', 0, 3, null, null, null, now() - interval '2 hours', now() - interval '2 hours'),
  ('e0000000-0000-4000-8000-000000000006', 'b4444444-4444-4444-8444-444444444444', 'src/f.ts', 'TS2304', 'm', 'x',
   'processing', 1, 3, 'f0000000-0000-4000-8000-000000000006', now() - interval '20 minutes', now() - interval '1 minute',
   now() - interval '2 hours', now() - interval '2 hours');
create temp table claim3 as select * from ai.claim_typescript_errors(1, stale_after => '15 minutes');
select results_eq($$select id from claim3$$, $$values ('e0000000-0000-4000-8000-000000000005'::uuid)$$,
  'The claim takes the pending error due first.');
select results_eq($$select status, claim_token, attempts from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000003'$$,
  $$values ('pending', null::uuid, 1)$$, 'A lease not renewed within stale_after goes back to pending.');
select results_eq($$select status, claim_token, last_error, processed_at from public.typescript_errors
                    where id = 'e0000000-0000-4000-8000-000000000004'$$,
  $$values ('failed', null::uuid, 'no result after 3 attempts (last claim expired)', now())$$,
  'A stale claim that used its last attempt is failed with the reason.');
select results_eq($$select status, claim_token from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000006'$$,
  $$values ('processing', 'f0000000-0000-4000-8000-000000000006'::uuid)$$, 'A lease renewed within stale_after is left alone, however old the claim.');
select is(ai.record_typescript_error_result('e0000000-0000-4000-8000-000000000003', 'f0000000-0000-4000-8000-000000000003', 'late fix'),
  null, 'The dead worker''s late result is ignored.');
select is((select suggested_fix from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000003'), null,
  'The late fix was not stored.');
create temp table claim4 as select * from ai.claim_typescript_errors(10, stale_after => '15 minutes');
select results_eq($$select id, attempts from claim4$$, $$values ('e0000000-0000-4000-8000-000000000003'::uuid, 1)$$,
  'The reclaimed error is claimed again (its next attempt counts when work starts).');
select throws_ok($$select * from ai.claim_typescript_errors(0)$$, 'P0001', 'batch_size must be between 1 and 500, got 0',
  'A batch size out of range is refused.');

-- A user marks their error resolved; the queue leaves resolved errors alone.
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a3333333-3333-4333-8333-333333333333", "role": "authenticated"}', true);
select results_eq($$update public.typescript_errors set status = 'resolved' where id = 'e0000000-0000-4000-8000-000000000001' returning status$$,
  $$values ('resolved')$$, 'A user can mark their own error resolved.');
select results_eq($$delete from public.typescript_errors where id = 'e0000000-0000-4000-8000-000000000001' returning id$$,
  $$values ('e0000000-0000-4000-8000-000000000001'::uuid)$$, 'A user can delete their own error.');
reset role;
select is_empty($$select from ai.claim_typescript_errors(10) where status <> 'processing'$$,
  'Claims return only the claimed (processing) rows.');

select * from finish();
rollback;
