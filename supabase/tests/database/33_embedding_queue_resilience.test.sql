-- The embedding queue under faults (migrations 20261211110100 and …110800): one row that cannot be written
-- never fails its batch; the heartbeat renews only the claims it holds; the backoff never overflows, however
-- many attempts a target allows; the minute's wake-up does not wait for a row lock held by a long write.
--
-- The scratch table is created inside this transaction, so the stack's own embed-worker never sees its jobs.
begin;
select plan(14);
set local statement_timeout = '60s';  -- a wait on another session fails the file instead of hanging it

create schema pgtap_resilience;
create table pgtap_resilience.docs (id int primary key, body text, embedding extensions.vector(384));
-- A table's own trigger that refuses one row's update (as a user's validation might).
create function pgtap_resilience.refuse_seven() returns trigger language plpgsql as $$
begin
  if new.id = 7 and new.embedding is not null then
    raise exception 'row 7 is read-only';
  end if;
  return new;
end
$$;
create trigger refuse_seven before update on pgtap_resilience.docs
  for each row execute function pgtap_resilience.refuse_seven();
select ai.enable_embeddings('pgtap_resilience.docs', 'body', max_attempts => 100);
-- (without waking the worker: this session must not hold the wake-up's debounce row, see the last test)
set local ai.embedding_worker = 'on';
insert into pgtap_resilience.docs select g, 'document ' || g from generate_series(1, 8) g;
set local ai.embedding_worker = 'off';

create temp table claimed as
select c.* from ai.claim_embedding_jobs(1000) c
join ai.embedding_targets t on t.id = c.target_id and t.source = 'pgtap_resilience.docs'::regclass;
select is((select count(*)::int from claimed), 8, 'The 8 rows are claimed.');

-- Row 3 gets a vector of the wrong size (a broken model or worker), row 7 is refused by the table's trigger.
create temp table results as
select jsonb_agg(jsonb_build_object(
  'job_id', job_id, 'claim_token', claim_token, 'content_hash', content_hash,
  'embedding', case when row_id = '3' then to_jsonb(array[0.1, 0.2, 0.3]) else to_jsonb(array_fill(0.05::real, array[384])) end)) as r
from claimed;
select results_eq($$select written, stale, failed from ai.complete_embedding_jobs((select r from results))$$,
  $$values (6, 0, 2)$$, 'A batch with two rows that cannot be written writes the other six.');
select is((select count(*)::int from pgtap_resilience.docs where embedding is not null), 6, 'Six vectors are stored.');
select set_eq($$select id from pgtap_resilience.docs where embedding is null$$, array[3, 7],
  'The rows that failed have no vector.');
select is((select count(*)::int from ai.embedding_jobs j join claimed c on c.job_id = j.id), 2,
  'Only the failed rows'' jobs remain.');
select results_eq($$select j.status, j.claim_token, j.run_after > now(), j.last_error like 'the vector could not be written: %'
                    from ai.embedding_jobs j join claimed c on c.job_id = j.id order by c.row_id::int$$,
  $$values ('pending', null::uuid, true, true), ('pending', null::uuid, true, true)$$,
  'They are failed with the reason and retried after a backoff.');
select matches((select j.last_error from ai.embedding_jobs j join claimed c on c.job_id = j.id where c.row_id = '3'),
  'expected 384 dimensions', 'The wrong-sized vector''s reason is kept.');
select matches((select j.last_error from ai.embedding_jobs j join claimed c on c.job_id = j.id where c.row_id = '7'),
  'row 7 is read-only', 'The table''s refusal is kept.');

-- The heartbeat --------------------------------------------------------------------------------------------------
update ai.embedding_jobs j set status = 'processing', claim_token = 'ab000000-0000-4000-8000-000000000001',
  run_after = now() + interval '1 second'
from claimed c where c.job_id = j.id and c.row_id = '3';
select is(ai.renew_embedding_claims(
            (select jsonb_agg(jsonb_build_object('job_id', job_id, 'claim_token', 'ab000000-0000-4000-8000-000000000001'))
             from claimed where row_id in ('3', '7')), interval '30 seconds'),
  1, 'The heartbeat renews the jobs its claim holds, and only those.');
select is((select j.run_after from ai.embedding_jobs j join claimed c on c.job_id = j.id where c.row_id = '3'),
  now() + interval '30 seconds', 'The lease now ends 30 seconds from the renewal.');

-- Capped backoff, even for a target that allows 100 attempts ------------------------------------------------------
update ai.embedding_jobs j set attempts = 60 from claimed c where c.job_id = j.id and c.row_id = '3';
select lives_ok($$select ai.fail_embedding_jobs(jsonb_build_array(jsonb_build_object(
                    'job_id', (select job_id from claimed where row_id = '3'),
                    'claim_token', 'ab000000-0000-4000-8000-000000000001', 'error', 'again'))) $$,
  'A failure after 60 attempts is recorded (no interval overflow).');
select is((select j.run_after from ai.embedding_jobs j join claimed c on c.job_id = j.id where c.row_id = '3'),
  now() + interval '1 hour', 'Its backoff is the cap, an hour.');

-- The minute's wake-up and a long write ----------------------------------------------------------------------------
create extension if not exists dblink with schema extensions;
do $$
begin
  begin
    perform extensions.dblink_connect('locker', format('host=%s port=%s dbname=%s user=%s',
      split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), current_database(),
      current_user));
  exception when others then
    perform extensions.dblink_connect('locker', format('host=127.0.0.1 port=%s dbname=%s user=postgres password=postgres',
      current_setting('port'), current_database()));
  end;
end
$$;
-- Another session is in the middle of a long write that took the wake-up's debounce row (as a registered
-- table's wake-up trigger does) and has not committed.
select extensions.dblink_exec('locker', $$set lock_timeout = '5s'$$);
select extensions.dblink_exec('locker', 'begin');
select extensions.dblink_exec('locker', $$update ai.worker_wakeups set last_wake = now() where worker = 'embed-worker'$$);
set local lock_timeout = '2s';
update ai.embedding_jobs j set run_after = now() - interval '1 second' from claimed c where c.job_id = j.id and c.row_id = '7';
select isnt(ai.wake_embedding_worker(), null, 'The minute''s wake-up sends its request without waiting for the lock.');
reset lock_timeout;
select extensions.dblink_exec('locker', 'rollback');
select extensions.dblink_disconnect('locker');
select ok(true, '(the other session let go)');

select * from finish();
rollback;
