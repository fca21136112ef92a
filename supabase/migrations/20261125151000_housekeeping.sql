-- Housekeeping, daily at 03:17: keep the logs this project makes from growing forever.
--   cron.job_run_details   one row per cron run (pg_cron never deletes them): keep 7 days
--   ai.worker_runs         keep 30 days
--   ai.rate_limit_counters windows older than a day

create function ai.housekeeping() returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  cron_runs int;
  worker_runs int;
  counters int;
begin
  delete from cron.job_run_details where end_time < now() - interval '7 days';
  get diagnostics cron_runs = row_count;
  delete from ai.worker_runs where finished_at < now() - interval '30 days';
  get diagnostics worker_runs = row_count;
  delete from ai.rate_limit_counters where window_start < now() - interval '1 day';
  get diagnostics counters = row_count;
  return jsonb_build_object('cron_runs', cron_runs, 'worker_runs', worker_runs, 'rate_limit_windows', counters);
end
$$;
comment on function ai.housekeeping() is 'Delete old cron run details, worker runs and rate-limit windows; returns counts.';
revoke all on function ai.housekeeping() from public, anon, authenticated;

select cron.schedule('ai-housekeeping', '17 3 * * *', 'select ai.housekeeping()');
