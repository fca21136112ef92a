-- The embedding queue, made resilient (replaces functions of 20261125150100 and 20261125150200):
--
--   select ai.renew_embedding_claims('[{"job_id": 1, "claim_token": "…"}]', interval '30 seconds');  -- heartbeat
--   select * from ai.complete_embedding_jobs(results);   -- written, stale, failed
--   select ai.wake_embedding_worker();                   -- what pg_cron runs every minute
--
--   * claims are short leases renewed while the worker works (ai.renew_embedding_claims; the worker claims with
--     a 30 s visibility timeout and renews it every 10 s), so a crashed worker's jobs are claimed again within
--     about a minute instead of after a 5-minute timeout
--   * one bad row never fails its batch: when a batch's write-back fails (a vector of the wrong size, a trigger of
--     the table refusing the update, …) its rows are written one by one and only the rows that fail are
--     failed, with the reason, and retried with backoff like any failure (`failed` counts them)
--   * the minute's wake-up never waits for the debounce row a long transaction on a registered table holds
--     (the write's own wake-up trigger already skips it)

create function ai.renew_embedding_claims(claims jsonb, visibility_timeout interval default '30 seconds')
returns int
language sql
security definer
set search_path = ''
as $$
  with renewed as (
    update ai.embedding_jobs j set run_after = now() + visibility_timeout, updated_at = now()
    from jsonb_to_recordset(claims) c(job_id bigint, claim_token uuid)
    where j.id = c.job_id and j.claim_token = c.claim_token and j.status = 'processing'
    returning 1
  )
  select count(*)::int from renewed;
$$;
comment on function ai.renew_embedding_claims(jsonb, interval) is
  'Worker API: extend the visibility timeout of jobs still held by their claims ([{"job_id", "claim_token"}]); returns how many.';

drop function ai.complete_embedding_jobs(jsonb);
-- As before: results [{"job_id", "claim_token", "content_hash", "embedding": [...] | null}]; a vector is written
-- only where the row's text still hashes to content_hash, and a job is finished only by the claim that holds
-- it. Returns how many vectors were written, how many offered vectors were stale, and how many could not be
-- written (those jobs are failed with the reason: retried with backoff, dead-lettered after max_attempts).
create function ai.complete_embedding_jobs(results jsonb, out written int, out stale int, out failed int)
language plpgsql
security definer
set search_path = ''
as $$
declare
  target ai.embedding_targets;
  job_ids bigint[];
  written_ids bigint[] := '{}'::bigint[];
  failures jsonb := '[]'::jsonb;
  ids bigint[];
  offered int;
  statement text;
  one jsonb;
begin
  -- Our own write-backs neither wake the worker again nor run the update trigger's comparisons (until the end).
  perform set_config('ai.embedding_worker', 'on', true);
  select array_agg((r ->> 'job_id')::bigint), (count(*) filter (where jsonb_typeof(r -> 'embedding') = 'array'))::int
  into job_ids, offered
  from jsonb_array_elements(results) r;

  for target in
    select t.* from ai.embedding_targets t
    where t.id in (select j.target_id from ai.embedding_jobs j where j.id = any (job_ids))
  loop
    -- The vectors are parsed from the results as sent; the row id comes from the job, never the caller.
    statement := pg_catalog.format(
      'with input as (
         select r.job_id as _ai_job, j.row_id as _ai_row, r.content_hash as _ai_hash, r.embedding as _ai_vec
         from jsonb_to_recordset($1) as r(job_id bigint, claim_token uuid, content_hash text, embedding text)
         cross join lateral (
           select j.row_id from ai.embedding_jobs j
           where j.id = r.job_id and j.claim_token = r.claim_token and j.target_id = $2
           limit 1
         ) j
         where r.embedding is not null
       ), written as (
         update %1$s set %2$I = input._ai_vec::extensions.vector
         from input
         where %3$I = input._ai_row::%4$s and md5((%5$s)::text) = input._ai_hash
         returning input._ai_job
       )
       select coalesce(array_agg(_ai_job), ''{}'') from written',
      target.source, target.embedding_column, target.primary_key, target.primary_key_type, target.content);
    begin
      execute statement into ids using results, target.id;
      written_ids := written_ids || ids;
    exception when others then
      -- Some row cannot be written: write this target's rows one by one; fail only those that fail.
      for one in
        select r from jsonb_array_elements(results) r
        join ai.embedding_jobs j on j.id = (r ->> 'job_id')::bigint and j.target_id = target.id
        where jsonb_typeof(r -> 'embedding') = 'array'
      loop
        begin
          execute statement into ids using jsonb_build_array(one), target.id;
          written_ids := written_ids || ids;
        exception when others then
          failures := failures || jsonb_build_array(jsonb_build_object(
            'job_id', one -> 'job_id', 'claim_token', one -> 'claim_token',
            'error', pg_catalog.format('the vector could not be written: %s', sqlerrm)));
        end;
      end loop;
    end;
  end loop;

  failed := jsonb_array_length(failures);
  if failed > 0 then
    perform ai.fail_embedding_jobs(failures);  -- releases their claims: the cleanup below leaves them alone
  end if;
  written := cardinality(written_ids);
  stale := offered - written - failed;

  with input as (
    select (r ->> 'job_id')::bigint as job_id, (r ->> 'claim_token')::uuid as claim_token,
           jsonb_typeof(r -> 'embedding') = 'array' as has_vector
    from jsonb_array_elements(results) r
  ), finished as (
    delete from ai.embedding_jobs j
    using input
    where j.id = any (job_ids) and j.id = input.job_id and j.claim_token = input.claim_token
      and (not input.has_vector or j.id = any (written_ids))
    returning j.id
  )
  -- Still held by this claim but not written: the text changed without its trigger (e.g. triggers disabled).
  update ai.embedding_jobs j
  set status = 'pending', attempts = 0, run_after = now(), claim_token = null, updated_at = now(),
      last_error = 'the text changed while it was being embedded; queued again'
  from input
  where j.id = any (job_ids) and j.id = input.job_id and j.claim_token = input.claim_token and input.has_vector
    and not j.id = any (written_ids);

  perform set_config('ai.embedding_worker', 'off', true);
end
$$;
comment on function ai.complete_embedding_jobs(jsonb) is
  'Worker API: write vectors back where the text is unchanged (content hash) and finish the jobs; a row that cannot be written fails alone.';

-- pg_cron's wake-up: as before, but it skips the debounce row when a writer holds it.
create or replace function ai.wake_embedding_worker() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not ai.embedding_work_ready() then
    return null;
  end if;
  update ai.worker_wakeups w set last_wake = now()
  where w.worker = (select x.worker from ai.worker_wakeups x where x.worker = 'embed-worker' for update skip locked);
  return ai.invoke_edge_function('embed-worker', '{}'::jsonb);
end
$$;

revoke all on function ai.renew_embedding_claims(jsonb, interval), ai.complete_embedding_jobs(jsonb)
  from public, anon, authenticated;
grant execute on function ai.renew_embedding_claims(jsonb, interval), ai.complete_embedding_jobs(jsonb) to service_role;
