-- Retry backoff that is capped before it is computed: ai.backoff(attempts, base, cap) is base * 2^(attempts-1),
-- at most cap. The exponent itself is capped (at 30), so no number of attempts overflows `interval` (the
-- embedding queue's old formula failed with "interval out of range" once attempts passed ~40, which
-- max_attempts up to 100 allows). Used by both queues:
--
--   select ai.backoff(3, interval '10 seconds', interval '1 hour');   -- 00:00:40
--   select ai.backoff(99, interval '10 seconds', interval '1 hour');  -- 01:00:00

create function ai.backoff(attempts int, base interval, cap interval) returns interval
language sql immutable parallel safe
set search_path = ''
as $$
  select least(cap, base * pg_catalog.power(2, least(greatest(coalesce(attempts, 1) - 1, 0), 30)));
$$;
comment on function ai.backoff(int, interval, interval) is
  'Retry delay after `attempts` tries: base * 2^(attempts-1), at most cap; never overflows.';

-- The embedding queue's failures, as before (retried until max_attempts, then dead-lettered), with the
-- capped backoff: 10 s, 20 s, 40 s … at most an hour.
create or replace function ai.fail_embedding_jobs(failures jsonb) returns int
language sql
security definer
set search_path = ''
as $$
  with input as (
    select (f ->> 'job_id')::bigint as job_id, (f ->> 'claim_token')::uuid as claim_token,
           left(coalesce(f ->> 'error', 'unknown error'), 2000) as error
    from jsonb_array_elements(failures) f
  ), updated as (
    update ai.embedding_jobs j
    set status = case when j.attempts >= t.max_attempts then 'failed' else 'pending' end,
        run_after = now() + ai.backoff(j.attempts, interval '10 seconds', interval '1 hour'),
        claim_token = null, last_error = input.error, updated_at = now()
    from input, ai.embedding_targets t
    where j.id = input.job_id and j.claim_token = input.claim_token and t.id = j.target_id
    returning j.id
  )
  select count(*)::int from updated;
$$;

revoke all on function ai.backoff(int, interval, interval) from public, anon, authenticated;
grant execute on function ai.backoff(int, interval, interval) to service_role;
