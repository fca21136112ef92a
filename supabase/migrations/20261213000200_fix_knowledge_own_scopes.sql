-- The fix answer cache's knowledge follows what retrieval reads (20261213000000_similar_errors_scoped_search.sql):
-- an answer of the service role is built from the knowledge base and the service role's own rows (owner null),
-- never from a tenant's, so its scope is those rows ('service', with 'shared') instead of every row ('all').
--
-- Why: every insert into public.code_analysis also bumped the one ('all', error code) version, so concurrent fixes
-- of one error code by different users queued on that row's lock until each committed (bench/functions.ts, 20
-- users fixing TS2322: the insert took 2.0–2.8 ms of Postgres time each, most of it waiting). Now a change bumps
-- only the versions of the scopes that can see it: its owner's (or 'service'), and 'shared' for the knowledge base.
-- Cached answers of the service role built on the old scope no longer match and are computed again.

-- The scope of an owner's rows: their id, or 'service' for rows without an owner (the service role's own).
create function ai._fix_knowledge_scope(owner uuid)
returns text
language sql immutable
set search_path = ''
as $$
  select coalesce(owner::text, 'service');
$$;
comment on function ai._fix_knowledge_scope(uuid) is
  'The fix answer cache''s knowledge scope of an owner''s rows (''service'' for rows without an owner).';
revoke all on function ai._fix_knowledge_scope(uuid) from public, anon, authenticated;

create or replace function ai._fix_knowledge_rows_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ai.fix_knowledge as k (scope, error_code, version)
  select distinct s.scope, coalesce(c.error_code, ''), 1
  from changed_rows c
  cross join lateral (values (ai._fix_knowledge_scope(c.owner)), (case when c.shared then 'shared' end)) s (scope)
  where s.scope is not null
  order by 2, 1
  on conflict (scope, error_code) do update set version = k.version + 1;
  return null;
end
$$;

create or replace function ai._fix_knowledge_updated()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ai.fix_knowledge as k (scope, error_code, version)
  select distinct s.scope, coalesce(r.error_code, ''), 1
  from old_rows o
  join new_rows n on n.id = o.id
  cross join lateral (values (o.owner, o.shared, o.error_code), (n.owner, n.shared, n.error_code)) r (owner, shared, error_code)
  cross join lateral (values (ai._fix_knowledge_scope(r.owner)), (case when r.shared then 'shared' end)) s (scope)
  where s.scope is not null
    and (o.owner is distinct from n.owner or o.shared is distinct from n.shared
         or o.error_code is distinct from n.error_code or o.error_message is distinct from n.error_message
         or o.code_snippet is distinct from n.code_snippet or o.suggested_fix is distinct from n.suggested_fix
         or o.status is distinct from n.status or o.verified is distinct from n.verified
         or o.feedback_at is distinct from n.feedback_at or o.confidence is distinct from n.confidence
         or (o.code_embedding is null) <> (n.code_embedding is null)
         or o.code_embedding operator(extensions.<>) n.code_embedding)
  order by 2, 1
  on conflict (scope, error_code) do update set version = k.version + 1;
  return null;
end
$$;

create or replace function ai.fix_knowledge_of(owner uuid, error_code text)
returns bigint[]
language sql stable
security definer
set search_path = ''
as $$
  select array[coalesce((select k.version from ai.fix_knowledge k
                         where k.scope = ai._fix_knowledge_scope(fix_knowledge_of.owner)
                           and k.error_code = coalesce(fix_knowledge_of.error_code, '')), 0),
               coalesce((select k.version from ai.fix_knowledge k
                         where k.scope = 'shared' and k.error_code = coalesce(fix_knowledge_of.error_code, '')), 0)];
$$;
comment on function ai.fix_knowledge_of(uuid, text) is
  'The knowledge versions an answer for owner (null: the service role''s own rows) and error_code is built on: the owner''s and the knowledge base''s.';

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
  delete from public.fix_cache c where c.owner is not distinct from fix_cache_store.owner and c.expires_at <= now();
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

comment on table ai.fix_knowledge is
  'Versions of what retrieval can see, per scope (an owner''s id, ''service'' for rows without an owner, ''shared'' for the knowledge base) and error code; cached fix answers are valid while they hold.';

delete from ai.fix_knowledge where scope = 'all';
