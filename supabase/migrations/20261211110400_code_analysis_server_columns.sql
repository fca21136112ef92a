-- code_analysis: what users may write, enforced with column privileges. A user may store and edit their own
-- error and fix text; whether a fix is verified, its status (the user's verdict is recorded by the
-- code-fix-feedback function, which checks ownership), provider, model, confidence and both embeddings are
-- written by the server only. So no user can pass their own row off as verified, accepted or as the
-- knowledge base, or plant a vector that pulls it into other searches.
--
--   insert into code_analysis (file_path, error_code, error_message, code_snippet, suggested_fix) values (…);
--   update code_analysis set suggested_fix = '…' where id = '…';   -- the row becomes unverified and unjudged
--
-- Shared rows are the knowledge base, which has no owner: a row with an owner is never shared (a constraint).
-- Rows an earlier knowledge-base seed turned into shared copies of the knowledge base while they belonged to
-- a user (see supabase/seed/knowledge_base.sql) are made private again here.

update public.code_analysis set shared = false where shared and owner is not null;
alter table public.code_analysis
  add constraint code_analysis_shared_rows_have_no_owner check (not shared or owner is null);

-- (TRUNCATE, which row-level security does not cover, goes too, with REFERENCES and TRIGGER.)
revoke insert, update, truncate, references, trigger on public.code_analysis from anon, authenticated;
grant insert (id, file_path, error_code, error_message, code_snippet, suggested_fix, metadata)
  on public.code_analysis to authenticated;
grant update (file_path, error_code, error_message, code_snippet, suggested_fix, metadata)
  on public.code_analysis to authenticated;

-- BEFORE UPDATE, per row: a user who edits the error or the fix gets an unverified, unjudged row (the
-- compiler's verdict and their own were about other text). The server's updates pass unchanged.
create function ai._code_analysis_user_update() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user in ('authenticated', 'anon')
     and (new.error_code, new.error_message, new.code_snippet, new.suggested_fix)
         is distinct from (old.error_code, old.error_message, old.code_snippet, old.suggested_fix) then
    new.verified := false;
    new.confidence := null;
    new.status := 'suggested';
    new.feedback_at := null;
  end if;
  return new;
end
$$;
create trigger user_update before update on public.code_analysis
  for each row execute function ai._code_analysis_user_update();
-- A trigger function: called only as a trigger (no EXECUTE is checked then), never directly.
revoke all on function ai._code_analysis_user_update() from public, anon, authenticated, service_role;
