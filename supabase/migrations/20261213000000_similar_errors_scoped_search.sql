-- find_similar_errors searches its two scopes separately, each the fastest way its size allows, instead of one
-- HNSW scan of every tenant's rows filtered down to the caller's:
--
--   the shared knowledge base   its own partial HNSW index (code_analysis_shared_embedding_idx): every row it
--                               returns is in scope, so the scan stops as soon as it has enough;
--   the caller's own rows       (auth.uid()'s, or the service role's own: owner null) — when there are few of
--                               them, an exact search: their ids from a small partial btree index, their
--                               distances computed, the nearest kept (recall 1, no graph walk); when there are
--                               many, the HNSW index of all retrievable rows, filtered to the owner (a large
--                               share of the rows: the iterative scan finds enough quickly).
--
-- Why: the previous definition filtered one scan of all rows with `shared or owner is not distinct from uid`;
-- at 100k rows the planner answered it with a sequential scan and a sort for the service role and for users
-- alike (p50 84-202 ms), and an HNSW scan through RLS walks far through other tenants' rows for a user's few
-- (slow, and relaxed: results can be missed). The result is the same set of rows, ranked the same way; see
-- bench/similar_search.ts (service role, and a user with 1 % of the rows, each against the plain HNSW query on
-- the same rows, recall against the exact answer, and the sequential scans Postgres did: none).
--
-- "Few" is the planner's choice for the own-rows branch, from the statistics on owner with the caller's actual
-- id (plan_cache_mode force_custom_plan): the partial owner index and a sort when it expects few rows, the HNSW
-- index when it expects many (pgvector 0.8 costs a filtered HNSW scan by its selectivity).

create index code_analysis_shared_embedding_idx on public.code_analysis
  using hnsw (code_embedding extensions.vector_cosine_ops)
  where shared and suggested_fix is not null and status <> 'rejected';
create index code_analysis_owner_retrievable_idx on public.code_analysis (owner)
  where not shared and suggested_fix is not null and status <> 'rejected';

create or replace function public.find_similar_errors(
  query_embedding extensions.vector(384),
  match_count int default 5,
  min_similarity double precision default 0,
  filter_error_code text default null
) returns table (
  id uuid,
  file_path text,
  error_code text,
  error_message text,
  code_snippet text,
  suggested_fix text,
  confidence real,
  llm_model text,
  provider text,
  status text,
  verified boolean,
  created_at timestamptz,
  similarity double precision
)
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
  k constant int := greatest(least(match_count, 50), 0);
  caller constant uuid := (select auth.uid());
begin
  -- Candidates per scope: 2k, so that rows tied on similarity can be ranked accepted/verified first.
  return query
  select c.id, c.file_path, c.error_code, c.error_message, c.code_snippet, c.suggested_fix, c.confidence,
         c.llm_model, c.provider, c.status, c.verified, c.created_at, c.similarity
  from (
    (select ca.id, ca.file_path, ca.error_code, ca.error_message, ca.code_snippet, ca.suggested_fix,
            ca.confidence, ca.llm_model, ca.provider, ca.status, ca.verified, ca.created_at,
            1 - (ca.code_embedding operator(extensions.<=>) query_embedding) as similarity
     from public.code_analysis ca
     where ca.shared and ca.suggested_fix is not null and ca.status <> 'rejected'
       and (filter_error_code is null or ca.error_code = filter_error_code)
     order by ca.code_embedding operator(extensions.<=>) query_embedding
     limit k * 2)
    union all
    (select ca.id, ca.file_path, ca.error_code, ca.error_message, ca.code_snippet, ca.suggested_fix,
            ca.confidence, ca.llm_model, ca.provider, ca.status, ca.verified, ca.created_at,
            1 - (ca.code_embedding operator(extensions.<=>) query_embedding) as similarity
     from public.code_analysis ca
     where (ca.owner = caller or (caller is null and ca.owner is null))
       and not ca.shared and ca.suggested_fix is not null and ca.status <> 'rejected'
       and (filter_error_code is null or ca.error_code = filter_error_code)
     order by ca.code_embedding operator(extensions.<=>) query_embedding
     limit k * 2)
  ) c
  where c.similarity >= min_similarity
  order by round(c.similarity::numeric, 6) desc, c.status = 'accepted' desc, c.verified desc, c.created_at desc
  limit k;
end
$$;
comment on function public.find_similar_errors(extensions.vector, int, double precision, text) is
  'Past errors nearest to query_embedding with a non-rejected fix, from the shared knowledge base and the caller''s own rows; accepted/verified first at equal similarity.';
