-- Invariants every migration must keep, checked over the whole catalog (so a new table, view or function is
-- covered without a new test): RLS on every table of public and ai, views that run with the caller's rights,
-- SECURITY DEFINER functions with an empty search_path, and the ai schema closed to anon and authenticated.
begin;
select plan(12);

-- The API roles reach public's tables directly (Supabase grants them everything there); RLS is what protects
-- rows. ai's tables are internal, but RLS there too keeps a future grant from exposing them.
select is_empty(
  $$select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'ai') and c.relkind in ('r', 'p') and not c.relrowsecurity$$,
  'Every table in public and ai has row level security enabled.');
select isnt_empty(
  $$select from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'ai') and c.relkind in ('r', 'p')$$,
  '(and there are tables to check).');
-- A view runs with its owner's rights unless security_invoker is set, which would bypass the tables' RLS.
select is_empty(
  $$select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'ai') and c.relkind = 'v'
      and not coalesce(c.reloptions @> array['security_invoker=true'], false)$$,
  'Every view in public and ai runs with the caller''s rights (security_invoker).');

select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'ai') and p.prosecdef
      and not coalesce(p.proconfig @> array['search_path=""'], false)$$,
  'Every SECURITY DEFINER function in public and ai pins search_path to ''''.');
select isnt_empty(
  $$select from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'ai' and p.prosecdef$$,
  '(and there are SECURITY DEFINER functions to check).');

select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'ai' and p.prosecdef and has_function_privilege('anon', p.oid, 'execute')$$,
  'anon has EXECUTE on no SECURITY DEFINER function in ai.');
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'ai' and p.prosecdef and has_function_privilege('authenticated', p.oid, 'execute')$$,
  'authenticated has EXECUTE on no SECURITY DEFINER function in ai.');
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prosecdef
      and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))$$,
  'anon and authenticated have EXECUTE on no SECURITY DEFINER function in public.');

select ok(not has_schema_privilege('anon', 'ai', 'usage'), 'anon has no USAGE on schema ai.');
select ok(not has_schema_privilege('authenticated', 'ai', 'usage'), 'authenticated has no USAGE on schema ai.');
select is_empty(
  $$select n.nspname || '.' || c.relname || ' ' || r.rolname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    cross join (values ('anon'), ('authenticated')) r(rolname)
    where n.nspname = 'ai' and c.relkind in ('r', 'p', 'v')
      and has_table_privilege(r.rolname, c.oid, 'select, insert, update, delete')$$,
  'anon and authenticated have no privilege on any table or view in ai.');
select ok(has_schema_privilege('service_role', 'ai', 'usage'), 'service_role (the workers) has USAGE on schema ai.');

select * from finish();
rollback;
