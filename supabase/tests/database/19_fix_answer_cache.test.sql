-- The fix answer cache (20261207100000_fix_answer_cache.sql): public.fix_cache's row-level security per role,
-- ai.fix_cache_lookup / ai.fix_cache_store (who may call them, the owner scope, the service role's own scope),
-- and invalidation: every change of public.code_analysis that an owner's retrieval could see — a new fix of the
-- same error code, feedback, a deleted fix, a knowledge-base row — makes that owner's cached answers of that code
-- invalid, and nobody else's (the service role's answers read the knowledge base and its own rows only); a change
-- committed while an answer was being computed keeps it out of the cache.
begin;
select plan(51);

insert into auth.users (id, email) values
  ('a1111111-1111-4111-8111-1111111111c1', 'cache-a@example.test'),
  ('b2222222-2222-4222-8222-2222222222c2', 'cache-b@example.test');

create function pg_temp.key(c text) returns text language sql immutable as $$ select repeat(c, 64) $$;
-- The answer's own stored fix (what fix-code-error inserts right before it caches the answer).
create function pg_temp.stored(owner uuid, code text default 'TS2322') returns uuid language sql as $$
  insert into public.code_analysis (owner, error_code, error_message, code_snippet, suggested_fix, verified)
  values (owner, code, 'm', 'let x: number = "1";', 'let x: number = 1;', true) returning id
$$;
-- Caches an answer of owner for key the way the functions do: lookup, the answer's own fix stored, store.
create function pg_temp.cache(owner uuid, key text, code text default 'TS2322') returns boolean language sql as $$
  select ai.fix_cache_store(owner, key, code, jsonb_build_object('fix', 'of ' || key), l.knowledge,
                            pg_temp.stored(owner, code))
  from ai.fix_cache_lookup(owner, key, code) l
$$;
create function pg_temp.hit(owner uuid, key text, code text default 'TS2322') returns jsonb language sql as $$
  select answer from ai.fix_cache_lookup(owner, key, code)
$$;

-- Caching and the owner scope ----------------------------------------------------------------------------------
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A verified answer of A is cached.');
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')) ->> 'fix', 'of ' || pg_temp.key('a'),
  'The identical request of A is answered from the cache.');
select is(pg_temp.hit('b2222222-2222-4222-8222-2222222222c2', pg_temp.key('a')), null,
  'The same request of B never gets A''s answer.');
select is(pg_temp.hit(null, pg_temp.key('a')), null,
  'The service role''s scope never gets a user''s answer.');
select ok(pg_temp.cache(null, pg_temp.key('c')), 'The service role caches in its own scope (owner null).');
select is(pg_temp.hit(null, pg_temp.key('c')) ->> 'fix', 'of ' || pg_temp.key('c'), 'The service role gets its own answer.');
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('c')), null, 'A never gets the service role''s answer.');
select ok(pg_temp.cache('b2222222-2222-4222-8222-2222222222c2', pg_temp.key('a')), 'B''s own answer for the same key is cached apart.');

-- Invalidation --------------------------------------------------------------------------------------------------
select isnt(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null,
  'B''s new fix (stored with B''s answer) is not A''s knowledge: A''s answer holds.');
select isnt(pg_temp.hit(null, pg_temp.key('c')), null,
  'The service role''s retrieval never reads B''s rows: B''s new fix leaves its answer.');
select is((select version from ai.fix_knowledge where scope = 'all'), null,
  'No version is shared by every scope (concurrent fixes of different owners never wait on one row).');

-- A new verified fix of the same error code of A's: A's answer goes, B's stays.
insert into public.code_analysis (owner, error_code, error_message, code_snippet, suggested_fix, verified)
values ('a1111111-1111-4111-8111-1111111111c1', 'TS2322', 'new knowledge', 'a', 'b', true);
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null,
  'A new fix of the same error code of A''s invalidates A''s cached answer.');
select isnt(pg_temp.hit('b2222222-2222-4222-8222-2222222222c2', pg_temp.key('a')), null, '... and not B''s.');
select isnt(pg_temp.hit(null, pg_temp.key('c')), null, '... nor the service role''s (it never reads A''s rows).');
insert into public.code_analysis (owner, error_code, error_message, code_snippet, suggested_fix, verified)
values (null, 'TS2322', 'the service role''s own', 'a', 'b', true);
select is(pg_temp.hit(null, pg_temp.key('c')), null, 'A new fix of the service role''s own invalidates its answer ...');
select isnt(pg_temp.hit('b2222222-2222-4222-8222-2222222222c2', pg_temp.key('a')), null, '... and not B''s.');
select ok(pg_temp.cache(null, pg_temp.key('c')), 'The service role caches again.');

-- A fix of another error code changes nothing for TS2322.
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A caches again.');
insert into public.code_analysis (owner, error_code, code_snippet, suggested_fix, verified)
values ('a1111111-1111-4111-8111-1111111111c1', 'TS2339', 'a', 'b', true);
select isnt(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null,
  'A fix of another error code does not invalidate a TS2322 answer.');

-- Feedback (what code-fix-feedback and MCP submit_fix_feedback do) invalidates, accepted or rejected.
update public.code_analysis set status = 'accepted', feedback_at = now()
where owner = 'a1111111-1111-4111-8111-1111111111c1' and error_message = 'new knowledge';
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null, 'Accepting a fix invalidates.');
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A caches again.');
update public.code_analysis set status = 'rejected', feedback_at = now()
where owner = 'a1111111-1111-4111-8111-1111111111c1' and error_message = 'new knowledge';
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null, 'Rejecting a fix invalidates.');

-- An update that retrieval cannot see (metadata only) keeps the answer.
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A caches again.');
update public.code_analysis set metadata = '{"note": "x"}' where owner = 'a1111111-1111-4111-8111-1111111111c1';
select isnt(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null,
  'A metadata-only update does not invalidate.');

-- A deleted fix invalidates; so does a knowledge-base row (shared with everyone), for every owner.
delete from public.code_analysis where owner = 'a1111111-1111-4111-8111-1111111111c1' and error_message = 'new knowledge';
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null, 'Deleting a fix invalidates.');
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A caches again.');
insert into public.code_analysis (owner, shared, error_code, code_snippet, suggested_fix, verified)
values (null, true, 'TS2322', 'kb', 'kb fix', true);
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), null,
  'A new knowledge-base fix of the code invalidates A''s answer');
select is(pg_temp.hit('b2222222-2222-4222-8222-2222222222c2', pg_temp.key('a')), null, '... and B''s.');
select is(pg_temp.hit(null, pg_temp.key('c')), null, '... and the service role''s.');

-- A change while an answer was computed: the lookup saw the old knowledge, the store is refused.
create temp table seen as select knowledge from ai.fix_cache_lookup('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('d'), 'TS2322');
select from pg_temp.stored('a1111111-1111-4111-8111-1111111111c1');  -- another request of A's stores its fix meanwhile
select is(ai.fix_cache_store('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('d'), 'TS2322', '{}',
                             (select knowledge from seen), pg_temp.stored('a1111111-1111-4111-8111-1111111111c1')), false,
  'Another fix of A''s stored between lookup and store: the answer is not cached.');
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('d')), null, '... and not served.');
select is((select ai.fix_cache_store('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('e'), 'TS2322', '{}',
                                     l.knowledge, 'c0000000-0000-4000-8000-00000000dead')
           from ai.fix_cache_lookup('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('e'), 'TS2322') l), false,
  'An answer whose stored fix does not exist (its transaction rolled back) is not cached.');
select is((select ai.fix_cache_store('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('f'), 'TS2322', '{}',
                                     l.knowledge, pg_temp.stored('b2222222-2222-4222-8222-2222222222c2'))
           from ai.fix_cache_lookup('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('f'), 'TS2322') l), false,
  'An answer whose stored fix is another owner''s is not cached.');

-- Expiry.
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('1')), 'A caches an answer');
update public.fix_cache set expires_at = now() - interval '1 second' where key = pg_temp.key('1');
select is(pg_temp.hit('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('1')), null, '... and an expired one is not served.');

-- Row-level security per role ----------------------------------------------------------------------------------
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('a')), 'A caches again.');
set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "a1111111-1111-4111-8111-1111111111c1", "role": "authenticated"}', true);
select set_eq($$select owner from public.fix_cache$$, $$values ('a1111111-1111-4111-8111-1111111111c1'::uuid)$$,
  'A signed-in user reads only their own cached answers (not B''s, not the service role''s).');
select throws_ok($$insert into public.fix_cache (owner, key, error_code, answer, knowledge, expires_at)
                   values ('a1111111-1111-4111-8111-1111111111c1', repeat('f', 64), 'TS2322', '{"verified": true}', '{0,0}', now() + interval '1 day')$$,
  '42501', null, 'A user cannot write a cached answer, not even their own (no forged "verified" answers).');
select throws_ok($$update public.fix_cache set answer = '{}'$$, '42501', null, 'A user cannot change cached answers.');
select throws_ok($$select * from ai.fix_cache_lookup('b2222222-2222-4222-8222-2222222222c2', repeat('a', 64), 'TS2322')$$,
  '42501', null, 'A user cannot look up through the functions'' lookup (another owner''s scope least of all).');
select throws_ok($$select ai.fix_cache_store('a1111111-1111-4111-8111-1111111111c1', repeat('f', 64), 'TS2322', '{}', '{0,0}', gen_random_uuid())$$,
  '42501', null, 'A user cannot store through it either.');
reset role;

set local role anon;
select throws_ok($$select * from public.fix_cache$$, '42501', null, 'anon reads nothing.');
reset role;

set local role service_role;
select ok((select count(*) from public.fix_cache where owner is null) >= 1 and
          (select count(distinct owner) from public.fix_cache
           where owner in ('a1111111-1111-4111-8111-1111111111c1', 'b2222222-2222-4222-8222-2222222222c2')) = 2,
  'The service role reads every scope''s entries (as the project''s administrator)');
select is((select answer from ai.fix_cache_lookup(null, pg_temp.key('a'), 'TS2322')), null,
  '... but its lookups are scoped to its own entries: users'' answers for the same key are never served to it.');
reset role;

-- A lookup finds its entry through the key index, not by reading the whole cache (which grows with every answer).
create function pg_temp.plan_of(query text) returns text language plpgsql as $$
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
set local enable_seqscan = off;
select alike(pg_temp.plan_of($$select c.answer from public.fix_cache c
                              where c.owner is not distinct from null::uuid and c.key = repeat('a', 64)$$),
  '%Scan%fix_cache_key_idx%Index Cond: (key = %',
  'A lookup finds its entry through the key index, not by reading every cached answer.');
reset enable_seqscan;

-- Expired answers go in pg_cron's hourly sweep (migration 20261213000500), not at every store.
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('7')), 'A caches an answer');
select ok(pg_temp.cache('a1111111-1111-4111-8111-1111111111c1', pg_temp.key('8')), '... and another');
update public.fix_cache set expires_at = now() - interval '1 second' where key = pg_temp.key('7');
select is((select ai.purge_expired_fix_answers() >= 1), true, 'The sweep deletes expired answers');
select is((select array_agg(right(key, 1) order by key) from public.fix_cache
           where owner = 'a1111111-1111-4111-8111-1111111111c1' and key in (pg_temp.key('7'), pg_temp.key('8'))),
  array['8'], '... and keeps the ones still valid.');
select results_eq($$select schedule::text collate "default", command::text collate "default" from cron.job
                    where jobname = 'fix-cache-expiry'$$,
  $$values ('41 * * * *', 'select ai.purge_expired_fix_answers()')$$, 'pg_cron runs the sweep hourly.');
set local role service_role;
select throws_ok($$select ai.purge_expired_fix_answers()$$, '42501', null, 'Only the database owner runs the sweep.');
reset role;

select * from finish();
rollback;
