-- Handing claimed TypeScript errors back untouched, for a worker whose time budget runs out mid-batch.
--
-- A worker claims a batch (ai.claim_typescript_errors) and works on it error by error; before each one it checks
-- its time budget (hosted Edge Runtime requests are bounded). The errors it has not started are released:
-- pending again at once, claim cleared, attempts unchanged (an attempt counts only when work starts:
-- ai.start_typescript_error). The worker then starts its next slice itself.
--
--   select ai.release_typescript_error('<error id>', '<claim token>');   -- 'pending', or null if the claim is gone

create function ai.release_typescript_error(error_id uuid, claim_token uuid) returns text
language sql
security definer
set search_path = ''
as $$
  update public.typescript_errors e
  set status = 'pending', claim_token = null, heartbeat_at = null
  where e.id = release_typescript_error.error_id and e.claim_token = release_typescript_error.claim_token
    and e.status = 'processing'
  returning e.status;
$$;
comment on function ai.release_typescript_error(uuid, uuid) is
  'Worker API: hand back a claimed error the worker did not start (its time budget ran out): pending again, attempts unchanged; null when the claim is gone.';

revoke all on function ai.release_typescript_error(uuid, uuid) from public, anon, authenticated;
grant execute on function ai.release_typescript_error(uuid, uuid) to service_role;
