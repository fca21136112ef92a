-- code_analysis: TypeScript errors with their fixes, each with two automatic embeddings: the error (code +
-- message + snippet, what retrieval searches) and the fix. Rows come from fix-code-error (LLM or retrieval),
-- from the built-in knowledge base (seed, shared with every user), and from the cron batch.
--
--   select * from find_similar_errors(query_embedding := ..., match_count := 5);   -- see the next migration
--   update code_analysis set status = 'accepted', feedback_at = now() where id = ...;  -- feedback

create table public.code_analysis (
  id uuid primary key default gen_random_uuid(),
  owner uuid references auth.users (id) on delete cascade default auth.uid(),
  -- shared rows (the built-in knowledge base) are readable by every signed-in user
  shared boolean not null default false,
  file_path text,
  error_code text check (error_code ~ '^TS[0-9]+$'),
  error_message text,
  code_snippet text not null check (length(code_snippet) <= 100000),
  code_embedding extensions.vector(384),
  suggested_fix text check (length(suggested_fix) <= 100000),
  fix_embedding extensions.vector(384),
  confidence real check (confidence between 0 and 1),
  llm_model text,
  provider text,
  verified boolean not null default false,
  status text not null default 'suggested' check (status in ('suggested', 'accepted', 'rejected')),
  feedback_at timestamptz,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table public.code_analysis is
  'TypeScript errors and suggested fixes with embeddings; accepted and verified fixes feed retrieval.';
comment on column public.code_analysis.verified is 'The TypeScript compiler confirmed the fix removes the error and adds none.';
comment on column public.code_analysis.status is 'suggested, or the user''s feedback: accepted / rejected (never retrieved).';
comment on column public.code_analysis.code_embedding is 'Embedding of public.error_embedding_text(error_code, error_message, code_snippet).';

-- The text an error is embedded as. fix-code-error embeds its query with the same function.
create function public.error_embedding_text(error_code text, error_message text, code_snippet text)
returns text
language sql immutable parallel safe
set search_path = ''
as $$
  select concat_ws(E'\n', nullif(concat_ws(' ', error_code, error_message), ''), code_snippet);
$$;
comment on function public.error_embedding_text(text, text, text) is
  'The text a TypeScript error is embedded as: "<code> <message>" then the code.';

-- The searched vector stays inline (see code_snippets): with two 384-d vectors a row passes 2 kB and pgvector's
-- default storage would move it out of line, making exact scans ~6x and index builds ~1.6x slower.
alter table public.code_analysis alter column code_embedding set storage plain;

-- Retrieval only ever looks at rows with a fix that was not rejected: index exactly those (see the next migration).
create index code_analysis_code_embedding_idx on public.code_analysis
  using hnsw (code_embedding extensions.vector_cosine_ops)
  where suggested_fix is not null and status <> 'rejected';
create index code_analysis_owner_idx on public.code_analysis (owner);
create index code_analysis_error_code_idx on public.code_analysis (error_code);

alter table public.code_analysis enable row level security;

create policy "Users can read their own analyses and the shared knowledge base" on public.code_analysis
  for select to authenticated using (shared or owner = (select auth.uid()));
create policy "Users can add their own analyses" on public.code_analysis
  for insert to authenticated with check (owner = (select auth.uid()) and not shared);
create policy "Users can give feedback on their own analyses" on public.code_analysis
  for update to authenticated using (owner = (select auth.uid())) with check (owner = (select auth.uid()) and not shared);
create policy "Users can delete their own analyses" on public.code_analysis
  for delete to authenticated using (owner = (select auth.uid()));

select ai.enable_embeddings('public.code_analysis',
  'public.error_embedding_text(error_code, error_message, code_snippet)', 'code_embedding');
select ai.enable_embeddings('public.code_analysis', 'suggested_fix', 'fix_embedding');
