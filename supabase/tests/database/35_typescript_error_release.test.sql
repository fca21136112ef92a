-- ai.release_typescript_error (migration 20261212000000): a worker hands back claimed errors it did not start,
-- without spending their attempts, and only while its claim holds them. Only the service role may call it.
begin isolation level repeatable read;
select plan(8);

delete from public.typescript_errors where id in (select id from public.typescript_errors for update skip locked);
insert into auth.users (id, email) values ('c1000000-0000-4000-8000-00000000000c', 'release@example.test');
insert into public.typescript_errors (id, owner, file_path, error_code, error_message, code_snippet) values
  ('c0000000-0000-4000-8000-000000000001', 'c1000000-0000-4000-8000-00000000000c', 'src/a.ts', 'TS2322', 'm', 'x'),
  ('c0000000-0000-4000-8000-000000000002', 'c1000000-0000-4000-8000-00000000000c', 'src/b.ts', 'TS2322', 'm', 'y');

create temp table claimed as select id, claim_token from ai.claim_typescript_errors(10);
select is((select count(*)::int from claimed), 2, 'Both errors are claimed.');
select is((select attempts from ai.start_typescript_error('c0000000-0000-4000-8000-000000000001',
  (select claim_token from claimed where id = 'c0000000-0000-4000-8000-000000000001'))), 1,
  'Work starts on the first: one attempt.');

select is(ai.release_typescript_error('c0000000-0000-4000-8000-000000000002',
  (select claim_token from claimed where id = 'c0000000-0000-4000-8000-000000000002')), 'pending',
  'The second, never started, is released.');
select results_eq(
  $$select status, attempts, claim_token is null from public.typescript_errors where id = 'c0000000-0000-4000-8000-000000000002'$$,
  $$values ('pending'::text, 0, true)$$,
  'It is pending again with its attempts untouched and no claim.');
select is((select count(*)::int from ai.claim_typescript_errors(10) where id = 'c0000000-0000-4000-8000-000000000002'), 1,
  'The next claim takes it at once (no backoff).');
select is(ai.release_typescript_error('c0000000-0000-4000-8000-000000000001', gen_random_uuid()), null,
  'A claim token that does not hold the row releases nothing.');

set local role authenticated;
select set_config('request.jwt.claims', '{"sub": "c1000000-0000-4000-8000-00000000000c", "role": "authenticated"}', true);
select throws_ok($$select ai.release_typescript_error('c0000000-0000-4000-8000-000000000001', gen_random_uuid())$$,
  '42501', null, 'A user cannot release a claim (not even on their own error).');
reset role;
set local role anon;
select throws_ok($$select ai.release_typescript_error('c0000000-0000-4000-8000-000000000001', gen_random_uuid())$$,
  '42501', null, 'Nor can anon.');
reset role;

select * from finish();
rollback;
