-- code_analysis row-level security and column privileges per role, find_similar_errors (what it returns, in
-- which order, for whom — the shared knowledge base plus the served owner's rows, for the service role too —
-- and that it is served by the partial HNSW index), and search_code_snippets likewise.
--
-- Vectors are built so that similarities are known: pg_temp.unit(i, j, c) = c·e_i + sqrt(1 - c²)·e_j has
-- cosine similarity c with e_i = pg_temp.unit(i).
--
-- The seed's knowledge base stays in the table (the stack's embed-worker may be writing its vectors right now;
-- deleting or locking those rows here could deadlock with it). Row counts are therefore taken over this file's
-- rows (ids c0000000-…), and searches that must return an exact set use min_similarity 0.5: the seed's
-- embeddings are dense (every component of the test model's vectors is below 0.2), so their similarity to
-- the axis vectors used here stays far below that.
begin;
select plan(55);

create function pg_temp.unit(i int, j int default 384, c double precision default 1) returns extensions.vector
language sql immutable as $$
  select array_agg(case when g = i then c when g = j then sqrt(1 - c * c) else 0 end order by g)::real[]::extensions.vector
  from generate_series(1, 384) g
$$;
-- EXPLAIN's text, one string.
create function pg_temp.plan_of(query text) returns text
language plpgsql as $$
declare
  line text;
  plan text := '';
begin
  for line in execute 'explain (format text) ' || query loop
    plan := plan || line || E'\n';
  end loop;
  return plan;
end
$$;

insert into auth.users (id, email) values
  ('a1111111-1111-4111-8111-111111111111', 'analysis-a@example.test'),
  ('b2222222-2222-4222-8222-222222222222', 'analysis-b@example.test');

-- Fixtures (as postgres). Codes: a knowledge-base row shared with everyone, rows of user A, one of user B.
insert into public.code_analysis
  (id, owner, shared, error_code, error_message, code_snippet, suggested_fix, code_embedding, status, verified) values
  ('c0000000-0000-4000-8000-0000000000a1', null, true, 'TS2345', 'kb', 'kb snippet', 'kb fix', pg_temp.unit(1, 2, 0.95), 'accepted', true),
  ('c0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a1', 'a1', 'fix a1', pg_temp.unit(1, 2, 0.9), 'suggested', false),
  ('c0000000-0000-4000-8000-000000000002', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a2 (no fix)', 'a2', null, pg_temp.unit(1), 'suggested', false),
  ('c0000000-0000-4000-8000-000000000003', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a3 (rejected)', 'a3', 'fix a3', pg_temp.unit(1), 'rejected', false),
  ('c0000000-0000-4000-8000-000000000004', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a4', 'a4', 'fix a4', pg_temp.unit(3), 'suggested', false),
  ('c0000000-0000-4000-8000-000000000005', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a5', 'a5', 'fix a5', pg_temp.unit(3), 'accepted', true),
  ('c0000000-0000-4000-8000-000000000006', 'a1111111-1111-4111-8111-111111111111', false, 'TS2339', 'a6', 'a6', 'fix a6', pg_temp.unit(3), 'suggested', true),
  ('c0000000-0000-4000-8000-000000000007', 'a1111111-1111-4111-8111-111111111111', false, 'TS2339', 'a7', 'a7', 'fix a7', pg_temp.unit(3), 'accepted', false),
  ('c0000000-0000-4000-8000-000000000008', 'a1111111-1111-4111-8111-111111111111', false, 'TS2322', 'a8 (not embedded yet)', 'a8', 'fix a8', null, 'suggested', false),
  ('c0000000-0000-4000-8000-0000000000b1', 'b2222222-2222-4222-8222-222222222222', false, 'TS2322', 'b1', 'b1', 'fix b1', pg_temp.unit(1), 'suggested', false);

-- code_analysis RLS ----------------------------------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "role": "authenticated"}', true);

select set_eq($$select id from public.code_analysis where id::text like 'c0000000-%'$$,
  $$select ('c0000000-0000-4000-8000-00000000000' || s)::uuid from unnest(array['1','2','3','4','5','6','7','8']) s
    union all select 'c0000000-0000-4000-8000-0000000000a1'$$,
  'A user reads their own analyses and the shared rows.');
select isnt_empty($$select from public.code_analysis where provider = 'knowledge-base' and shared$$,
  'A user reads the seeded knowledge base.');
select is_empty($$select from public.code_analysis where owner = 'b2222222-2222-4222-8222-222222222222'$$,
  'A user cannot read another user''s analyses.');
select lives_ok($$insert into public.code_analysis (id, error_code, error_message, code_snippet)
                  values ('c0000000-0000-4000-8000-000000000009', 'TS2322', 'mine', 'let x: number = "1";')$$,
  'A user can add an analysis (owner defaults to the user).');
select is((select owner from public.code_analysis where id = 'c0000000-0000-4000-8000-000000000009'),
  'a1111111-1111-4111-8111-111111111111'::uuid, 'The new analysis belongs to the user.');
select throws_ok($$insert into public.code_analysis (shared, code_snippet) values (true, 'x')$$,
  '42501', 'permission denied for table code_analysis',
  'A user cannot add a shared (knowledge base) row.');
select throws_ok($$insert into public.code_analysis (owner, code_snippet) values ('b2222222-2222-4222-8222-222222222222', 'x')$$,
  '42501', 'permission denied for table code_analysis',
  'A user cannot add a row owned by someone else.');
select throws_ok($$insert into public.code_analysis (code_snippet, suggested_fix, verified, status, provider, confidence)
                   values ('x', 'y', true, 'accepted', 'knowledge-base', 1)$$,
  '42501', 'permission denied for table code_analysis',
  'A user cannot pass a row off as verified, accepted or the knowledge base.');
select throws_ok($$insert into public.code_analysis (code_snippet, code_embedding) values ('x', pg_temp.unit(1))$$,
  '42501', 'permission denied for table code_analysis', 'A user cannot plant an embedding.');
select throws_ok($$update public.code_analysis set status = 'accepted', feedback_at = now()
                   where id = 'c0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table code_analysis',
  'A user cannot set a status (feedback goes through the code-fix-feedback function).');
select throws_ok($$update public.code_analysis set verified = true, code_embedding = pg_temp.unit(1)
                   where id = 'c0000000-0000-4000-8000-000000000001'$$,
  '42501', 'permission denied for table code_analysis', 'A user cannot verify a row or set its vector.');
select results_eq($$update public.code_analysis set suggested_fix = 'my edit' where id = 'c0000000-0000-4000-8000-000000000005'
                    returning verified, status, confidence$$,
  $$values (false, 'suggested', null::real)$$, 'A user who edits a fix gets an unverified, unjudged row.');
select is_empty($$update public.code_analysis set suggested_fix = 'taken' where id = 'c0000000-0000-4000-8000-0000000000a1' returning id$$,
  'A user cannot change a knowledge-base row.');
select is_empty($$update public.code_analysis set suggested_fix = 'taken' where id = 'c0000000-0000-4000-8000-0000000000b1' returning id$$,
  'A user cannot change another user''s row.');
select throws_ok($$update public.code_analysis set shared = true where id = 'c0000000-0000-4000-8000-000000000004'$$,
  '42501', 'permission denied for table code_analysis',
  'A user cannot share their own row into the knowledge base.');
select is_empty($$delete from public.code_analysis where id in ('c0000000-0000-4000-8000-0000000000a1',
                  'c0000000-0000-4000-8000-0000000000b1') returning id$$,
  'A user cannot delete knowledge-base rows or other users'' rows.');
reset role;
-- Undo the edit so the ranking tests below start from the fixtures.
update public.code_analysis set suggested_fix = 'fix a5', status = 'accepted', verified = true
where id = 'c0000000-0000-4000-8000-000000000005';
select throws_ok($$update public.code_analysis set shared = true where id = 'c0000000-0000-4000-8000-000000000004'$$,
  '23514', null, 'Even the server cannot share a row that has an owner (the knowledge base has none).');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "b2222222-2222-4222-8222-222222222222", "role": "authenticated"}', true);
select set_eq($$select id from public.code_analysis where id::text like 'c0000000-%'$$,
  array['c0000000-0000-4000-8000-0000000000b1', 'c0000000-0000-4000-8000-0000000000a1']::uuid[],
  'Another user reads only their own rows and the shared knowledge base.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select is_empty($$select from public.code_analysis$$, 'anon reads nothing, not even the knowledge base.');
select throws_ok($$insert into public.code_analysis (code_snippet) values ('x')$$,
  '42501', 'permission denied for table code_analysis', 'anon cannot add analyses.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select is((select count(*)::int from public.code_analysis where id::text like 'c0000000-%'), 11,
  'service_role reads every user''s rows.');
select isnt_empty($$select from public.code_analysis where provider = 'knowledge-base'$$, 'and the knowledge base.');
select lives_ok($$insert into public.code_analysis (shared, code_snippet, error_code) values (true, 'kb2', 'TS1005')$$,
  'service_role can add knowledge-base rows.');
reset role;
delete from public.code_analysis where code_snippet = 'kb2';

-- find_similar_errors ---------------------------------------------------------------------------------------------
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "role": "authenticated"}', true);

select results_eq(
  $$select id, round(similarity::numeric, 4) from public.find_similar_errors(pg_temp.unit(1), 10, min_similarity => 0.5)$$,
  $$values ('c0000000-0000-4000-8000-0000000000a1'::uuid, 0.95), ('c0000000-0000-4000-8000-000000000001', 0.9)$$,
  'Nearest first; only rows with a fix, never rejected ones, never unembedded ones, never other users''.');
select results_eq(
  $$select id, status, verified from public.find_similar_errors(pg_temp.unit(3), 4)$$,
  $$values ('c0000000-0000-4000-8000-000000000005'::uuid, 'accepted', true),
           ('c0000000-0000-4000-8000-000000000007', 'accepted', false),
           ('c0000000-0000-4000-8000-000000000006', 'suggested', true),
           ('c0000000-0000-4000-8000-000000000004', 'suggested', false)$$,
  'At equal similarity accepted fixes come first, then verified ones.');
select is((select round(similarity::numeric, 6) from public.find_similar_errors(pg_temp.unit(3), 1)), 1.000000,
  'An identical embedding has similarity 1.');
select results_eq($$select id from public.find_similar_errors(pg_temp.unit(1), 10, min_similarity => 0.92)$$,
  $$values ('c0000000-0000-4000-8000-0000000000a1'::uuid)$$, 'min_similarity drops less similar rows.');
select set_eq($$select id from public.find_similar_errors(pg_temp.unit(3), 10, 0.5, filter_error_code => 'TS2339')$$,
  array['c0000000-0000-4000-8000-000000000006', 'c0000000-0000-4000-8000-000000000007']::uuid[],
  'filter_error_code keeps only fixes of that diagnostic.');
select is((select count(*)::int from public.find_similar_errors(pg_temp.unit(1), 2)), 2,
  'match_count limits the rows returned.');
select is_empty($$select from public.find_similar_errors(pg_temp.unit(1), 0)$$, 'match_count 0 returns nothing.');
select is_empty($$select from public.find_similar_errors(pg_temp.unit(1), 10) where status = 'rejected' or suggested_fix is null$$,
  'Rejected fixes and rows without a fix are never returned.');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "b2222222-2222-4222-8222-222222222222", "role": "authenticated"}', true);
select results_eq($$select id from public.find_similar_errors(pg_temp.unit(1), 10, 0.5)$$,
  $$values ('c0000000-0000-4000-8000-0000000000b1'::uuid), ('c0000000-0000-4000-8000-0000000000a1')$$,
  'find_similar_errors respects RLS: another user finds their own rows and the knowledge base only.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select is_empty($$select from public.find_similar_errors(pg_temp.unit(1), 10)$$, 'anon finds nothing.');
reset role;

insert into public.code_analysis (id, owner, error_code, error_message, code_snippet, suggested_fix, code_embedding)
values ('c0000000-0000-4000-8000-0000000000c1', null, 'TS2322', 'stored by the service role', 'c1', 'fix c1', pg_temp.unit(1, 2, 0.8));
set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select results_eq($$select id from public.find_similar_errors(pg_temp.unit(1), 10, 0.5)$$,
  $$values ('c0000000-0000-4000-8000-0000000000a1'::uuid), ('c0000000-0000-4000-8000-0000000000c1')$$,
  'The service role alone finds the knowledge base and what it stored itself, never a user''s rows.');
select set_config('request.jwt.claims', '{"role": "service_role", "sub": "b2222222-2222-4222-8222-222222222222"}', true);
select results_eq($$select id from public.find_similar_errors(pg_temp.unit(1), 10, 0.5)$$,
  $$values ('c0000000-0000-4000-8000-0000000000b1'::uuid), ('c0000000-0000-4000-8000-0000000000a1')$$,
  'The service role serving a user finds that user''s rows and the knowledge base only.');
reset role;
delete from public.code_analysis where id = 'c0000000-0000-4000-8000-0000000000c1';

-- Which indexes serve find_similar_errors. The function (PL/pgSQL, planned per call with its actual arguments) is
-- opaque to EXPLAIN, so the scan counts of this transaction show it (pg_stat_get_xact_numscans: of an index, its
-- scans; of a table, its sequential scans). The table is tiny, so sequential scans are switched off to let the
-- planner show which indexes it can use: the shared knowledge base through its own partial HNSW index, the
-- caller's rows through the HNSW index of all retrievable rows or, when few, the partial owner index and an
-- exact sort (a costing choice, not pinned here; bench/similar_search.ts shows it at 100k rows) — and never a
-- sequential scan of the table.
create function pg_temp.scans(relation text) returns bigint language sql volatile as $$
  select pg_stat_get_xact_numscans(('public.' || relation)::regclass)
$$;
set local enable_seqscan = off;
-- Five shared rows of this file's own, so the count does not depend on how much of the seed the embed-worker has
-- embedded yet.
insert into public.code_analysis (id, owner, shared, error_code, error_message, code_snippet, suggested_fix,
                                  code_embedding, status, verified)
select ('c0000000-0000-4000-8000-0000000000e' || i)::uuid, null, true, 'TS2345', 'kb ' || i, 'kb snippet ' || i,
       'kb fix ' || i, pg_temp.unit(1, 2 + i, 0.8), 'accepted', true
from generate_series(1, 5) i;
create temp table scans_before as
  select pg_temp.scans('code_analysis_shared_embedding_idx') as shared, pg_temp.scans('code_analysis') as seq;
select is((select count(*)::int from public.find_similar_errors(pg_temp.unit(1), 5)), 5, 'A search ...');
select cmp_ok(pg_temp.scans('code_analysis_shared_embedding_idx'), '>', (select shared from scans_before),
  'searches the knowledge base through its HNSW index code_analysis_shared_embedding_idx,');
select is(pg_temp.scans('code_analysis'), (select seq from scans_before), 'and never scans the table.');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "role": "authenticated"}', true);
create temp table scans_user as
  select pg_temp.scans('code_analysis_shared_embedding_idx') as shared, pg_temp.scans('code_analysis') as seq,
         pg_temp.scans('code_analysis_code_embedding_idx') + pg_temp.scans('code_analysis_owner_retrievable_idx') as own;
select isnt_empty($$select from public.find_similar_errors(pg_temp.unit(1), 5)$$, 'A search as a user (with RLS) ...');
select cmp_ok(pg_temp.scans('code_analysis_shared_embedding_idx'), '>', (select shared from scans_user),
  'searches the knowledge base through its HNSW index,');
select cmp_ok(pg_temp.scans('code_analysis_code_embedding_idx') + pg_temp.scans('code_analysis_owner_retrievable_idx'),
  '>', (select own from scans_user), 'the user''s own rows through an index,');
select is(pg_temp.scans('code_analysis'), (select seq from scans_user), 'and never scans the table.');
reset role;
reset enable_seqscan;

-- search_code_snippets ------------------------------------------------------------------------------------------
insert into public.code_snippets (id, owner, content, embedding) values
  ('d0000000-0000-4000-8000-000000000001', 'a1111111-1111-4111-8111-111111111111', 'a: nearest', pg_temp.unit(5)),
  ('d0000000-0000-4000-8000-000000000002', 'a1111111-1111-4111-8111-111111111111', 'a: near', pg_temp.unit(5, 6, 0.8)),
  ('d0000000-0000-4000-8000-000000000003', 'a1111111-1111-4111-8111-111111111111', 'a: far', pg_temp.unit(5, 6, 0.2)),
  ('d0000000-0000-4000-8000-000000000004', 'a1111111-1111-4111-8111-111111111111', 'a: not embedded yet', null),
  ('d0000000-0000-4000-8000-000000000005', 'b2222222-2222-4222-8222-222222222222', 'b: identical', pg_temp.unit(5));

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-111111111111", "role": "authenticated"}', true);
select results_eq($$select id, round(similarity::numeric, 4) from public.search_code_snippets(pg_temp.unit(5), 10)$$,
  $$values ('d0000000-0000-4000-8000-000000000001'::uuid, 1.0), ('d0000000-0000-4000-8000-000000000002', 0.8),
           ('d0000000-0000-4000-8000-000000000003', 0.2)$$,
  'search_code_snippets returns the user''s embedded snippets, nearest first.');
select results_eq($$select id from public.search_code_snippets(pg_temp.unit(5), 10, min_similarity => 0.5)$$,
  $$values ('d0000000-0000-4000-8000-000000000001'::uuid), ('d0000000-0000-4000-8000-000000000002')$$,
  'min_similarity drops less similar snippets.');
select is((select count(*)::int from public.search_code_snippets(pg_temp.unit(5), 1)), 1, 'match_count limits the rows.');
select set_eq($$select id from public.code_snippets$$,
  array['d0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002',
        'd0000000-0000-4000-8000-000000000003', 'd0000000-0000-4000-8000-000000000004']::uuid[],
  'A user reads only their own snippets.');
select throws_ok($$insert into public.code_snippets (owner, content) values ('b2222222-2222-4222-8222-222222222222', 'x')$$,
  '42501', 'new row violates row-level security policy for table "code_snippets"',
  'A user cannot add a snippet owned by someone else.');
select is_empty($$update public.code_snippets set content = 'taken' where id = 'd0000000-0000-4000-8000-000000000005' returning id$$,
  'A user cannot change another user''s snippet.');
select results_eq($$update public.code_snippets set content = 'a: far, edited' where id = 'd0000000-0000-4000-8000-000000000003'
                    returning embedding is null$$,
  $$values (true)$$, 'A user can change their own snippet, which clears its stale vector.');
reset role;

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "b2222222-2222-4222-8222-222222222222", "role": "authenticated"}', true);
select results_eq($$select id from public.search_code_snippets(pg_temp.unit(5), 10)$$,
  $$values ('d0000000-0000-4000-8000-000000000005'::uuid)$$, 'search_code_snippets respects RLS.');
reset role;

set local role anon;
select set_config('request.jwt.claims', '{"role": "anon"}', true);
select is_empty($$select from public.search_code_snippets(pg_temp.unit(5), 10)$$, 'anon finds no snippets.');
select is_empty($$select from public.code_snippets$$, 'anon reads no snippets.');
reset role;

set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true);
select set_eq($$select id from public.search_code_snippets(pg_temp.unit(5), 10)$$,
  array['d0000000-0000-4000-8000-000000000001', 'd0000000-0000-4000-8000-000000000002',
        'd0000000-0000-4000-8000-000000000005']::uuid[],
  'service_role searches every user''s embedded snippets.');
reset role;

set local enable_seqscan = off;
create temp table snippet_scans as select pg_temp.scans('code_snippets_embedding_idx') as n;
select isnt_empty($$select from public.search_code_snippets(pg_temp.unit(5), 5)$$, 'A snippet search ...');
select cmp_ok(pg_temp.scans('code_snippets_embedding_idx'), '>', (select n from snippet_scans),
  'search_code_snippets uses the HNSW index code_snippets_embedding_idx.');
reset enable_seqscan;

select * from finish();
rollback;
