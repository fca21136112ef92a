-- What code_analysis.verified means since fixes are checked by named rules (supabase/functions/_shared/
-- verify_fix.ts): the error is fixed AND the user's code is kept. Only the column comments change; the fix's
-- source (compiler, retrieval, llm) and the rules' verdict are in metadata.
--
--   select verified, provider, metadata ->> 'source', metadata ->> 'verification' from public.code_analysis;

comment on column public.code_analysis.verified is
  'Every verification rule passed for this code: the error is gone, nothing new, nothing silenced (any, casts '
  'through unknown/never, @ts-ignore) and no declaration, statement or code outside the error''s region lost.';
comment on column public.code_analysis.provider is
  'Who made the fix: the LLM provider, "typescript" for the compiler''s own code fix, null for an adapted past fix.';
