-- Code the TypeScript compiler cannot check within its time limit (TS_COMPILE_TIME_LIMIT_MS for the functions,
-- 5 s by default) is quarantined: its hash is kept here, and the same code is refused at once afterwards
-- (HTTP 422 code_too_complex) instead of tying up a function again. A queued error whose code is quarantined
-- fails at once, without retries.
--
--   select * from ai.compile_quarantine order by last_seen_at desc;
--   delete from ai.compile_quarantine where hash = '…';        -- let that code be compiled again
--   select ai.fail_typescript_error(error_id, claim_token, 'why');   -- the worker: fail now, no retries
--
-- Entries are pruned by ai.housekeeping() after `retention.compile_quarantine` (ai.settings).

create table ai.compile_quarantine (
  hash text primary key,
  chars int not null,
  ms int not null,
  hits int not null default 1,
  created_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);
comment on table ai.compile_quarantine is
  'SHA-256 of (file name, code) the compiler could not check within its time limit: refused without compiling.';
alter table ai.compile_quarantine enable row level security;
grant select, insert, update, delete on ai.compile_quarantine to service_role;

-- Fails a claimed error at once (no retries): for input that can never succeed, like quarantined code.
create function ai.fail_typescript_error(error_id uuid, claim_token uuid, error text) returns text
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set status = 'failed', last_error = left(fail_typescript_error.error, 2000), processed_at = now(),
      claim_token = null, heartbeat_at = null
  where e.id = fail_typescript_error.error_id and e.claim_token = fail_typescript_error.claim_token
    and e.status = 'processing'
  returning e.status;
$$;
comment on function ai.fail_typescript_error(uuid, uuid, text) is
  'Worker API: fail a claimed error now, without retries (input that can never succeed); returns the status or null.';

revoke all on function ai.fail_typescript_error(uuid, uuid, text) from public, anon, authenticated;
grant execute on function ai.fail_typescript_error(uuid, uuid, text) to service_role;
