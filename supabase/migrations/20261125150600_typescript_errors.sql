-- typescript_errors: compiler diagnostics waiting for a fix (inserted by `deno task fix --queue` or any client);
-- the pg_cron job `process-ts-errors` hands pending ones to the ts-error-worker edge function in batches
-- (next migration), which writes each result back through ai.record_typescript_error_result().
--
-- status: pending → processing → ai_suggested (a fix is in suggested_fix / analysis_id) or failed (last_error,
-- after max_attempts) ; resolved is set by the user when the error is gone.

create table public.typescript_errors (
  id uuid primary key default gen_random_uuid(),
  owner uuid references auth.users (id) on delete cascade default auth.uid(),
  file_path text not null,
  line int check (line > 0),
  "column" int check ("column" > 0),
  error_code text not null check (error_code ~ '^TS[0-9]+$'),
  error_message text not null,
  code_snippet text not null check (length(code_snippet) <= 100000),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'ai_suggested', 'failed', 'resolved')),
  suggested_fix text,
  analysis_id uuid references public.code_analysis (id) on delete set null,
  attempts int not null default 0,
  max_attempts int not null default 3 check (max_attempts between 1 and 20),
  last_error text,
  claim_token uuid,
  claimed_at timestamptz,
  processed_at timestamptz,
  created_at timestamptz not null default now()
);
comment on table public.typescript_errors is
  'TypeScript diagnostics queued for fixing by the process-ts-errors cron job and the ts-error-worker function.';

create index typescript_errors_pending_idx on public.typescript_errors (created_at) where status = 'pending';
create index typescript_errors_processing_idx on public.typescript_errors (claimed_at) where status = 'processing';
create index typescript_errors_owner_idx on public.typescript_errors (owner, created_at desc);

alter table public.typescript_errors enable row level security;

create policy "Users can read their own queued errors" on public.typescript_errors
  for select to authenticated using (owner = (select auth.uid()));
create policy "Users can queue errors as themselves" on public.typescript_errors
  for insert to authenticated with check (owner = (select auth.uid()) and status = 'pending');
create policy "Users can update their own queued errors" on public.typescript_errors
  for update to authenticated using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
create policy "Users can delete their own queued errors" on public.typescript_errors
  for delete to authenticated using (owner = (select auth.uid()));
