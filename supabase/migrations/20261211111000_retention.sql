-- Retention: the daily housekeeping job (pg_cron's ai-housekeeping, 03:17) prunes what this project keeps,
-- by ages set in ai.settings (defaults below; change them with an update, they are read at each run), and users
-- may delete their own LLM call logs.
--
--   select ai.housekeeping();                      -- what the job runs; returns how many rows each step deleted
--   update ai.settings set value = '7 days' where name = 'retention.llm_responses';
--   delete from llm_responses where id = '…';     -- as a signed-in user: your own calls only
--
--   retention.llm_responses               30 days   LLM call logs (prompts hold code, other users' fixes too)
--   retention.code_analysis_unjudged      90 days   stored fixes nobody accepted or rejected (never the knowledge base)
--   retention.typescript_errors_finished  30 days   queued errors fixed (ai_suggested) or resolved
--   retention.dead_letters                30 days   failed embedding jobs and failed queued errors (retry them first:
--                                                   ai.retry_failed_embeddings(), ai.retry_failed_typescript_errors())
--   retention.cron_runs                   7 days    cron.job_run_details (pg_cron never deletes them)
--   retention.worker_runs                 30 days   ai.worker_runs
--   retention.rate_limit_windows          1 day     ai.rate_limit_counters
--   retention.token_usage                 2 days    ai.token_usage hours (budgets look back 24 hours)
--   retention.compile_quarantine          30 days   ai.compile_quarantine entries not seen since
--
-- Deleting LLM logs (by a user or by retention) never gives tokens back: budgets count ai.token_usage.

insert into ai.settings (name, value, kind, description) values
  ('retention.llm_responses', '30 days', 'interval', 'LLM call logs older than this are deleted.'),
  ('retention.code_analysis_unjudged', '90 days', 'interval',
   'Stored fixes nobody accepted or rejected (never the knowledge base) older than this are deleted.'),
  ('retention.typescript_errors_finished', '30 days', 'interval',
   'Queued errors that were fixed (ai_suggested) or resolved longer ago than this are deleted.'),
  ('retention.dead_letters', '30 days', 'interval',
   'Failed embedding jobs and failed queued errors older than this are deleted.'),
  ('retention.cron_runs', '7 days', 'interval', 'cron.job_run_details rows older than this are deleted.'),
  ('retention.worker_runs', '30 days', 'interval', 'ai.worker_runs rows older than this are deleted.'),
  ('retention.rate_limit_windows', '1 day', 'interval', 'Rate-limit windows older than this are deleted.'),
  ('retention.token_usage', '2 days', 'interval', 'Hourly token counts older than this are deleted.'),
  ('retention.compile_quarantine', '30 days', 'interval', 'Quarantined code not seen for this long is released.')
on conflict (name) do nothing;

-- Users may delete their own LLM calls; nothing else of the table is theirs to change. (TRUNCATE, which
-- row-level security does not cover, is taken from the API roles on every table of this project.)
create policy "Users can delete their own LLM calls" on public.llm_responses
  for delete to authenticated using (owner = (select auth.uid()));
revoke insert, update on public.llm_responses from anon, authenticated;
revoke truncate, references, trigger on public.llm_responses, public.code_snippets from anon, authenticated;

create or replace function ai.housekeeping() returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  keep interval;
  counts jsonb := '{}'::jsonb;
  n bigint;
begin
  keep := ai.setting('retention.cron_runs')::interval;
  delete from cron.job_run_details where end_time < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('cron_runs', n);

  keep := ai.setting('retention.worker_runs')::interval;
  delete from ai.worker_runs where finished_at < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('worker_runs', n);

  keep := ai.setting('retention.rate_limit_windows')::interval;
  delete from ai.rate_limit_counters where window_start < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('rate_limit_windows', n);

  keep := greatest(ai.setting('retention.token_usage')::interval, interval '25 hours');  -- never what budgets read
  delete from ai.token_usage where hour < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('token_usage_hours', n);
  delete from ai.token_reservations where expires_at < now();

  keep := ai.setting('retention.llm_responses')::interval;
  delete from public.llm_responses where created_at < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('llm_responses', n);

  keep := ai.setting('retention.code_analysis_unjudged')::interval;
  delete from public.code_analysis
  where status = 'suggested' and feedback_at is null and not shared and created_at < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('code_analysis_unjudged', n);

  keep := ai.setting('retention.typescript_errors_finished')::interval;
  delete from public.typescript_errors
  where status in ('ai_suggested', 'resolved') and coalesce(processed_at, created_at) < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('typescript_errors_finished', n);

  keep := ai.setting('retention.dead_letters')::interval;
  delete from public.typescript_errors where status = 'failed' and coalesce(processed_at, created_at) < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('typescript_errors_failed', n);
  delete from ai.embedding_jobs where status = 'failed' and updated_at < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('embedding_dead_letters', n);

  keep := ai.setting('retention.compile_quarantine')::interval;
  delete from ai.compile_quarantine where last_seen_at < now() - keep;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('compile_quarantine', n);
  return counts;
end
$$;
comment on function ai.housekeeping() is
  'Delete what is older than its retention (ai.settings retention.*): logs, unjudged fixes, finished queue rows, dead letters; returns counts.';

-- Indexes the pruning (and the budgets' look-back) use.
create index llm_responses_created_idx on public.llm_responses (created_at);
create index code_analysis_unjudged_idx on public.code_analysis (created_at)
  where status = 'suggested' and feedback_at is null and not shared;
create index typescript_errors_finished_idx on public.typescript_errors (coalesce(processed_at, created_at))
  where status in ('ai_suggested', 'resolved', 'failed');
