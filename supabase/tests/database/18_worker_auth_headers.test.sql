-- How SQL calls the workers (migration 20261205020000): a legacy service_role JWT goes in Authorization: Bearer,
-- a new-style sb_secret_ key only in the apikey header (hosted's gateway answers 401 to `Bearer sb_…`).
begin;
select plan(7);

select is(
  ai.edge_function_headers('eyJhbGciOiJIUzI1NiJ9.e30.sig'),
  '{"Content-Type": "application/json", "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "apikey": "eyJhbGciOiJIUzI1NiJ9.e30.sig"}'::jsonb,
  'A legacy JWT key is sent as Authorization: Bearer (and apikey).');
select is(
  ai.edge_function_headers('sb_secret_abc'),
  '{"Content-Type": "application/json", "apikey": "sb_secret_abc"}'::jsonb,
  'An sb_secret_ key is sent in the apikey header only.');
select ok(
  not (ai.edge_function_headers('sb_secret_abc') ? 'Authorization'),
  'An sb_ key never appears as a bearer token.');

-- invoke_edge_function with an sb_secret_ key in Vault.
update vault.secrets set name = 'service_role_key:hidden-by-pgtap' where name = 'service_role_key';
select vault.create_secret('sb_secret_pgtap_only', 'service_role_key');
create temp table call as select ai.invoke_edge_function('embed-worker') as id;
select is(
  (select headers from net.http_request_queue where id = (select id from call)),
  '{"Content-Type": "application/json", "apikey": "sb_secret_pgtap_only"}'::jsonb,
  'invoke_edge_function sends an sb_secret_ key from Vault in the apikey header.');
select ok(
  (select url from net.http_request_queue where id = (select id from call)) like '%/functions/v1/embed-worker',
  'to the worker''s URL.');

set local role anon;
select throws_ok($$select ai.edge_function_headers('x')$$, '42501', null, 'anon cannot call edge_function_headers.');
reset role;
set local role authenticated;
select throws_ok($$select ai.edge_function_headers('x')$$, '42501', null, 'authenticated cannot call it either.');
reset role;

select * from finish();
rollback;
