-- ai.find_similar_fixes_as (20261213000300_find_similar_fixes_as.sql): fix-code-error's search in one statement,
-- as the caller its claims name. What each caller gets (a user: their rows and the knowledge base, never another
-- user's; the service role alone: its own rows and the knowledge base), that nothing of the caller's role or
-- claims outlives the call, which roles it refuses to take on, and who may call it at all.
begin;
select plan(14);

create function pg_temp.unit(i int) returns extensions.vector
language sql immutable as $$
  select array_agg(case when g = i then 1 else 0 end order by g)::real[]::extensions.vector from generate_series(1, 384) g
$$;
create function pg_temp.found(claims jsonb, code text default 'TS2322', any_code boolean default true) returns uuid[]
language sql as $$
  -- each fix once, where it first comes (as fix-code-error reads the list)
  select coalesce(array_agg(id order by first), '{}')
  from (select id, min(pass * 1000 + rank) as first
        from ai.find_similar_fixes_as(claims, pg_temp.unit(7), 20, 0.99, code, any_code) group by id) s
$$;

insert into auth.users (id, email) values
  ('a1111111-1111-4111-8111-1111111111f1', 'as-a@example.test'),
  ('b2222222-2222-4222-8222-2222222222f2', 'as-b@example.test');
insert into public.code_analysis (id, owner, shared, error_code, code_snippet, suggested_fix, code_embedding) values
  ('c0000000-0000-4000-8000-0000000000f1', 'a1111111-1111-4111-8111-1111111111f1', false, 'TS2322', 'a', 'fix a', pg_temp.unit(7)),
  ('c0000000-0000-4000-8000-0000000000f2', 'b2222222-2222-4222-8222-2222222222f2', false, 'TS2322', 'b', 'fix b', pg_temp.unit(7)),
  ('c0000000-0000-4000-8000-0000000000f3', null, true, 'TS2322', 'kb', 'fix kb', pg_temp.unit(7)),
  ('c0000000-0000-4000-8000-0000000000f4', null, false, 'TS2322', 's', 'fix s', pg_temp.unit(7)),
  ('c0000000-0000-4000-8000-0000000000f5', 'a1111111-1111-4111-8111-1111111111f1', false, 'TS2339', 'a2', 'fix a2', pg_temp.unit(7));

select set_eq($$select unnest(pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "authenticated"}'))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f1'::uuid), ('c0000000-0000-4000-8000-0000000000f3'), ('c0000000-0000-4000-8000-0000000000f5')$$,
  'A user gets their own fixes and the knowledge base''s, never another user''s nor the service role''s.');
select is((pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "authenticated"}'))[3],
  'c0000000-0000-4000-8000-0000000000f5'::uuid, 'Fixes of the same error code come first, then any code.');
select set_eq($$select unnest(pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "authenticated"}', 'TS2322', false))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f1'::uuid), ('c0000000-0000-4000-8000-0000000000f3')$$,
  'Without any_code only the same error code.');
select set_eq($$select unnest(pg_temp.found('{"sub": "b2222222-2222-4222-8222-2222222222f2", "role": "authenticated"}'))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f2'::uuid), ('c0000000-0000-4000-8000-0000000000f3')$$,
  'User B gets B''s and the knowledge base''s.');
select set_eq($$select unnest(pg_temp.found('{"role": "service_role"}'))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f3'::uuid), ('c0000000-0000-4000-8000-0000000000f4')$$,
  'The service role alone gets its own rows and the knowledge base''s, never a user''s.');
select set_eq($$select unnest(pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "service_role"}'))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f1'::uuid), ('c0000000-0000-4000-8000-0000000000f3'), ('c0000000-0000-4000-8000-0000000000f5')$$,
  'The service role acting for A gets A''s.');

-- Row-level security is what the search runs under: a policy that hides A's TS2339 row from A hides it here.
create policy "test: hide a2" on public.code_analysis as restrictive for select to authenticated
  using (id <> 'c0000000-0000-4000-8000-0000000000f5');
select set_eq($$select unnest(pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "authenticated"}'))$$,
  $$values ('c0000000-0000-4000-8000-0000000000f1'::uuid), ('c0000000-0000-4000-8000-0000000000f3')$$,
  'The search runs as the caller: row-level security applies.');
drop policy "test: hide a2" on public.code_analysis;

-- Nothing of the caller outlives the call, within the same transaction.
select set_config('request.jwt.claims', '{"role": "before"}', true);
select pg_temp.found('{"sub": "a1111111-1111-4111-8111-1111111111f1", "role": "authenticated"}');
select is(current_user::text, 'postgres', 'The role is the connection''s own again after the call.');
select is(current_setting('request.jwt.claims', true), '{"role": "before"}', 'The claims are what they were before the call.');

-- Roles it refuses to take on.
select throws_ok($$select * from ai.find_similar_fixes_as('{"role": "postgres"}', pg_temp.unit(7), 5)$$, '22023', null,
  'It never takes on a role other than authenticated or service_role (postgres) ...');
select throws_ok($$select * from ai.find_similar_fixes_as('{"sub": "a1111111-1111-4111-8111-1111111111f1"}', pg_temp.unit(7), 5)$$,
  '22023', null, '... nor claims without a role.');

-- Who may call it.
set local role authenticated;
select throws_ok($$select * from ai.find_similar_fixes_as('{"role": "service_role"}', pg_temp.unit(7), 5)$$, '42501', null,
  'A signed-in user cannot call it (it would let them name any caller).');
reset role;
set local role anon;
select throws_ok($$select * from ai.find_similar_fixes_as('{"role": "service_role"}', pg_temp.unit(7), 5)$$, '42501', null,
  'anon cannot call it.');
reset role;
set local role service_role;
select lives_ok($$select * from ai.find_similar_fixes_as('{"role": "service_role"}', pg_temp.unit(7), 5)$$,
  'The service role can.');
reset role;

select * from finish();
rollback;
