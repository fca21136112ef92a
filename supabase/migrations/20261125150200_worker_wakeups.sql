-- Waking the worker edge functions from SQL, and the schedule that does it.
--
-- pg_net only *wakes* a worker (one small POST); the worker then drains its queue itself in batches, so
-- throughput never depends on pg_net's pacing. Two wake-ups feed the embedding worker:
--   * right after a write that queued embedding jobs (debounced to one request per 2 seconds), so vectors
--     appear within about a second
--   * the pg_cron job `embed-worker`, every minute, which catches anything left behind (retries whose backoff
--     ended, claims whose visibility timeout expired, wake-ups lost to a rollback). On an empty queue it is a
--     cheap no-op and sends nothing.
--
-- The project URL and service key come from Vault, never from SQL text:
--   select vault.create_secret('https://<project-ref>.supabase.co', 'project_url');
--   select vault.create_secret('<service_role key>', 'service_role_key');
-- (The local stack writes both itself.) Each worker records its runs in ai.worker_runs.

-- POST /functions/v1/<function_name> with the service key; returns pg_net's request id.
create function ai.invoke_edge_function(function_name text, body jsonb default '{}'::jsonb, timeout_ms int default 5000)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_key text;
begin
  if function_name !~ '^[a-z0-9][a-z0-9_-]*$' then
    raise exception 'invalid function name "%"', function_name;
  end if;
  select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into service_key from vault.decrypted_secrets where name = 'service_role_key';
  if project_url is null or service_key is null then
    raise exception 'Vault secret % is missing', case when project_url is null then 'project_url' else 'service_role_key' end
      using hint = 'select vault.create_secret(''https://<project-ref>.supabase.co'', ''project_url''); '
                || 'select vault.create_secret(''<service_role key>'', ''service_role_key'');';
  end if;
  return net.http_post(
    url := rtrim(project_url, '/') || '/functions/v1/' || function_name,
    body := body,
    headers := jsonb_build_object('Content-Type', 'application/json', 'Authorization', 'Bearer ' || service_key),
    timeout_milliseconds := timeout_ms
  );
end
$$;
comment on function ai.invoke_edge_function(text, jsonb, int) is
  'POST to an edge function of this project with the service key from Vault (through pg_net); returns the request id.';

-- Debounce state: one row per worker.
create unlogged table ai.worker_wakeups (
  worker text primary key,
  last_wake timestamptz not null default '-infinity'
);
alter table ai.worker_wakeups enable row level security;
insert into ai.worker_wakeups (worker) values ('embed-worker'), ('ts-error-worker');

-- What the workers did, written by the workers themselves (pg_net's response table is not a record).
create table ai.worker_runs (
  id bigint generated always as identity primary key,
  worker text not null,
  started_at timestamptz not null,
  finished_at timestamptz not null default now(),
  claimed int not null default 0,
  succeeded int not null default 0,
  failed int not null default 0,
  stale int not null default 0,
  error text,
  details jsonb not null default '{}'::jsonb
);
comment on table ai.worker_runs is 'One row per worker drain: how many items it claimed, finished, failed.';
create index worker_runs_worker_started_idx on ai.worker_runs (worker, started_at desc);
alter table ai.worker_runs enable row level security;
grant select, insert on ai.worker_runs to service_role;

-- Whether the embedding queue has anything a worker could claim now.
create function ai.embedding_work_ready() returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (select from ai.embedding_jobs where status <> 'failed' and run_after <= now());
$$;

-- Wakes the embedding worker if there is work. Called by pg_cron; raises (visibly, in cron.job_run_details)
-- if the worker cannot be reached because Vault is not set up.
create function ai.wake_embedding_worker() returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not ai.embedding_work_ready() then
    return null;
  end if;
  update ai.worker_wakeups set last_wake = now() where worker = 'embed-worker';
  return ai.invoke_edge_function('embed-worker', '{}'::jsonb);
end
$$;
comment on function ai.wake_embedding_worker() is
  'Wake the embed-worker edge function through pg_net when jobs are ready; a no-op on an empty queue.';

-- Statement trigger on registered tables: wakes the worker at most once per 2 seconds, never blocking a
-- writer (skip locked) and never failing one (a missing Vault secret only warns; pg_cron retries).
create function ai._embedding_wake() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  woken boolean;
begin
  if current_setting('ai.embedding_worker', true) = 'on' or not ai.embedding_work_ready() then
    return null;
  end if;
  with due as (
    select worker from ai.worker_wakeups
    where worker = 'embed-worker' and last_wake < now() - interval '2 seconds'
    for update skip locked
  )
  update ai.worker_wakeups w set last_wake = now() from due where w.worker = due.worker
  returning true into woken;
  if woken then
    begin
      perform ai.invoke_edge_function('embed-worker', '{}'::jsonb);
    exception when others then
      raise warning 'could not wake embed-worker: % (pg_cron will retry)', sqlerrm;
    end;
  end if;
  return null;
end
$$;

revoke all on function ai.invoke_edge_function(text, jsonb, int), ai.embedding_work_ready(),
  ai.wake_embedding_worker() from public, anon, authenticated;
-- A trigger function: called only as a trigger (no EXECUTE is checked then), never directly.
revoke all on function ai._embedding_wake() from public, anon, authenticated, service_role;
grant execute on function ai.embedding_work_ready() to service_role;

select cron.schedule('embed-worker', '* * * * *', 'select ai.wake_embedding_worker()');
