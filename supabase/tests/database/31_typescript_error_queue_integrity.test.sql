-- The TypeScript error queue does not trust its users (migrations 20261211110200 and …110300): a user writes
-- only their input columns (column privileges), never attempts, claims, scheduling or results; backoff is per
-- row; claims are fair across owners; a user's queued errors are capped; an attempt counts only when work
-- starts; leases are renewed by a heartbeat; failed errors can be retried. Tried the way an attacker (or a
-- careless client) would: rows dated 1970, attempts below zero, a status set by hand, a flood of rows.
begin isolation level repeatable read;
select plan(41);

delete from public.typescript_errors where id in (select id from public.typescript_errors for update skip locked);

insert into auth.users (id, email) values
  ('a1000000-0000-4000-8000-00000000000a', 'queue-a@example.test'),
  ('b1000000-0000-4000-8000-00000000000b', 'queue-b@example.test');

create function pg_temp.as_user(uid text) returns void language sql as $$
  select set_config('role', 'authenticated', true),
         set_config('request.jwt.claims', json_build_object('sub', uid, 'role', 'authenticated')::text, true);
$$;

-- Column privileges ---------------------------------------------------------------------------------------------
select pg_temp.as_user('a1000000-0000-4000-8000-00000000000a');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, created_at)
                   values ('src/a.ts', 'TS9999', 'm', 'x', '1970-01-01')$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot date a queued error back (created_at is the server''s).');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, attempts)
                   values ('src/a.ts', 'TS9999', 'm', 'x', -1000)$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot set attempts.');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, max_attempts)
                   values ('src/a.ts', 'TS9999', 'm', 'x', 20)$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot set max_attempts.');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, run_after)
                   values ('src/a.ts', 'TS9999', 'm', 'x', '1970-01-01')$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot schedule an error (run_after).');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, claim_token, claimed_at)
                   values ('src/a.ts', 'TS9999', 'm', 'x', gen_random_uuid(), now())$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot claim an error.');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet, suggested_fix)
                   values ('src/a.ts', 'TS9999', 'm', 'x', 'rm -rf')$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot write a result.');
select lives_ok($$insert into public.typescript_errors (id, file_path, line, "column", error_code, error_message, code_snippet)
                  values ('a0000000-0000-4000-8000-000000000001', 'src/a.ts', 1, 1, 'TS9999', 'm', 'x')$$,
  'A user queues an error with its input columns.');
select throws_ok($$update public.typescript_errors set attempts = -1000 where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table typescript_errors', 'A user cannot change attempts.');
select throws_ok($$update public.typescript_errors set max_attempts = 20 where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table typescript_errors', 'A user cannot change max_attempts.');
select throws_ok($$update public.typescript_errors set created_at = '1970-01-01', run_after = '1970-01-01'
                   where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table typescript_errors', 'A user cannot reschedule an error.');
select throws_ok($$update public.typescript_errors set claim_token = null, heartbeat_at = now() where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table typescript_errors', 'A user cannot touch a claim.');
select throws_ok($$update public.typescript_errors set status = 'processing' where id = 'a0000000-0000-4000-8000-000000000001'$$,
  '42501', 'status processing cannot be set by a user: only ''resolved''', 'A user cannot set a status other than resolved.');
select throws_ok($$truncate public.typescript_errors$$, '42501', 'permission denied for table typescript_errors',
  'A user cannot truncate the queue (which row-level security would not stop).');
reset role;

-- An edit queues the error afresh: the queue's columns are reset, whatever state it was in.
update public.typescript_errors set status = 'failed', attempts = 3, last_error = 'gave up', suggested_fix = 'old',
  claim_token = null, run_after = now() + interval '1 day'
where id = 'a0000000-0000-4000-8000-000000000001';
select pg_temp.as_user('a1000000-0000-4000-8000-00000000000a');
select results_eq($$update public.typescript_errors set code_snippet = 'const x: number = "1";'
                    where id = 'a0000000-0000-4000-8000-000000000001'
                    returning status, attempts, last_error, suggested_fix, run_after = now()$$,
  $$values ('pending', 0, null::text, null::text, true)$$, 'Editing an error''s input queues it afresh.');
select lives_ok($$update public.typescript_errors set status = 'pending' where id = 'a0000000-0000-4000-8000-000000000001'$$,
  'An update that leaves the status as it is passes.');
reset role;

-- Fair claims ---------------------------------------------------------------------------------------------------
-- User A floods the queue with 6 errors due long ago; user B queues one, due now. A claim of 3 serves B too.
delete from public.typescript_errors where id = 'a0000000-0000-4000-8000-000000000001';
insert into public.typescript_errors (owner, file_path, error_code, error_message, code_snippet, created_at, run_after)
select 'a1000000-0000-4000-8000-00000000000a', 'src/flood' || g || '.ts', 'TS9999', 'm', 'x',
       '1970-01-01'::timestamptz + g * interval '1 second', '1970-01-01'::timestamptz + g * interval '1 second'
from generate_series(1, 6) g;
insert into public.typescript_errors (id, owner, file_path, error_code, error_message, code_snippet)
values ('b0000000-0000-4000-8000-000000000001', 'b1000000-0000-4000-8000-00000000000b', 'src/b.ts', 'TS2304', 'm', 'x');
create temp table fair as select * from ai.claim_typescript_errors(3);
select is((select count(*)::int from fair where owner = 'b1000000-0000-4000-8000-00000000000b'), 1,
  'One owner''s old rows cannot keep another owner''s row out of a claim.');
select results_eq($$select file_path from fair where owner = 'a1000000-0000-4000-8000-00000000000a' order by run_after$$,
  $$values ('src/flood1.ts'), ('src/flood2.ts')$$, 'Each owner''s rows are taken oldest first.');
select is((select count(*)::int from fair where attempts = 0), 3, 'A claim costs no attempt.');

-- Attempts count only when work starts --------------------------------------------------------------------------
-- A claim whose wake-up is lost (nobody starts it) expires, again and again: the error is never failed for it.
update public.typescript_errors set claimed_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour'
where claim_token = (select claim_token from fair limit 1);
select is((select count(*)::int from ai.claim_typescript_errors(10, '30 seconds') where owner = 'b1000000-0000-4000-8000-00000000000b'),
  1, 'An expired claim that never started is claimed again.');
select results_eq($$select status, attempts from public.typescript_errors where id = 'b0000000-0000-4000-8000-000000000001'$$,
  $$values ('processing', 0)$$, 'and still has all its attempts.');

-- The heartbeat ---------------------------------------------------------------------------------------------------
create temp table held as select claim_token from public.typescript_errors where id = 'b0000000-0000-4000-8000-000000000001';
update public.typescript_errors set heartbeat_at = now() - interval '20 seconds' where claim_token = (select claim_token from held);
select is(ai.renew_typescript_error_claim((select claim_token from held)),
  (select count(*)::int from public.typescript_errors where claim_token = (select claim_token from held)),
  'The heartbeat renews every row its claim holds.');
select is((select heartbeat_at from public.typescript_errors where id = 'b0000000-0000-4000-8000-000000000001'), now(),
  'The lease now runs from the renewal.');
select is(ai.renew_typescript_error_claim(gen_random_uuid()), 0, 'A heartbeat under another token renews nothing.');

-- Backoff, budget deferral, the fallback mark ----------------------------------------------------------------------
select is((select attempts from ai.start_typescript_error('b0000000-0000-4000-8000-000000000001', (select claim_token from held))),
  1, 'Work starts: attempt 1.');
select is(ai.defer_typescript_error('b0000000-0000-4000-8000-000000000001', (select claim_token from held),
                                    now() + interval '2 hours', 'the owner''s token budget is used up'),
  'pending', 'An error whose owner has no budget left is put back.');
select results_eq($$select status, attempts, run_after, last_error from public.typescript_errors where id = 'b0000000-0000-4000-8000-000000000001'$$,
  $$values ('pending', 0, now() + interval '2 hours', 'the owner''s token budget is used up')$$,
  'until the budget allows, without counting the attempt.');
update public.typescript_errors set run_after = now() - interval '1 second', attempts = 2, max_attempts = 3
where id = 'b0000000-0000-4000-8000-000000000001';
create temp table last_try as select * from ai.claim_typescript_errors(10) where id = 'b0000000-0000-4000-8000-000000000001';
select is((select attempts from ai.start_typescript_error('b0000000-0000-4000-8000-000000000001', (select claim_token from last_try))),
  3, 'The last attempt starts.');
select is(ai.record_typescript_error_result('b0000000-0000-4000-8000-000000000001', (select claim_token from last_try),
            'const x = 1;', null, 'the LLM call failed (error id 1); answered from retrieval', 'retrieval_fallback'),
  'ai_suggested', 'A fallback answer on the last attempt is stored.');
select results_eq($$select status, fix_source, last_error from public.typescript_errors where id = 'b0000000-0000-4000-8000-000000000001'$$,
  $$values ('ai_suggested', 'retrieval_fallback', 'the LLM call failed (error id 1); answered from retrieval')$$,
  'marked as a fallback, with why.');
select is(ai.backoff(3, interval '30 seconds', interval '1 hour'), interval '2 minutes', 'Backoff doubles per attempt.');
select is(ai.backoff(1000, interval '10 seconds', interval '1 hour'), interval '1 hour',
  'Backoff is capped, and no number of attempts overflows it.');

-- Retrying failed errors ----------------------------------------------------------------------------------------
update public.typescript_errors set status = 'failed', attempts = 3 where owner = 'a1000000-0000-4000-8000-00000000000a';
select is(ai.retry_failed_typescript_errors('b1000000-0000-4000-8000-00000000000b'), 0, 'Retrying one owner''s errors leaves others'' alone.');
select is(ai.retry_failed_typescript_errors('a1000000-0000-4000-8000-00000000000a'), 6, 'Failed errors go back to the queue.');
select is((select count(*)::int from public.typescript_errors where owner = 'a1000000-0000-4000-8000-00000000000a'
           and status = 'pending' and attempts = 0 and run_after = now()), 6, 'with fresh attempts, due now.');
select pg_temp.as_user('a1000000-0000-4000-8000-00000000000a');
select throws_ok($$select ai.retry_failed_typescript_errors()$$, '42501', null, 'A user cannot call the queue''s functions.');
reset role;

-- The per-user cap ------------------------------------------------------------------------------------------------
update ai.settings set value = '8' where name = 'typescript_errors.max_queued_per_user';
select throws_ok($$update ai.settings set value = 'lots' where name = 'typescript_errors.max_queued_per_user'$$,
  'P0001', 'setting typescript_errors.max_queued_per_user must be an integer, got "lots"', 'A setting is validated when written.');
select pg_temp.as_user('a1000000-0000-4000-8000-00000000000a');
select throws_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet)
                   select 'src/more' || g || '.ts', 'TS9999', 'm', 'x' from generate_series(1, 3) g$$,
  '54000', 'too many queued TypeScript errors: 9 pending or processing, at most 8 per user',
  'A user cannot queue past the cap (6 queued + 3).');
select lives_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet)
                  select 'src/more' || g || '.ts', 'TS9999', 'm', 'x' from generate_series(1, 2) g$$,
  'Up to the cap is fine.');
select is((select count(*)::int from public.typescript_errors), 8, 'The refused insert added nothing.');
select pg_temp.as_user('b1000000-0000-4000-8000-00000000000b');
select lives_ok($$insert into public.typescript_errors (file_path, error_code, error_message, code_snippet)
                  values ('src/b2.ts', 'TS2304', 'm', 'x')$$, 'The cap is per user: another user still queues.');
reset role;
select lives_ok($$select ai.record_typescript_error_result(id, claim_token, error => 'failed again')
                  from ai.claim_typescript_errors(10) c, lateral ai.start_typescript_error(c.id, c.claim_token)$$,
  'The queue''s own write-backs never fail on the cap.');

select * from finish();
rollback;
