-- The fix answer cache: fix-code-error's (and the MCP fix_code_error tool's) verified answers, kept per owner, so
-- that an identical request — same error, code, file path, error code, model, owner scope — is answered from
-- Postgres without compiling or asking a model again (supabase/functions/_shared/fix_cache.ts).
--
--   select * from ai.fix_cache_lookup(owner := '<uuid>' or null, key := '<sha-256 hex>', error_code := 'TS2322');
--     --> answer (null unless a valid entry exists) | knowledge (the versions a new answer is built on)
--   select ai.fix_cache_store(owner, key, error_code, answer, seen := <knowledge from the lookup>,
--                             analysis_id := <the answer's stored fix>);
--
-- An answer is valid while the knowledge it was built from is unchanged: ai.fix_knowledge keeps a version per
-- (scope, error code), bumped by every change of public.code_analysis that retrieval could see — a new fix, a
-- deleted one, feedback (code-fix-feedback, MCP submit_fix_feedback), a vector written back. A user's answer
-- depends on their own rows and the shared knowledge base; the service role's (owner null, a scope of its own)
-- on every row. An entry records the versions it was built on and is served only while they are current, so a
-- change committed while an answer was being computed invalidates it too (fix_cache_store refuses it). The
-- answer's own stored fix is the one change that does not invalidate it. Entries also expire (expires_at).
--
-- public.fix_cache has RLS: a signed-in user reads only their own entries, writes none; anon nothing; the
-- functions read and write through the two ai functions (service_role), which scope the service role to its own
-- entries (owner null).

create table ai.fix_knowledge (
  -- an owner's id, 'shared' (the knowledge base every user sees) or 'all' (everything the service role sees)
  scope text not null,
  -- '' for rows without an error code
  error_code text not null,
  version bigint not null default 0,
  primary key (scope, error_code)
);
comment on table ai.fix_knowledge is
  'Versions of what retrieval can see, per scope and error code; cached fix answers are valid while they hold.';
alter table ai.fix_knowledge enable row level security;

create table public.fix_cache (
  -- null: the service role's own scope
  owner uuid references auth.users (id) on delete cascade,
  -- sha-256 (hex) of the request: error, code, file path, error code, model, provider, answer format
  key text not null check (key ~ '^[0-9a-f]{64}$'),
  error_code text not null check (error_code ~ '^TS[0-9]+$'),
  answer jsonb not null,
  -- the versions (ai.fix_knowledge) the answer was built on: [owner's, 'shared'] or, for the service role, ['all']
  knowledge bigint[] not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint fix_cache_owner_key unique nulls not distinct (owner, key)
);
comment on table public.fix_cache is
  'Verified fix-code-error answers per owner and request, served while the knowledge they were built on holds.';
create index fix_cache_expires_at_idx on public.fix_cache (expires_at);

alter table public.fix_cache enable row level security;
create policy "Users can read their own cached answers" on public.fix_cache
  for select to authenticated using (owner = (select auth.uid()));
revoke all on public.fix_cache from anon, authenticated;
grant select on public.fix_cache to authenticated;
grant all on public.fix_cache to service_role;

-- The current versions an answer of `owner` for `error_code` depends on.
create function ai.fix_knowledge_of(owner uuid, error_code text)
returns bigint[]
language sql stable
security definer
set search_path = ''
as $$
  select case when fix_knowledge_of.owner is null
    then array[coalesce((select k.version from ai.fix_knowledge k
                         where k.scope = 'all' and k.error_code = coalesce(fix_knowledge_of.error_code, '')), 0)]
    else array[coalesce((select k.version from ai.fix_knowledge k
                         where k.scope = fix_knowledge_of.owner::text
                           and k.error_code = coalesce(fix_knowledge_of.error_code, '')), 0),
               coalesce((select k.version from ai.fix_knowledge k
                         where k.scope = 'shared' and k.error_code = coalesce(fix_knowledge_of.error_code, '')), 0)]
  end;
$$;
comment on function ai.fix_knowledge_of(uuid, text) is
  'The knowledge versions an answer for owner (null: the service role) and error_code is built on.';

-- The cached answer of `owner` (null: the service role's scope, never a user's entry) for `key`, when it has not
-- expired and its knowledge is current; and the current knowledge of `error_code` (for fix_cache_store).
create function ai.fix_cache_lookup(owner uuid, key text, error_code text)
returns table (answer jsonb, knowledge bigint[])
language sql stable
security definer
set search_path = ''
as $$
  select (select c.answer from public.fix_cache c
          where c.owner is not distinct from fix_cache_lookup.owner and c.key = fix_cache_lookup.key
            and c.expires_at > now()
            and c.knowledge = ai.fix_knowledge_of(c.owner, c.error_code)),
         ai.fix_knowledge_of(fix_cache_lookup.owner, fix_cache_lookup.error_code);
$$;
comment on function ai.fix_cache_lookup(uuid, text, text) is
  'A still valid cached fix answer of owner (null: the service role) for key, and the current knowledge of error_code.';

-- Caches `answer` when the knowledge is still what the lookup saw (`seen`), apart from the answer's own stored fix
-- `analysis_id` (which must exist): one new row of the owner's (their version and 'all' one higher). Anything else
-- changed meanwhile: not cached, false. Expired entries of the owner go at the same time.
create function ai.fix_cache_store(
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
  expected bigint[] := case when fix_cache_store.owner is null then array[seen[1] + 1]
                        else array[seen[1] + 1, seen[2]] end;
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
comment on function ai.fix_cache_store(uuid, text, text, jsonb, bigint[], uuid, interval) is
  'Cache a verified fix answer of owner for key if the knowledge is what the lookup saw plus the answer''s own fix.';

-- Statement triggers on public.code_analysis: every scope that can see a changed row gets a new version of its
-- error code — inserted and deleted rows, and updated rows whose change retrieval or an answer could see (old
-- and new values both). Versions are bumped in one order (error code, scope), so concurrent writers never
-- deadlock; a writer holds its versions' rows until it commits, which orders the changes of one scope.
-- Inserted and deleted rows: one function, the transition table named changed_rows by each trigger.
create function ai._fix_knowledge_rows_changed()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ai.fix_knowledge as k (scope, error_code, version)
  select distinct s.scope, coalesce(c.error_code, ''), 1
  from changed_rows c
  cross join lateral (values (c.owner::text), (case when c.shared then 'shared' end), ('all')) s (scope)
  where s.scope is not null
  order by 2, 1
  on conflict (scope, error_code) do update set version = k.version + 1;
  return null;
end
$$;

create function ai._fix_knowledge_updated()
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
  cross join lateral (values (r.owner::text), (case when r.shared then 'shared' end), ('all')) s (scope)
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

create trigger fix_knowledge_insert after insert on public.code_analysis
  referencing new table as changed_rows for each statement execute function ai._fix_knowledge_rows_changed();
create trigger fix_knowledge_delete after delete on public.code_analysis
  referencing old table as changed_rows for each statement execute function ai._fix_knowledge_rows_changed();
create trigger fix_knowledge_update after update on public.code_analysis
  referencing old table as old_rows new table as new_rows for each statement
  execute function ai._fix_knowledge_updated();

revoke all on function ai.fix_knowledge_of(uuid, text), ai.fix_cache_lookup(uuid, text, text),
  ai.fix_cache_store(uuid, text, text, jsonb, bigint[], uuid, interval), ai._fix_knowledge_rows_changed(),
  ai._fix_knowledge_updated()
  from public, anon, authenticated;
grant execute on function ai.fix_knowledge_of(uuid, text), ai.fix_cache_lookup(uuid, text, text),
  ai.fix_cache_store(uuid, text, text, jsonb, bigint[], uuid, interval) to service_role;
