-- The two search functions, find_similar_errors and search_code_snippets, with a pinned search_path (Supabase's
-- security advisor, splinter's function_search_path_mutable, warned about both) and, for find_similar_errors,
-- retrieval scoped to the caller's own share: the shared knowledge base plus the rows of the owner being
-- served. Same signatures and results as before (see 20261125150500 and 20261125150300):
--
--   select * from find_similar_errors(query_embedding, match_count => 5, min_similarity => 0.5, filter_error_code => 'TS2322');
--   select * from search_code_snippets(query_embedding, match_count => 10);
--
-- Scope. A signed-in user already saw only their rows and the knowledge base (RLS). The service role bypasses
-- RLS, and used to get every tenant's fixes — into `similar` and into LLM prompts — whenever it searched
-- (the CLI or MCP with the service key, queued errors that have no owner). Now every caller gets the shared
-- rows plus the rows whose owner is the user in the request's JWT (auth.uid()): the service role acting for a
-- user passes that user's claims (as the batch worker does); the service role alone gets the rows it stored
-- itself (owner null). Other tenants' rows never appear.
--
-- Speed. A SET clause stops Postgres from inlining a SQL function, which let the planner see the actual
-- query vector and limit and pick the HNSW index. These are PL/pgSQL now, with plan_cache_mode
-- force_custom_plan: each call plans its query with the actual arguments (never a generic plan, which would
-- not know the limit and could prefer a sequential scan), and still uses the partial HNSW index.
-- bench/vector_search.ts times the previous (inlined) definition against this one in the same run.

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
begin
  return query
  select c.id, c.file_path, c.error_code, c.error_message, c.code_snippet, c.suggested_fix, c.confidence,
         c.llm_model, c.provider, c.status, c.verified, c.created_at, c.similarity
  from (
    select ca.id, ca.file_path, ca.error_code, ca.error_message, ca.code_snippet, ca.suggested_fix,
           ca.confidence, ca.llm_model, ca.provider, ca.status, ca.verified, ca.created_at,
           1 - (ca.code_embedding operator(extensions.<=>) query_embedding) as similarity
    from public.code_analysis ca
    where ca.suggested_fix is not null
      and ca.status <> 'rejected'
      and (ca.shared or ca.owner is not distinct from (select auth.uid()))
      and (filter_error_code is null or ca.error_code = filter_error_code)
    order by ca.code_embedding operator(extensions.<=>) query_embedding
    limit greatest(least(match_count, 50), 0) * 4
  ) c
  where c.similarity >= min_similarity
  order by round(c.similarity::numeric, 6) desc, c.status = 'accepted' desc, c.verified desc, c.created_at desc
  limit greatest(least(match_count, 50), 0);
end
$$;
comment on function public.find_similar_errors(extensions.vector, int, double precision, text) is
  'Past errors nearest to query_embedding with a non-rejected fix, from the shared knowledge base and the caller''s own rows; accepted/verified first at equal similarity.';

create or replace function public.search_code_snippets(
  query_embedding extensions.vector(384),
  match_count int default 10,
  min_similarity double precision default 0
) returns table (id uuid, content text, language text, metadata jsonb, similarity double precision)
language plpgsql stable
set search_path = ''
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
begin
  return query
  select c.id, c.content, c.language, c.metadata, c.similarity
  from (
    select s.id, s.content, s.language, s.metadata,
           1 - (s.embedding operator(extensions.<=>) query_embedding) as similarity
    from public.code_snippets s
    order by s.embedding operator(extensions.<=>) query_embedding
    limit greatest(least(match_count, 200), 0)
  ) c
  where c.similarity >= min_similarity
  order by c.similarity desc;
end
$$;
