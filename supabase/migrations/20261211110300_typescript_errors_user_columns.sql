-- typescript_errors: what a user may write, enforced with column privileges (not only policies). A user
-- queues errors and may edit their input; everything the queue decides — status (a user may only mark an error
-- resolved), attempts, max_attempts, claims, scheduling, results, created_at — is the server's.
--
--   insert into typescript_errors (file_path, line, "column", error_code, error_message, code_snippet)
--   values ('src/a.ts', 3, 7, 'TS2322', 'Type ''string'' is not assignable to type ''number''.', '…');
--   update typescript_errors set status = 'resolved' where id = '…';   -- the only status a user sets
--   update typescript_errors set code_snippet = '…' where id = '…';    -- an edit queues the error afresh
--
-- A user has at most `typescript_errors.max_queued_per_user` errors pending or processing (ai.settings,
-- default 1000); an insert (or an edit that queues an error again) past it fails with SQLSTATE 54000 and
-- changes nothing. Rows without an owner (queued by the service role) are not capped.

insert into ai.settings (name, value, kind, description) values
  ('typescript_errors.max_queued_per_user', '1000', 'integer',
   'At most this many errors of one user pending or processing in typescript_errors; more are refused.')
on conflict (name) do nothing;

-- Column privileges: the table-level INSERT/UPDATE Supabase grants by default would let a user name any
-- column. (TRUNCATE, which row-level security does not cover, goes too, with REFERENCES and TRIGGER.)
revoke insert, update, truncate, references, trigger on public.typescript_errors from anon, authenticated;
grant insert (id, file_path, line, "column", error_code, error_message, code_snippet) on public.typescript_errors
  to authenticated;
grant update (file_path, line, "column", error_code, error_message, code_snippet, status) on public.typescript_errors
  to authenticated;

-- BEFORE UPDATE, per row: what a user's update may do to the queue's own columns (service_role and postgres
-- are the queue and pass unchanged).
create function ai._typescript_errors_user_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user not in ('authenticated', 'anon') then
    return new;
  end if;
  if new.status is distinct from old.status and new.status <> 'resolved' then
    raise exception 'status % cannot be set by a user: only ''resolved''', new.status
      using errcode = '42501',
            hint = 'Mark an error resolved when it is gone; the queue sets every other status itself.';
  end if;
  if (new.file_path, new.line, new."column", new.error_code, new.error_message, new.code_snippet)
     is distinct from
     (old.file_path, old.line, old."column", old.error_code, old.error_message, old.code_snippet)
     and new.status <> 'resolved' then
    -- Edited input: a fix (or a claim working on it) of the old text would be stale. Queued again afresh.
    new.status := 'pending';
    new.attempts := 0;
    new.claim_token := null;
    new.claimed_at := null;
    new.last_error := null;
    new.suggested_fix := null;
    new.analysis_id := null;
    new.processed_at := null;
    new.run_after := now();
    new.heartbeat_at := null;
    new.fix_source := null;
  end if;
  return new;
end
$$;
create trigger user_update before update on public.typescript_errors
  for each row execute function ai._typescript_errors_user_update();

-- AFTER INSERT / UPDATE, per statement: the per-user cap on queued errors. An advisory lock per owner makes
-- concurrent inserts of one user count one after the other (each statement's count sees the rows committed
-- before it took the lock), so together they can never pass the cap.
create function ai._typescript_errors_cap() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  cap bigint := ai.setting('typescript_errors.max_queued_per_user')::bigint;
  owner_id uuid;
  queued bigint;
begin
  -- Updates are capped when a user makes them (an edit queues an error again); the queue's own updates
  -- (claims, results, retries) never fail on the cap. (current_user is this function's owner here: the role
  -- the caller set is in the `role` setting.)
  if TG_OP = 'UPDATE' and current_setting('role') not in ('authenticated', 'anon') then
    return null;
  end if;
  for owner_id in select distinct c.owner from changed c where c.owner is not null and c.status = 'pending' order by 1 loop
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('ai.typescript_errors.cap:' || owner_id, 0));
    select count(*) into queued from public.typescript_errors e
    where e.owner = owner_id and e.status in ('pending', 'processing');
    if queued > cap then
      raise exception 'too many queued TypeScript errors: % pending or processing, at most % per user', queued, cap
        using errcode = '54000',
              hint = 'Wait for the batch fixer to work them off, or delete or resolve some first.';
    end if;
  end loop;
  return null;
end
$$;
create trigger cap_on_insert after insert on public.typescript_errors
  referencing new table as changed for each statement execute function ai._typescript_errors_cap();
create trigger cap_on_update after update on public.typescript_errors
  referencing new table as changed for each statement execute function ai._typescript_errors_cap();

-- Trigger functions: called only as triggers (no EXECUTE is checked then), never directly.
revoke all on function ai._typescript_errors_user_update(), ai._typescript_errors_cap()
  from public, anon, authenticated, service_role;
