-- Expired fix answers go in an hourly sweep instead of at every store.
--
-- Why: ai.fix_cache_store deleted the owner's expired entries each time it stored an answer, with
-- `owner is not distinct from $1 and expires_at <= now()`, which no index answers: each verified fix read through
-- the owner's entries (the whole cache for the service role), about a fifth of the store's time under load
-- (pg_stat_statements, bench/functions.ts: 0.19 of 0.77 ms), and growing with the cache. An expired entry is never
-- served (ai.fix_cache_lookup checks expires_at) and storing the same key again overwrites it, so deleting it is
-- housekeeping: one statement an hour through the expires_at index.

create or replace function ai.fix_cache_store(
  owner uuid,
  key text,
  error_code text,
  answer jsonb,
  seen bigint[],
  analysis_id uuid,
  ttl interval default '1 day'
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- the answer's own stored fix is one change of the owner's scope; anything else invalidates
  expected bigint[] := array[seen[1] + 1, seen[2]];
  current_knowledge bigint[] := ai.fix_knowledge_of(fix_cache_store.owner, fix_cache_store.error_code);
begin
  if fix_cache_store.key is null or fix_cache_store.error_code is null or fix_cache_store.answer is null
     or seen is null or ttl is null or ttl <= interval '0' then
    raise exception 'fix_cache_store needs a key, an error code, an answer, the knowledge seen and a positive ttl';
  end if;
  if current_knowledge is distinct from expected or not exists (
    select from public.code_analysis a
    where a.id = fix_cache_store.analysis_id and a.owner is not distinct from fix_cache_store.owner
      and a.error_code = fix_cache_store.error_code
  ) then
    return false;
  end if;
  insert into public.fix_cache as c (owner, key, error_code, answer, knowledge, expires_at)
  values (fix_cache_store.owner, fix_cache_store.key, fix_cache_store.error_code, fix_cache_store.answer,
          current_knowledge, now() + fix_cache_store.ttl)
  on conflict on constraint fix_cache_owner_key do update
    set error_code = excluded.error_code, answer = excluded.answer, knowledge = excluded.knowledge,
        created_at = now(), expires_at = excluded.expires_at;
  return true;
end
$$;

create function ai.purge_expired_fix_answers() returns bigint
language sql
security definer
set search_path = ''
as $$
  with gone as (delete from public.fix_cache c where c.expires_at <= now() returning 1)
  select count(*) from gone;
$$;
comment on function ai.purge_expired_fix_answers() is
  'Delete expired fix answers (never served; pg_cron''s job fix-cache-expiry runs it hourly); returns how many.';
revoke all on function ai.purge_expired_fix_answers() from public, anon, authenticated, service_role;

select cron.schedule('fix-cache-expiry', '41 * * * *', 'select ai.purge_expired_fix_answers()');
