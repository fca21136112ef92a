-- What Supabase's advisors check (the lints of supabase/splinter behind the dashboard's Security and
-- Performance Advisor), as conditions over the catalog, so that a new function or extension that would bring
-- a warning back fails here: no function of ours with a mutable search_path (0011), no extension in public
-- (0014), no foreign key without an index (0001, INFO but cheap to keep), no SECURITY DEFINER function in public
-- that the API roles may call (0028/0029). And plpgsql_check, where it is installed: no errors in any PL/pgSQL
-- function or trigger of public and ai.
begin;
select plan(6);

select is_empty(
  $$select n.nspname || '.' || p.proname from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    left join pg_catalog.pg_depend d on d.objid = p.oid and d.deptype = 'e'
    where n.nspname in ('public', 'ai') and d.objid is null
      and not exists (select from unnest(coalesce(p.proconfig, '{}')) c where c like 'search_path=%')$$,
  'Every function in public and ai pins its search_path (splinter 0011 function_search_path_mutable).');
select is_empty(
  $$select extname from pg_catalog.pg_extension where extnamespace = 'public'::regnamespace and extname <> 'plpgsql'$$,
  'No extension is installed in public (splinter 0014 extension_in_public); pg_cron is in pg_catalog.');
select is((select extnamespace::regnamespace::text from pg_catalog.pg_extension where extname = 'pg_cron'), 'pg_catalog',
  'pg_cron lives in pg_catalog, as on hosted Supabase.');
select is_empty(
  $$select c.conrelid::regclass::text || ' ' || c.conname from pg_catalog.pg_constraint c
    join pg_catalog.pg_namespace n on n.oid = c.connamespace
    where c.contype = 'f' and n.nspname in ('public', 'ai')
      and not exists (select from pg_catalog.pg_index i
                      where i.indrelid = c.conrelid and (i.indkey::int2[])[0:cardinality(c.conkey) - 1] @> c.conkey)$$,
  'Every foreign key has an index (splinter 0001 unindexed_foreign_keys).');
select is_empty(
  $$select p.oid::regprocedure::text from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' and p.prosecdef
      and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute'))$$,
  'No SECURITY DEFINER function in public is callable by anon or authenticated (splinter 0028/0029).');

-- plpgsql_check (https://github.com/okbob/plpgsql_check; Debian: postgresql-15-plpgsql-check) is optional.
do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'plpgsql_check') then
    create extension if not exists plpgsql_check with schema extensions;
  end if;
end
$$;
select case when not exists (select from pg_catalog.pg_extension where extname = 'plpgsql_check')
  then skip('plpgsql_check is not installed on this server', 1)
  else is_empty($$
    select p.oid::regprocedure::text || ': ' || r.message
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    join pg_catalog.pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
    left join lateral (select t.tgrelid, t.tgoldtable, t.tgnewtable from pg_catalog.pg_trigger t
                       where t.tgfoid = p.oid limit 1) tg on true
    cross join lateral extensions.plpgsql_check_function_tb(p.oid, coalesce(tg.tgrelid, 0),
                                                 oldtable => tg.tgoldtable, newtable => tg.tgnewtable) r
    where n.nspname in ('public', 'ai') and r.level = 'error'
      and (p.prorettype <> 'trigger'::regtype or tg.tgrelid is not null)$$,
    'plpgsql_check finds no error in any PL/pgSQL function or trigger of public and ai.')
  end;

select * from finish();
rollback;
