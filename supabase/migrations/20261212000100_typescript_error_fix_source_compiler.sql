-- typescript_errors.fix_source also says `compiler`: a fix that TypeScript's own code fixes produced and the
-- verification rules accepted (no LLM involved), beside llm, retrieval (a past fix, adapted and verified, or
-- shown as written) and retrieval_fallback (the LLM failed on the last attempt).
alter table public.typescript_errors drop constraint typescript_errors_fix_source_check;
alter table public.typescript_errors add constraint typescript_errors_fix_source_check
  check (fix_source in ('llm', 'compiler', 'retrieval', 'retrieval_fallback'));
comment on column public.typescript_errors.fix_source is
  'Where the stored fix came from: llm, compiler (TypeScript''s own code fixes, verified), retrieval (a past fix, adapted and verified, or as written), retrieval_fallback (the LLM failed on the last attempt).';
