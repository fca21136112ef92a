-- The TypeScript error queue's scheduling, all of it the server's: per-row backoff, claims fair across owners,
-- short leases kept alive by a heartbeat, attempts counted only when work on an error starts, and a way to put
-- failed errors back. Replaces the claim/result functions of 20261125150700 (same names).
--
--   select * from ai.claim_typescript_errors(batch_size => 10, stale_after => '30 seconds');  -- the worker
--   select * from ai.start_typescript_error(error_id, claim_token);   -- counts the attempt; null: claim lost
--   select ai.renew_typescript_error_claim(claim_token);              -- the heartbeat (every ~10 s)
--   select ai.record_typescript_error_result(error_id, claim_token, suggested_fix, analysis_id, error, fix_source);
--   select ai.defer_typescript_error(error_id, claim_token, run_after, reason);  -- e.g. the owner's budget is used
--   select ai.retry_failed_typescript_errors();                       -- failed errors back to pending
--
-- How a row moves
--   * pending rows are claimed when due (run_after <= now()); each owner's oldest first, one owner's turn
--     after another's, so a user with thousands of rows never starves the others
--   * a claim is a lease: it expires stale_after (default 30 s) after the claim or the claim's last heartbeat;
--     the worker renews it while it works, so only a dead worker's claims expire, and those are back in the
--     queue within about a minute (pg_cron's process-ts-errors now runs every minute)
--   * an attempt counts when the worker starts on the row (ai.start_typescript_error), not when it is claimed:
--     a claim whose wake-up was lost costs nothing
--   * a failure goes back to pending with backoff (30 s, 1 min, 2 min … at most an hour) until max_attempts,
--     then failed; fix_source says where a stored fix came from: llm, retrieval (no LLM configured), or
--     retrieval_fallback (the LLM failed on the last attempt; last_error keeps why)

alter table public.typescript_errors
  add column run_after timestamptz not null default now(),
  add column heartbeat_at timestamptz,
  add column fix_source text check (fix_source in ('llm', 'retrieval', 'retrieval_fallback'));
comment on column public.typescript_errors.run_after is 'Pending: not claimed before this time (backoff).';
comment on column public.typescript_errors.heartbeat_at is 'Processing: the claim''s last renewal (its lease runs from here).';
comment on column public.typescript_errors.fix_source is
  'Where suggested_fix came from: llm, retrieval (no LLM configured) or retrieval_fallback (the LLM failed on the last attempt).';

drop index public.typescript_errors_pending_idx;
create index typescript_errors_ready_idx on public.typescript_errors (owner, run_after, id) where status = 'pending';
-- (deleting an analysis sets analysis_id null here: without an index every such delete scans the queue)
create index typescript_errors_analysis_id_idx on public.typescript_errors (analysis_id);

-- Claims up to batch_size due errors under one new claim token, fairly across owners; expired leases first go
-- back to pending (or to failed, when their last attempt had started).
create or replace function ai.claim_typescript_errors(batch_size int default 10, stale_after interval default '30 seconds')
returns setof public.typescript_errors
language plpgsql
security definer
set search_path = ''
as $$
declare
  token uuid := gen_random_uuid();
begin
  if batch_size < 1 or batch_size > 500 then
    raise exception 'batch_size must be between 1 and 500, got %', batch_size;
  end if;

  update public.typescript_errors e
  set status = case when e.attempts >= e.max_attempts then 'failed' else 'pending' end,
      last_error = case when e.attempts >= e.max_attempts
                        then pg_catalog.format('no result after %s attempts (last claim expired)', e.attempts)
                        else e.last_error end,
      processed_at = case when e.attempts >= e.max_attempts then now() else e.processed_at end,
      run_after = now(),
      claim_token = null,
      heartbeat_at = null
  where e.status = 'processing' and coalesce(e.heartbeat_at, e.claimed_at) < now() - stale_after;

  -- Turns: each owner's due rows numbered oldest first; rows are taken turn by turn (every owner's first, then
  -- every owner's second …). Rows another claimer holds are skipped as they come, so concurrent claims take
  -- the next rows instead of colliding on the same few.
  return query
  with due as (
    select e.id, e.run_after, row_number() over (partition by e.owner order by e.run_after, e.id) as turn
    from public.typescript_errors e
    where e.status = 'pending' and e.run_after <= now()
  ), locked as (
    select e.id from public.typescript_errors e join due d on d.id = e.id
    where e.status = 'pending'
    order by d.turn, d.run_after, d.id
    limit batch_size
    for update of e skip locked
  )
  update public.typescript_errors e
  set status = 'processing', claim_token = token, claimed_at = now(), heartbeat_at = now()
  from locked where e.id = locked.id
  returning e.*;
end
$$;
comment on function ai.claim_typescript_errors(int, interval) is
  'Worker API: claim due TypeScript errors fairly across owners (skip locked) under a new claim token; expired leases go back first.';

-- The worker is about to work on an error: counts the attempt. No row (null) when the claim no longer holds it.
create function ai.start_typescript_error(error_id uuid, claim_token uuid)
returns table (attempts int, max_attempts int)
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set attempts = e.attempts + 1, heartbeat_at = now()
  where e.id = start_typescript_error.error_id and e.claim_token = start_typescript_error.claim_token
    and e.status = 'processing'
  returning e.attempts, e.max_attempts;
$$;
comment on function ai.start_typescript_error(uuid, uuid) is
  'Worker API: count an attempt as work on a claimed error starts; returns nothing when the claim was lost.';

-- The heartbeat: renews the lease of every row the claim still holds; returns how many.
create function ai.renew_typescript_error_claim(claim_token uuid) returns int
language sql
security definer
set search_path = ''
as $$
  with renewed as (
    update public.typescript_errors e set heartbeat_at = now()
    where e.claim_token = renew_typescript_error_claim.claim_token and e.status = 'processing'
    returning 1
  )
  select count(*)::int from renewed;
$$;
comment on function ai.renew_typescript_error_claim(uuid) is
  'Worker API: renew the lease of the rows a claim holds (call it every few seconds while working).';

drop function ai.record_typescript_error_result(uuid, uuid, text, uuid, text);
-- The worker's write-back. A fix (suggested_fix not null) is stored: ai_suggested, with fix_source, and error
-- kept as a note (e.g. why the LLM could not be used). No fix: error is a failure, retried with backoff until
-- max_attempts, then failed. Ignored (returns null) unless claim_token still holds the row.
create function ai.record_typescript_error_result(
  error_id uuid,
  claim_token uuid,
  suggested_fix text default null,
  analysis_id uuid default null,
  error text default null,
  fix_source text default null
) returns text
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set status = case when record_typescript_error_result.suggested_fix is not null
                      or record_typescript_error_result.error is null then 'ai_suggested'
                    when e.attempts >= e.max_attempts then 'failed'
                    else 'pending' end,
      run_after = case when record_typescript_error_result.suggested_fix is null
                         and record_typescript_error_result.error is not null
                       then now() + ai.backoff(e.attempts, interval '30 seconds', interval '1 hour')
                       else e.run_after end,
      suggested_fix = coalesce(record_typescript_error_result.suggested_fix, e.suggested_fix),
      analysis_id = coalesce(record_typescript_error_result.analysis_id, e.analysis_id),
      fix_source = coalesce(record_typescript_error_result.fix_source, e.fix_source),
      last_error = left(record_typescript_error_result.error, 2000),
      processed_at = now(),
      claim_token = null,
      heartbeat_at = null
  where e.id = record_typescript_error_result.error_id
    and e.claim_token = record_typescript_error_result.claim_token
    and e.status = 'processing'
  returning e.status;
$$;
comment on function ai.record_typescript_error_result(uuid, uuid, text, uuid, text, text) is
  'Worker API: store one error''s outcome (fix, or failure retried with backoff) if the caller''s claim still holds it; returns the new status.';

-- Work on an error cannot happen now for a reason that is not the error's fault (its owner's token budget is
-- used up): back to pending until run_after, its started attempt given back. Returns the new status or null.
create function ai.defer_typescript_error(error_id uuid, claim_token uuid, run_after timestamptz, reason text)
returns text
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set status = 'pending', attempts = greatest(e.attempts - 1, 0),
      run_after = greatest(defer_typescript_error.run_after, now()),
      last_error = left(defer_typescript_error.reason, 2000), claim_token = null, heartbeat_at = null
  where e.id = defer_typescript_error.error_id and e.claim_token = defer_typescript_error.claim_token
    and e.status = 'processing'
  returning e.status;
$$;
comment on function ai.defer_typescript_error(uuid, uuid, timestamptz, text) is
  'Worker API: put a claimed error back until run_after without counting its attempt (e.g. the owner''s token budget is used).';

-- Failed errors (of one owner, or all) back to pending with fresh attempts.
create function ai.retry_failed_typescript_errors(owner uuid default null) returns int
language sql
security definer
set search_path = ''
as $$
  with retried as (
    update public.typescript_errors e
    set status = 'pending', attempts = 0, run_after = now(), claim_token = null, heartbeat_at = null,
        processed_at = null
    where e.status = 'failed'
      and (retry_failed_typescript_errors.owner is null or e.owner = retry_failed_typescript_errors.owner)
    returning 1
  )
  select count(*)::int from retried;
$$;
comment on function ai.retry_failed_typescript_errors(uuid) is
  'Put failed TypeScript errors (of one owner, or all) back in the queue with fresh attempts; returns how many.';

-- What the cron job runs: as before, with the short lease, and never waiting for the debounce row a long
-- transaction may hold.
create or replace function public.process_typescript_errors_batch(batch_size int default 10, stale_after interval default '30 seconds')
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  token uuid;
  claimed int;
  request_id bigint;
begin
  select count(*), min(c.claim_token::text)::uuid into claimed, token
  from ai.claim_typescript_errors(batch_size, stale_after) c;
  if claimed = 0 then
    return jsonb_build_object('claimed', 0);
  end if;
  update ai.worker_wakeups w set last_wake = now()
  where w.worker = (select x.worker from ai.worker_wakeups x where x.worker = 'ts-error-worker' for update skip locked);
  request_id := ai.invoke_edge_function('ts-error-worker', jsonb_build_object('claim_token', token), 10000);
  return jsonb_build_object('claimed', claimed, 'claim_token', token, 'request_id', request_id);
end
$$;

revoke all on function ai.start_typescript_error(uuid, uuid), ai.renew_typescript_error_claim(uuid),
  ai.record_typescript_error_result(uuid, uuid, text, uuid, text, text),
  ai.defer_typescript_error(uuid, uuid, timestamptz, text), ai.retry_failed_typescript_errors(uuid)
  from public, anon, authenticated;
grant execute on function ai.start_typescript_error(uuid, uuid), ai.renew_typescript_error_claim(uuid),
  ai.record_typescript_error_result(uuid, uuid, text, uuid, text, text),
  ai.defer_typescript_error(uuid, uuid, timestamptz, text), ai.retry_failed_typescript_errors(uuid)
  to service_role;

-- Every minute (was every 10): expired leases are retried within about a minute; an empty queue is a no-op.
select cron.schedule('process-ts-errors', '* * * * *', 'select public.process_typescript_errors_batch()');
