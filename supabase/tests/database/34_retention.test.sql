-- Retention (migration 20261211111000): ai.housekeeping() prunes old LLM logs, fixes nobody judged, finished
-- queue rows and dead letters by the ages in ai.settings, and keeps everything younger or still wanted (judged
-- fixes, the knowledge base, queued work). Users delete their own LLM logs, nobody else's, and get no tokens
-- back by doing so.
begin;
select plan(20);

insert into auth.users (id, email) values
  ('de100000-0000-4000-8000-00000000000a', 'retention-a@example.test'),
  ('de100000-0000-4000-8000-00000000000b', 'retention-b@example.test');

insert into public.llm_responses (id, owner, function_name, provider, model, prompt, prompt_tokens, latency_ms, status, created_at) values
  ('de200000-0000-4000-8000-000000000001', 'de100000-0000-4000-8000-00000000000a', 'custom-llm', 'p', 'm', '[]', 10, 1, 'success', now() - interval '31 days'),
  ('de200000-0000-4000-8000-000000000002', 'de100000-0000-4000-8000-00000000000a', 'custom-llm', 'p', 'm', '[]', 10, 1, 'success', now() - interval '29 days'),
  ('de200000-0000-4000-8000-000000000003', 'de100000-0000-4000-8000-00000000000a', 'custom-llm', 'p', 'm', '[]', 300, 1, 'success', now()),
  ('de200000-0000-4000-8000-000000000004', 'de100000-0000-4000-8000-00000000000b', 'custom-llm', 'p', 'm', '[]', 10, 1, 'success', now());

insert into public.code_analysis (id, owner, shared, code_snippet, suggested_fix, status, feedback_at, created_at) values
  ('de300000-0000-4000-8000-000000000001', 'de100000-0000-4000-8000-00000000000a', false, 'x', 'y', 'suggested', null, now() - interval '91 days'),
  ('de300000-0000-4000-8000-000000000002', 'de100000-0000-4000-8000-00000000000a', false, 'x', 'y', 'suggested', null, now() - interval '89 days'),
  ('de300000-0000-4000-8000-000000000003', 'de100000-0000-4000-8000-00000000000a', false, 'x', 'y', 'accepted', now() - interval '91 days', now() - interval '91 days'),
  ('de300000-0000-4000-8000-000000000004', null, true, 'x', 'y', 'suggested', null, now() - interval '400 days');

insert into public.typescript_errors (id, owner, file_path, error_code, error_message, code_snippet, status, processed_at, created_at) values
  ('de400000-0000-4000-8000-000000000001', 'de100000-0000-4000-8000-00000000000a', 'a.ts', 'TS2322', 'm', 'x', 'ai_suggested', now() - interval '31 days', now() - interval '40 days'),
  ('de400000-0000-4000-8000-000000000002', 'de100000-0000-4000-8000-00000000000a', 'a.ts', 'TS2322', 'm', 'x', 'resolved', now() - interval '29 days', now() - interval '40 days'),
  ('de400000-0000-4000-8000-000000000003', 'de100000-0000-4000-8000-00000000000a', 'a.ts', 'TS2322', 'm', 'x', 'failed', now() - interval '31 days', now() - interval '40 days'),
  ('de400000-0000-4000-8000-000000000004', 'de100000-0000-4000-8000-00000000000a', 'a.ts', 'TS2322', 'm', 'x', 'pending', null, now() - interval '40 days');

create schema pgtap_retention;
create table pgtap_retention.docs (id int primary key, body text, embedding extensions.vector(384));
select ai.enable_embeddings('pgtap_retention.docs', 'body');
set local ai.embedding_worker = 'on';  -- (no wake-up from this transaction)
insert into pgtap_retention.docs values (1, 'old dead letter'), (2, 'young dead letter'), (3, 'pending');
set local ai.embedding_worker = 'off';
update ai.embedding_jobs j set status = 'failed', updated_at = now() - case d.id when 1 then interval '31 days' else interval '1 day' end
from ai.embedding_targets t, pgtap_retention.docs d
where t.id = j.target_id and t.source = 'pgtap_retention.docs'::regclass and j.row_id = d.id::text and d.id in (1, 2);

-- Users and their own logs --------------------------------------------------------------------------------------
create temp table budget_before as select used from ai.token_budget('de100000-0000-4000-8000-00000000000a', 100000);
select set_config('role', 'authenticated', true),
       set_config('request.jwt.claims', '{"sub": "de100000-0000-4000-8000-00000000000a", "role": "authenticated"}', true);
select results_eq($$delete from public.llm_responses where id = 'de200000-0000-4000-8000-000000000003' returning id$$,
  $$values ('de200000-0000-4000-8000-000000000003'::uuid)$$, 'A user deletes their own LLM call.');
select is_empty($$delete from public.llm_responses where id = 'de200000-0000-4000-8000-000000000004' returning id$$,
  'A user cannot delete another user''s LLM call.');
select throws_ok($$update public.llm_responses set prompt_tokens = 0 where id = 'de200000-0000-4000-8000-000000000002'$$,
  '42501', 'permission denied for table llm_responses', 'A user cannot rewrite their usage.');
select throws_ok($$truncate public.llm_responses$$, '42501', 'permission denied for table llm_responses',
  'A user cannot truncate the log (which row-level security would not stop).');
reset role;
select is((select used from ai.token_budget('de100000-0000-4000-8000-00000000000a', 100000)), (select used from budget_before),
  'Deleting a log gives no tokens back.');
select is((select count(*)::int from public.llm_responses where id = 'de200000-0000-4000-8000-000000000004'), 1,
  'The other user''s call is still there.');

-- Housekeeping ------------------------------------------------------------------------------------------------------
create temp table pruned as select ai.housekeeping() as result;
select is_empty($$select from public.llm_responses where id = 'de200000-0000-4000-8000-000000000001'$$,
  'LLM calls older than 30 days are deleted.');
select isnt_empty($$select from public.llm_responses where id = 'de200000-0000-4000-8000-000000000002'$$,
  'Younger ones stay.');
select is_empty($$select from public.code_analysis where id = 'de300000-0000-4000-8000-000000000001'$$,
  'Fixes nobody judged for 90 days are deleted.');
select set_eq($$select id from public.code_analysis where id::text like 'de300000-%'$$,
  array['de300000-0000-4000-8000-000000000002', 'de300000-0000-4000-8000-000000000003',
        'de300000-0000-4000-8000-000000000004']::uuid[],
  'Younger fixes, judged fixes and the knowledge base stay.');
select is_empty($$select from public.typescript_errors where id in ('de400000-0000-4000-8000-000000000001', 'de400000-0000-4000-8000-000000000003')$$,
  'Queued errors fixed, or failed, more than 30 days ago are deleted.');
select set_eq($$select id from public.typescript_errors where id::text like 'de400000-%'$$,
  array['de400000-0000-4000-8000-000000000002', 'de400000-0000-4000-8000-000000000004']::uuid[],
  'Recently resolved errors and pending work stay, however old.');
select set_eq($$select j.row_id from ai.embedding_jobs j join ai.embedding_targets t on t.id = j.target_id
                where t.source = 'pgtap_retention.docs'::regclass$$,
  array['2', '3'], 'Dead letters older than 30 days are deleted; younger ones and pending jobs stay.');
select ok((select (result ->> 'llm_responses')::int >= 1 and (result ->> 'code_analysis_unjudged')::int >= 1
                  and (result ->> 'typescript_errors_finished')::int >= 1 and (result ->> 'typescript_errors_failed')::int >= 1
                  and (result ->> 'embedding_dead_letters')::int >= 1 from pruned),
  'housekeeping reports what it deleted.');

-- Configurable --------------------------------------------------------------------------------------------------------
select is((select value from ai.settings where name = 'retention.llm_responses'), '30 days', 'The default is 30 days.');
update ai.settings set value = '1 day' where name = 'retention.llm_responses';
update public.llm_responses set created_at = now() - interval '2 days' where id = 'de200000-0000-4000-8000-000000000004';
select lives_ok($$select ai.housekeeping()$$, 'Housekeeping runs with the new setting.');
select is_empty($$select from public.llm_responses where id in ('de200000-0000-4000-8000-000000000002', 'de200000-0000-4000-8000-000000000004')$$,
  'A shorter retention set in ai.settings takes effect at the next run.');
select throws_ok($$update ai.settings set value = 'forever' where name = 'retention.llm_responses'$$, 'P0001',
  'setting retention.llm_responses must be an interval, got "forever"', 'A setting that is not an interval is refused.');
select isnt_empty($$select from ai.settings where name like 'retention.%' and kind = 'interval'$$, 'Every retention is listed.');
select is((select count(*)::int from ai.settings where name in ('retention.code_analysis_unjudged',
            'retention.typescript_errors_finished', 'retention.dead_letters')), 3, 'with its own name.');

select * from finish();
rollback;
