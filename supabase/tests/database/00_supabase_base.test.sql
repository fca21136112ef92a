-- What the Supabase image provides and the migrations rely on: roles, auth helpers, extensions, Vault.
begin;
select plan(17);

select has_role('anon');
select has_role('authenticated');
select has_role('service_role');
select has_role('authenticator');
select ok((select rolbypassrls from pg_roles where rolname = 'service_role'), 'service_role bypasses RLS');
select ok(not (select rolbypassrls from pg_roles where rolname = 'authenticated'), 'authenticated does not');

select has_schema('extensions');
select has_function('auth', 'uid', 'auth.uid() exists');
select has_function('auth', 'role', 'auth.role() exists');
select has_function('auth', 'jwt', 'auth.jwt() exists');

-- The helpers read the request's claims, as PostgREST and supabase-js set them.
select set_config('request.jwt.claims',
  '{"sub": "8d0fd2b3-9ca7-4d9e-a95f-9e13a4b7ef01", "role": "authenticated", "email": "a@example.test"}', true);
select is(auth.uid(), '8d0fd2b3-9ca7-4d9e-a95f-9e13a4b7ef01'::uuid, 'auth.uid() is the sub claim');
select is(auth.role(), 'authenticated', 'auth.role() is the role claim');
select is(auth.jwt() ->> 'email', 'a@example.test', 'auth.jwt() returns the claims');
select set_config('request.jwt.claims', '', true);
select is(auth.uid(), null, 'no claims, no user');

-- Vault: create, read back decrypted, update; the API roles cannot read it.
select vault.create_secret('s3cret-value', 'pgtap_secret', 'made by a test');
select is((select decrypted_secret from vault.decrypted_secrets where name = 'pgtap_secret'), 's3cret-value',
  'a secret reads back decrypted');
select isnt((select secret from vault.secrets where name = 'pgtap_secret'), 's3cret-value',
  'the stored secret is not the plain text');

set local role authenticated;
select throws_ok('select * from vault.decrypted_secrets', '42501', null, 'authenticated cannot read Vault');
reset role;

select * from finish();
rollback;
