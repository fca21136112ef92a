-- code_snippets: code with a 384-dimension gte-small embedding that is filled and kept current automatically.
--
--   insert into code_snippets (content) values ('export const add = (a: number, b: number) => a + b;');
--   -- a second or so later: embedding is set; change content and it is cleared and re-embedded
--   select * from search_code_snippets(query_embedding := '[...]', match_count := 5);

create table public.code_snippets (
  id uuid primary key default gen_random_uuid(),
  owner uuid references auth.users (id) on delete cascade default auth.uid(),
  content text not null check (length(content) between 1 and 100000),
  language text not null default 'typescript',
  embedding extensions.vector(384),
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table public.code_snippets is
  'Code snippets with gte-small embeddings, filled and kept current by the automatic-embedding queue.';
comment on column public.code_snippets.embedding is
  'Null until the embedding worker has embedded the current content; cleared whenever the content changes.';

-- HNSW, not the guide's `ivfflat (…) with (lists = 100)`: an ivfflat index computes its list centroids from
-- the rows present when it is built, so one built on an empty table has meaningless centroids and poor
-- recall until it is rebuilt. HNSW needs no training data and stays accurate as rows arrive.
create index code_snippets_embedding_idx on public.code_snippets
  using hnsw (embedding extensions.vector_cosine_ops);
create index code_snippets_owner_idx on public.code_snippets (owner);

alter table public.code_snippets enable row level security;

create policy "Users can read their own snippets" on public.code_snippets
  for select to authenticated using (owner = (select auth.uid()));
create policy "Users can add their own snippets" on public.code_snippets
  for insert to authenticated with check (owner = (select auth.uid()));
create policy "Users can change their own snippets" on public.code_snippets
  for update to authenticated using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
create policy "Users can delete their own snippets" on public.code_snippets
  for delete to authenticated using (owner = (select auth.uid()));

select ai.enable_embeddings('public.code_snippets', 'content', 'embedding');

-- Kept inline (pgvector's default storage would move a 1.5 kB vector out of line with the row's text):
-- distance computations then read the table page itself, several times faster for exact scans and HNSW builds.
alter table public.code_snippets alter column embedding set storage plain;

-- Nearest snippets by cosine similarity, as the caller sees them (security invoker: RLS applies).
-- Returns setof so PostgREST callers can chain filters. The inner query orders by the distance operator alone
-- (what lets the HNSW index serve it); the outer one applies min_similarity and restores exact order (the
-- index's iterative scans return relaxed order). Not given a pinned search_path, which would stop the planner
-- from inlining it and using the index; every name in it is schema-qualified instead.
create function public.search_code_snippets(
  query_embedding extensions.vector(384),
  match_count int default 10,
  min_similarity double precision default 0
) returns table (id uuid, content text, language text, metadata jsonb, similarity double precision)
language sql stable
as $$
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
$$;
comment on function public.search_code_snippets(extensions.vector, int, double precision) is
  'Snippets nearest to query_embedding (cosine), at least min_similarity, at most match_count (<= 200); RLS applies.';
