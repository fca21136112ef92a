-- find_similar_errors: past errors most like the query, with their fixes, for fix-code-error's prompt and
-- retrieval-only answers.
--
--   select * from find_similar_errors(
--     query_embedding := <embedding of public.error_embedding_text(code, message, snippet)>,
--     match_count := 5,              -- at most 50
--     min_similarity := 0.5,         -- optional
--     filter_error_code := 'TS2322'  -- optional: only fixes of that diagnostic
--   );
--
-- Only rows with a fix; rejected fixes never. Nearest first; at equal similarity accepted fixes come before
-- plain suggestions, then verified before unverified. Security invoker: a user sees their own rows and the
-- shared knowledge base (RLS). The inner query orders by the distance operator alone, which is what lets the
-- partial HNSW index code_analysis_code_embedding_idx serve it (its WHERE clause matches the index's); the
-- outer query only re-ranks those few candidates. The function has no pinned search_path (a SET clause
-- would stop the planner from inlining it, and then from using the index); every name is schema-qualified.

create function public.find_similar_errors(
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
language sql stable
as $$
  select c.id, c.file_path, c.error_code, c.error_message, c.code_snippet, c.suggested_fix, c.confidence,
         c.llm_model, c.provider, c.status, c.verified, c.created_at, c.similarity
  from (
    select ca.*, 1 - (ca.code_embedding operator(extensions.<=>) query_embedding) as similarity
    from public.code_analysis ca
    where ca.suggested_fix is not null
      and ca.status <> 'rejected'
      and (filter_error_code is null or ca.error_code = filter_error_code)
    order by ca.code_embedding operator(extensions.<=>) query_embedding
    limit greatest(least(match_count, 50), 0) * 4
  ) c
  where c.similarity >= min_similarity
  order by round(c.similarity::numeric, 6) desc, c.status = 'accepted' desc, c.verified desc, c.created_at desc
  limit greatest(least(match_count, 50), 0);
$$;
comment on function public.find_similar_errors(extensions.vector, int, double precision, text) is
  'Past errors nearest to query_embedding that have a non-rejected fix; accepted/verified first at equal similarity; RLS applies.';

-- Search settings for this database (new connections), set here because a SET clause on the functions would
-- stop them being inlined:
--   hnsw.iterative_scan = relaxed_order  filtered HNSW scans (RLS, error-code filter) keep scanning until enough
--                                        rows pass instead of returning fewer than asked (pgvector 0.8)
--   hnsw.ef_search = 100                 recall@10 0.99 instead of 0.955 at the default 40 on 100k embedded
--                                        error texts, p50 still under 5 ms here (bench/vector_search.ts)
do $$
begin
  execute format('alter database %I set hnsw.iterative_scan = %L', current_database(), 'relaxed_order');
  execute format('alter database %I set hnsw.ef_search = %L', current_database(), '100');
end
$$;
