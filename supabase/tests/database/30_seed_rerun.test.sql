-- Re-running the knowledge-base seed (supabase/seed/knowledge_base.sql, as `db push --include-seed` does on a
-- database that already has users) touches the knowledge base only: users' own rows — even one that claims a
-- knowledge-base id in its metadata — keep their text, stay private and keep their verdicts; and on a database
-- whose knowledge base is current it changes no row at all.
begin;
select plan(7);

insert into auth.users (id, email) values ('5eed0000-0000-4000-8000-000000000001', 'seed-rerun@example.test');
insert into public.code_analysis (id, owner, error_code, error_message, code_snippet, suggested_fix, provider,
                                  llm_model, status, metadata) values
  ('5eed0000-0000-4000-8000-0000000000a1', '5eed0000-0000-4000-8000-000000000001', 'TS2322', 'my own message',
   'const mine: number = "1";', 'const mine: number = 1;', 'openai-compatible', 'fake-model', 'rejected', '{}'),
  ('5eed0000-0000-4000-8000-0000000000a2', '5eed0000-0000-4000-8000-000000000001', 'TS2322', 'looks like the kb',
   'const other = 1;', 'const other = 2;', 'knowledge-base', 'knowledge-base', 'suggested',
   '{"kb_id": "ts2322-string-literal-for-number"}');
create temp table before_rows as select * from public.code_analysis where owner = '5eed0000-0000-4000-8000-000000000001';
create temp table kb_before as select id, xmin::text as row_xmin from public.code_analysis where owner is null and shared;

select cmp_ok((select count(*)::int from kb_before), '>=', 54, 'The stack''s seed loaded the knowledge base.');
-- An entry the database does not have yet (as when the knowledge base grows), whose id a user row carries.
delete from public.code_analysis where owner is null and metadata ->> 'kb_id' = 'ts2322-string-literal-for-number';

\ir ../../seed/knowledge_base.sql

select is_empty(
  $$select id from public.code_analysis c where owner = '5eed0000-0000-4000-8000-000000000001'
    except select id from before_rows b
    where (b.error_message, b.code_snippet, b.suggested_fix, b.shared, b.verified, b.status, b.provider, b.metadata)
          is not distinct from
          ((select (c2.error_message, c2.code_snippet, c2.suggested_fix, c2.shared, c2.verified, c2.status,
                    c2.provider, c2.metadata) from public.code_analysis c2 where c2.id = b.id))$$,
  'A user''s rows keep their text, verdict, provider and metadata.');
select is((select count(*)::int from public.code_analysis where owner = '5eed0000-0000-4000-8000-000000000001' and not shared),
  2, 'A user''s rows stay private (not shared).');
select is((select status from public.code_analysis where id = '5eed0000-0000-4000-8000-0000000000a1'), 'rejected',
  'A rejected fix stays rejected (never retrieved).');
select is_empty(
  $$select k.id from kb_before k join public.code_analysis c on c.id = k.id where c.xmin::text <> k.row_xmin$$,
  'A current knowledge base is left untouched: re-running the seed writes no row.');
select is((select count(*)::int from public.code_analysis where owner is null and shared), (select count(*)::int from kb_before),
  'No knowledge-base row is added twice.');
select is((select count(*)::int from public.code_analysis
           where owner is null and provider = 'knowledge-base' and metadata ->> 'kb_id' = 'ts2322-string-literal-for-number'),
  1, 'A user row with a knowledge-base id does not stop or duplicate the real entry.');

select * from finish();
rollback;
