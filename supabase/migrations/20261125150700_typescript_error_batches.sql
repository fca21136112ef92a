-- The batch fixer: pg_cron's `process-ts-errors` job (every 10 minutes, as in the guide) claims pending
-- TypeScript errors and wakes the ts-error-worker edge function with the claim; the worker fixes each error
-- (fix-code-error's flow), writes each result back with ai.record_typescript_error_result(), and keeps claiming
-- with ai.claim_typescript_errors() until the queue is empty or its time budget is spent.
--
--   select public.process_typescript_errors_batch();          -- what the cron job runs; returns what it did
--   select public.process_typescript_errors_batch(batch_size := 50);
--
-- The guide's version reads HTTP results synchronously, which pg_net cannot do. Here a claim is a status
-- change plus a claim token, taken with `for update skip locked`: overlapping runs never take the same error,
-- a result is accepted only from the claim that holds the error, and an error whose claim is older than
-- stale_after (a crashed worker) goes back to pending, or to failed once it has used its attempts.

-- Claims up to batch_size pending errors under one new claim token; returns them.
create function ai.claim_typescript_errors(batch_size int default 10, stale_after interval default '15 minutes')
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

  -- Reclaim stale claims: back to pending, or failed when no attempts are left.
  update public.typescript_errors e
  set status = case when e.attempts >= e.max_attempts then 'failed' else 'pending' end,
      last_error = case when e.attempts >= e.max_attempts
                        then pg_catalog.format('no result after %s attempts (last claim expired)', e.attempts)
                        else e.last_error end,
      processed_at = case when e.attempts >= e.max_attempts then now() else e.processed_at end,
      claim_token = null
  where e.status = 'processing' and e.claimed_at < now() - stale_after;

  return query
  with ready as (
    select e.id from public.typescript_errors e
    where e.status = 'pending'
    order by e.created_at, e.id
    limit batch_size
    for update skip locked
  )
  update public.typescript_errors e
  set status = 'processing', attempts = e.attempts + 1, claim_token = token, claimed_at = now()
  from ready where e.id = ready.id
  returning e.*;
end
$$;
comment on function ai.claim_typescript_errors(int, interval) is
  'Worker API: claim pending TypeScript errors (skip locked) under a new claim token; reclaims stale claims first.';

-- The worker's write-back. error null: the fix is stored (ai_suggested). error given: back to pending for the
-- next run, or failed once max_attempts are used. Ignored (returns null) unless claim_token still holds the row.
create function ai.record_typescript_error_result(
  error_id uuid,
  claim_token uuid,
  suggested_fix text default null,
  analysis_id uuid default null,
  error text default null
) returns text
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set status = case when record_typescript_error_result.error is null then 'ai_suggested'
                    when e.attempts >= e.max_attempts then 'failed'
                    else 'pending' end,
      suggested_fix = coalesce(record_typescript_error_result.suggested_fix, e.suggested_fix),
      analysis_id = coalesce(record_typescript_error_result.analysis_id, e.analysis_id),
      last_error = left(record_typescript_error_result.error, 2000),
      processed_at = now(),
      claim_token = null
  where e.id = record_typescript_error_result.error_id
    and e.claim_token = record_typescript_error_result.claim_token
    and e.status = 'processing'
  returning e.status;
$$;
comment on function ai.record_typescript_error_result(uuid, uuid, text, uuid, text) is
  'Worker API: store one error''s outcome (fix or failure) if the caller''s claim still holds it; returns the new status.';

-- What the cron job runs: claim a batch and wake the worker with it. A no-op when nothing is pending.
create function public.process_typescript_errors_batch(batch_size int default 10, stale_after interval default '15 minutes')
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
  update ai.worker_wakeups set last_wake = now() where worker = 'ts-error-worker';
  request_id := ai.invoke_edge_function('ts-error-worker', jsonb_build_object('claim_token', token), 10000);
  return jsonb_build_object('claimed', claimed, 'claim_token', token, 'request_id', request_id);
end
$$;
comment on function public.process_typescript_errors_batch(int, interval) is
  'Claim up to batch_size pending TypeScript errors and hand them to the ts-error-worker function (pg_cron: process-ts-errors).';

revoke all on function ai.claim_typescript_errors(int, interval),
  ai.record_typescript_error_result(uuid, uuid, text, uuid, text),
  public.process_typescript_errors_batch(int, interval) from public, anon, authenticated;
grant execute on function ai.claim_typescript_errors(int, interval),
  ai.record_typescript_error_result(uuid, uuid, text, uuid, text),
  public.process_typescript_errors_batch(int, interval) to service_role;

select cron.schedule('process-ts-errors', '*/10 * * * *', 'select public.process_typescript_errors_batch()');
